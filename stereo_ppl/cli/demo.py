"""``stereo-ppl demo``: the whole path once, on the built-in dataset."""

import csv
from pathlib import Path

from .common import console, print_summary

__all__ = ["run_demo"]


def run_demo(
    out: Path,
    *,
    num_stars: int,
    num_latents: list[int],
    seed: int,
    num_steps: int,
    batch_size: int | None,
    heldout_fraction: float,
) -> list[dict]:
    """Make the built-in survey, fit each ``c``, and write everything to ``out``.

    Writes ``PAIRED.nc`` (the paired dataset), ``TRUTH.nc`` (its truth),
    ``fit_cNNN.nc`` per ``c`` (each as soon as it finishes), ``log_joint.png``
    (the seed's Fig. 1) and ``summary.csv``.

    Returns
    -------
    list of dict
        One :func:`~stereo_ppl.compare.fit_summary` row per ``c``.
    """
    import jax

    from ..compare import fit_summary
    from ..datasets import make_builtin
    from ..inference import fit
    from ..io import atomic_write, save_dataset, save_fit, save_paired
    from ..plots import plot_log_joint

    out.mkdir(parents=True, exist_ok=True)
    with console.status(f"making the built-in dataset ({num_stars} stars)"):
        survey = make_builtin(seed, num_stars=num_stars)
        save_paired(survey.paired, out / "PAIRED.nc")
        save_dataset(survey.truth, out / "TRUTH.nc")
    console.print(f"wrote {out / 'PAIRED.nc'} and {out / 'TRUTH.nc'}")

    key = jax.random.key(seed)  # the same key for every c: the same held-out stars
    trees, rows = [], []
    for c in num_latents:
        tree = fit(
            key,
            survey.paired,
            num_latent=c,
            method="map",
            seed=seed,
            heldout_fraction=heldout_fraction,
            num_steps=num_steps,
            batch_size=batch_size,
            progress=True,
        )
        path = save_fit(tree, out / f"fit_c{c:03d}.nc")
        console.print(f"wrote {path}")
        trees.append(tree)
        rows.append(fit_summary(tree))

    fig = plot_log_joint(trees)
    atomic_write(out / "log_joint.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))

    def write_csv(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(out / "summary.csv", write_csv)
    print_summary(rows)
    console.print(f"wrote {out / 'log_joint.png'} and {out / 'summary.csv'}")
    return rows
