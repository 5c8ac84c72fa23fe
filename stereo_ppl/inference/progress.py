"""A progress bar for long fits (rich), silent when disabled."""

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["progress_bar"]


class _Bar:
    def __init__(self, progress: Progress | None, task):
        self._progress, self._task = progress, task

    def update(self, advance: int, **scores: float) -> None:
        """Advance by ``advance`` steps and show the latest ``scores``."""
        if self._progress is None:
            return
        shown = "  ".join(f"{k} {v:.6g}" for k, v in scores.items() if v == v)
        self._progress.update(self._task, advance=advance, scores=shown)


@contextmanager
def progress_bar(total: int, *, enabled: bool, description: str):
    """Context manager yielding an object with ``update(advance, **scores)``.

    Parameters
    ----------
    total : int
        Number of steps.
    enabled : bool
        Draw the bar (to stderr); when False nothing is printed.
    description : str
        Text before the bar.
    """
    if not enabled:
        yield _Bar(None, None)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[scores]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total, scores="")
        yield _Bar(progress, task)
