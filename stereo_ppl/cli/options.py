"""Options shared by commands: fitting-method options, workers, deprecated spellings.

Method options come from one table, the library's (:func:`method_option_names`):
every command that fits (``fit``, ``sweep``) takes them as flags (``--steps``,
``--max-iter``, ...) and as ``--option NAME=VALUE``, and rejects an option
the method has no use for before reading any data.
"""

from typing import Annotated

import typer

from ..errors import StereoPPLError
from .common import error_console, parse_name_values

__all__ = [
    "BFPriorMean",
    "EvalEvery",
    "Guide",
    "LearningRate",
    "MapSteps",
    "MaxIter",
    "MethodOption",
    "Noise",
    "NumParticles",
    "NumSamples",
    "Patience",
    "Prior",
    "Rank",
    "Steps",
    "Workers",
    "deprecated",
    "method_option_names",
    "method_options",
    "parse_workers",
]

Steps = Annotated[
    int | None, typer.Option("--steps", help="SVI steps (map: 20000, vi: 1000 by default).")
]
LearningRate = Annotated[
    float | None,
    typer.Option("--learning-rate", help="Step size (map: AdamW 1e-3; vi: 0.05 posterior sd)."),
]
EvalEvery = Annotated[int | None, typer.Option("--eval-every", help="SVI steps between records.")]
MaxIter = Annotated[
    int | None, typer.Option("--max-iter", help="Exact solver: largest number of iterations.")
]
Patience = Annotated[
    int | None,
    typer.Option(
        "--patience",
        help="Stop when the held-out log joint has not improved for N records (map: 20) "
        "or iterations (exact, laplace, vi's MAP stage: off) and keep the best.",
    ),
]
MapSteps = Annotated[
    int | None,
    typer.Option(
        "--map-steps", help="vi of a model other than base: AdamW steps of its MAP stage."
    ),
]
NumSamples = Annotated[
    int | None,
    typer.Option(
        "--num-samples", help="Posterior draws (laplace, vi; 100, fewer at very large c)."
    ),
]
Guide = Annotated[
    str | None, typer.Option("--guide", help="VI family: normal (default) or lowrank.")
]
Rank = Annotated[int | None, typer.Option("--rank", help="Rank of the low-rank VI guide (10).")]
NumParticles = Annotated[
    int | None, typer.Option("--num-particles", help="ELBO samples per VI step (1).")
]
BFPriorMean = Annotated[
    float | None,
    typer.Option("--b-f-prior-mean", help="Prior mean of b_F (1: flux near 1)."),
]
Noise = Annotated[
    str | None,
    typer.Option(
        "--noise",
        help="Eq. 2's noise: calibrated (default: error scale and per-pixel scatter learned) "
        "or reported (1/sqrt(ivar), the seed study's).",
    ),
]
Prior = Annotated[
    str | None,
    typer.Option(
        "--prior",
        help="Prior scale of beta_z, beta_F: learned (default) or unit (the seed study's).",
    ),
]
MethodOption = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        help="Any option NAME=VALUE of the method, repeatable (e.g. --option tol=1e-4); "
        "the flags above are the common ones.",
    ),
]
Workers = Annotated[
    str,
    typer.Option(
        "--workers", help="Worker processes (a number) or a dask scheduler address (host:port)."
    ),
]

#: Options of :func:`stereo_ppl.inference.fit` for every method.
_COMMON = ("noise", "prior", "b_F_prior_mean")
#: Flag of each option with one (others are given as --option NAME=VALUE).
_FLAGS = {
    "num_steps": "--steps",
    "batch_size": "--batch-size",
    "learning_rate": "--learning-rate",
    "eval_every": "--eval-every",
    "max_iter": "--max-iter",
    "patience": "--patience",
    "map_steps": "--map-steps",
    "num_samples": "--num-samples",
    "guide": "--guide",
    "rank": "--rank",
    "num_particles": "--num-particles",
    "b_F_prior_mean": "--b-f-prior-mean",
    "noise": "--noise",
    "prior": "--prior",
}


def method_option_names(method: str, *, base: bool = True) -> tuple[str, ...]:
    """The keyword options :func:`stereo_ppl.inference.fit` takes for ``method``.

    ``base=False`` (a model other than the base model) adds the options of
    ``vi``'s AdamW MAP stage (``map_steps``, ``map_learning_rate``).

    Read from the library's table (``stereo_ppl.inference.methods``), so the
    command line accepts exactly what the library does. Empty for an unknown
    method (``fit`` names the known ones).
    """
    from ..inference.methods import METHOD_OPTIONS as table

    if method not in table:
        return ()
    stage = ("map_steps", "map_learning_rate") if method == "vi" and not base else ()
    return tuple(dict.fromkeys((*table[method], *stage, *_COMMON)))


def method_options(method: str, items: list[str] | None, *, base: bool = True, **flags) -> dict:
    """The method options of a command: its flags and its ``--option NAME=VALUE`` items.

    Parameters
    ----------
    method : str
        The fitting method.
    items : list of str, optional
        ``--option`` values.
    base : bool
        Whether the model is the base model (see :func:`method_option_names`).
    **flags
        Options given as flags, by their library names (None: not given).

    Returns
    -------
    dict
        Keyword options for :func:`stereo_ppl.inference.fit`.

    Raises
    ------
    StereoPPLError
        An option the method has no use for (named as the user spelled it), or
        one given both as a flag and as ``--option``.
    """
    given = {name: value for name, value in flags.items() if value is not None}
    extra = parse_name_values(items or [], flag="--option")
    both = sorted(set(given) & set(extra))
    if both:
        raise StereoPPLError(f"{_FLAGS[both[0]]} and --option {both[0]}=... both given")
    options = {**given, **extra}
    allowed = method_option_names(method, base=base)
    if not allowed:
        return options  # an unknown method: fit() names the known ones
    unused = [
        _FLAGS[name] if name in given else f"--option {name}"
        for name in options
        if name not in allowed
    ]
    if unused:
        raise StereoPPLError(
            f"{', '.join(unused)} does not apply to --method {method} "
            f"(its options: {', '.join(allowed)})"
        )
    return options


def parse_workers(text: str, *, local_only: bool = False) -> int | str:
    """``"4"`` -> 4 worker processes; ``"tcp://host:8786"`` -> a dask scheduler address.

    With ``local_only`` (work that runs in local processes only) an address is an error.
    """
    text = str(text).strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    is_address = "://" in text or (":" in text and text.rsplit(":", 1)[1].isdigit())
    if is_address and not local_only:
        return text
    what = "a number of processes" + ("" if local_only else " or a dask scheduler address")
    raise StereoPPLError(f"--workers must be {what}; got {text!r}")


def deprecated(old: str, new: str) -> None:
    """Say on stderr (one line) that the spelling ``old`` is deprecated in favour of ``new``."""
    error_console.print(
        f"DeprecationWarning: {old} is deprecated and will be removed in the next release; "
        f"use {new}",
        style="yellow",
        highlight=False,
    )
