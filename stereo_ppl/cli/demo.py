"""``stereo-ppl demo``: the whole path once, on the built-in dataset."""

import csv
from pathlib import Path

from .common import console, print_summary

__all__ = ["run_demo"]


#: The demo's cuts: the seed study's, except the LAMOST S/N threshold, lowered
#: from 300 because the built-in LAMOST S/N is drawn around 250.
DEMO_MIN_LAMOST_SNR = 100.0


def run_demo(
    out: Path,
    *,
    num_stars: int,
    num_latents: list[int],
    seed: int,
    method: str = "exact",
    options: dict | None = None,
    heldout_fraction: float,
    num_workers: int | None = None,
    pair: str = "apogee-lamost",
) -> list[dict]:
    """Make the built-in survey, write it as survey files, prepare, fit each ``c``.

    The survey is written to ``out/files/`` as aspcapStar files, LAMOST
    DR4-layout files and a joint catalogue (with a few rows that must be
    dropped, :data:`stereo_ppl.datasets.files.FAILING_ROWS`), and read back
    through the ``prepare`` pipeline with the seed study's cuts (LAMOST
    ``snrz > 100``, see :data:`DEMO_MIN_LAMOST_SNR`), so the demo runs the
    real path. Writes ``PAIRED.nc`` (the prepared paired dataset), ``TRUTH.nc``
    (the truth of the prepared stars, in the same order:
    :func:`stereo_ppl.datasets.files.prepared_truth`), ``fit_cNNN.nc`` per
    ``c`` (each as soon as it finishes; each refers to ``PAIRED.nc`` instead
    of holding a copy), ``log_joint.png`` (the seed's Fig. 1) and ``summary.csv``.

    Another ``pair`` (``"galah-lamost"``, ``"apogee-galah"``:
    :func:`stereo_ppl.datasets.make_builtin_pair`) skips the files and
    ``prepare`` (which reads APOGEE and LAMOST files) and fits the built-in
    pair as generated; ``PAIRED.nc``, ``TRUTH.nc`` and the rest are written
    the same way.

    Parameters
    ----------
    method : str
        Fitting method (see :func:`stereo_ppl.inference.fit`).
    options : dict, optional
        Options of the method (e.g. ``num_steps``, ``batch_size`` for ``map``).
    num_workers : int, optional
        Processes reading the files (default: CPU cores, at most 8).
    pair : str
        ``"survey1-survey2"``, one of :data:`stereo_ppl.datasets.PAIRS`.

    Returns
    -------
    list of dict
        One :func:`~stereo_ppl.compare.fit_summary` row per ``c``.
    """
    import os

    import jax

    from ..compare import fit_summary
    from ..datasets import PAIRS, make_builtin, make_builtin_pair
    from ..datasets.files import prepared_truth, write_builtin_files
    from ..errors import StereoPPLError
    from ..inference import fit
    from ..io import atomic_write, load_paired, save_dataset, save_fit, save_paired
    from ..plots import plot_log_joint
    from ..prepare import Cuts, prepare_paired
    from .prepare_cmd import print_prepare_summary

    if pair not in PAIRS:
        raise StereoPPLError(f"--pair {pair}: choose one of {', '.join(PAIRS)}")
    out.mkdir(parents=True, exist_ok=True)
    if pair != PAIRS[0]:
        survey1, survey2 = pair.split("-")
        with console.status(f"making the built-in {pair} pair ({num_stars} stars)"):
            survey = make_builtin_pair(seed, survey1=survey1, survey2=survey2, num_stars=num_stars)
        paired = survey.paired
        save_paired(paired, out / "PAIRED.nc")
        save_dataset(survey.truth, out / "TRUTH.nc")
        console.print(f"wrote {out / 'PAIRED.nc'} and {out / 'TRUTH.nc'} (no survey files)")
    else:
        with console.status(f"making the built-in dataset ({num_stars} stars) and its files"):
            survey = make_builtin(seed, num_stars=num_stars)
            files = write_builtin_files(survey, out / "files")
        console.print(
            f"wrote {files.num_stars} stars and {files.num_failing} rows to be dropped "
            f"to {out / 'files'}"
        )
        result = prepare_paired(
            catalogue=files.catalogue,
            apogee_dir=files.apogee_dir,
            lamost_dir=files.lamost_dir,
            cuts=Cuts(min_lamost_snr=DEMO_MIN_LAMOST_SNR),
            num_workers=num_workers or min(os.cpu_count() or 1, 8),
            progress=True,
            report=lambda rejection: None,  # expected ones; listed in the summary below
        )
        paired = result.paired.assign_attrs(seed=seed)
        save_paired(paired, out / "PAIRED.nc")
        save_dataset(prepared_truth(survey, paired), out / "TRUTH.nc")
        print_prepare_summary(result)
        console.print(f"wrote {out / 'PAIRED.nc'} and {out / 'TRUTH.nc'}")

    paired = load_paired(out / "PAIRED.nc")  # fits of the file refer to it
    key = jax.random.key(seed)  # the same key for every c: the same held-out stars
    trees, rows = [], []
    for c in num_latents:
        tree = fit(
            key,
            paired,
            num_latent=c,
            method=method,
            seed=seed,
            heldout_fraction=heldout_fraction,
            progress=True,
            **dict(options or {}),
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
