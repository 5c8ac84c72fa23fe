"""``stereo-ppl compare``: the ELPD comparison of a sweep's ``c`` values, with figures."""

import math
from pathlib import Path
from typing import Annotated

import typer

from ..errors import StereoPPLError
from .app import app
from .common import console, error_console, parse_int_list
from .options import deprecated

__all__ = ["compare", "print_comparison"]

_COLUMNS = {
    "c": "c",
    "rank": "rank",
    "elpd": "elpd",
    "se": "se",
    "elpd_diff": "elpd diff",
    "dse": "dse",
    "p_worse": "p worse",
    "weight": "weight",
    "diag_diff": "diag diff",
    "diag_elpd": "diag elpd",
}


def print_comparison(comparison, *, chosen: int, rule: str) -> None:
    """Print an ArviZ comparison table (:func:`stereo_ppl.compare.compare_c`) and the choice."""
    from rich.table import Table

    score = comparison["score"].iloc[0]
    table = Table(title=f"comparison of c by ELPD ({score}; arviz_stats.compare)")
    columns = [
        k
        for k in _COLUMNS
        if k in comparison.columns
        and not (k.startswith("diag") and not comparison[k].astype(str).str.strip().any())
    ]
    for name in columns:
        table.add_column(_COLUMNS[name], justify="right")
    for _, row in comparison.iterrows():
        cells = []
        for name in columns:
            value = row[name]
            if isinstance(value, float):
                if math.isnan(value):
                    cells.append("")
                elif name in ("p_worse", "weight"):
                    cells.append(f"{value:.2g}")
                else:
                    cells.append(f"{value:.1f}" if abs(value) < 1e4 else f"{value:.0f}")
            else:
                cells.append(str(value))
        style = "bold green" if int(row["c"]) == chosen else None
        table.add_row(*cells, style=style)
    console.print(table)
    why = {
        "one_se": "the smallest c whose ELPD is within one dse of the best",
        "best": "the highest ELPD",
    }[rule]
    console.print(f"chosen c = {chosen} ({why})")


@app.command("compare")
def compare(
    sweep_dir: Annotated[Path, typer.Argument(help="Directory written by `stereo-ppl sweep`.")],
    score: Annotated[
        str, typer.Option("--score", help="auto, heldout, kfold or loo (fits with draws).")
    ] = "auto",
    repeat_choice: Annotated[
        str,
        typer.Option(
            "--repeat-choice",
            help="Which repeat scores each c: best (highest training log joint), mean (of the "
            "repeats' per-star scores), or the repeat numbered N.",
        ),
    ] = "best",
    repeat: Annotated[str | None, typer.Option("--repeat", hidden=True)] = None,
    rule: Annotated[
        str, typer.Option("--rule", help="How to choose c: one_se or best.")
    ] = "one_se",
    weights: Annotated[
        str, typer.Option("--weights", help="stacking, pseudo-BMA or BB-pseudo-BMA.")
    ] = "stacking",
    log_joint_c: Annotated[
        str | None,
        typer.Option(
            "--log-joint-c", help="c values whose log joint per step is plotted (default: chosen)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The comparison table (CSV; default SWEEP_DIR/compare.csv); the figures go "
            "beside it as NAME_score_vs_c.png and NAME_log_joint.png.",
        ),
    ] = None,
) -> None:
    """Compare the c values of a sweep; write the table (csv) and the figures (png)."""
    from ..compare import choose_c, compare_c
    from ..io import atomic_write, load_fit
    from ..plots import plot_log_joint, plot_score_vs_c
    from ..sweep import collect_sweep, sweep_fits

    if repeat is not None:
        deprecated("compare --repeat", "--repeat-choice")
        repeat_choice = repeat
    if out is not None and out.suffix.lower() != ".csv":
        deprecated("compare --out PREFIX", f"--out {out}.csv (the table; figures beside it)")
        out = out.with_name(out.name + ".csv")
    table_path = out or sweep_dir / "compare.csv"
    prefix = table_path.with_suffix("")
    table = collect_sweep(
        sweep_dir, log=lambda line: error_console.print(line, highlight=False, soft_wrap=True)
    )
    which = _repeat_choice(repeat_choice)
    comparison = compare_c(table, score=score, repeat=which, method=weights)
    chosen = choose_c(comparison, rule=rule)
    print_comparison(comparison, chosen=chosen, rule=rule)

    written = [atomic_write(table_path, lambda tmp: comparison.to_csv(tmp))]
    fig = plot_score_vs_c(table, comparison, chosen=chosen)
    written.append(_save_png(fig, f"{prefix}_score_vs_c.png", atomic_write))
    chosen_cs = parse_int_list(log_joint_c, what="--log-joint-c") if log_joint_c else [chosen]
    fits = [load_fit(path, paired=False) for c in chosen_cs for path in sweep_fits(sweep_dir, c)]
    fits = [tree for tree in fits if "log_joint" in tree.children]
    if fits:
        fig = plot_log_joint(fits)
        labels = [f"c = {t.attrs['num_latent']}, repeat {t.attrs.get('repeat', 0)}" for t in fits]
        for ax in fig.axes:
            ax.legend(labels)
        written.append(_save_png(fig, f"{prefix}_log_joint.png", atomic_write))
    console.print("wrote " + ", ".join(str(p) for p in written))


def _repeat_choice(text: str) -> str | int:
    if text in ("best", "mean"):
        return text
    if text.isdigit():
        return int(text)
    raise StereoPPLError(f"--repeat-choice must be best, mean or a repeat number; got {text!r}")


def _save_png(fig, path, atomic_write):
    import matplotlib.pyplot as plt

    saved = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return saved
