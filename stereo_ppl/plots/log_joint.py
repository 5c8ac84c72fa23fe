"""The log joint per optimisation step (the seed study's Fig. 1).

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

from collections.abc import Sequence

import xarray as xr

__all__ = ["plot_log_joint"]


def plot_log_joint(fits: Sequence[xr.DataTree], *, per_star: bool = True):
    """Plot minus the training and held-out log joint against step, one line per fit.

    The y axis is symmetric-logarithmic (minus the log joint of high-S/N
    spectra spans orders of magnitude during a fit); lower is better.

    Parameters
    ----------
    fits : sequence of xarray.DataTree
        Fits with a ``log_joint`` group (e.g. one per ``c``).
    per_star : bool
        Divide each curve by its number of stars, so training and held-out
        curves share a scale.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, training (left) and held out (right).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True, layout="constrained")
    for tree in fits:
        trace = tree["log_joint"]
        num_heldout = int(tree.attrs["num_heldout"])
        counts = {
            "train": tree["constant_data"].sizes["star"] - num_heldout,
            "heldout": num_heldout,
        }
        for ax, name in zip(axes, ("train", "heldout"), strict=True):
            values = trace[name].values
            if per_star and counts[name]:
                values = values / counts[name]
            label = f"c = {int(tree.attrs['num_latent'])}"
            ax.plot(trace["step"].values, -values, marker=".", label=label)
    unit = " per star" if per_star else ""
    for ax, title in zip(axes, ("training stars", "held-out stars"), strict=True):
        ax.set(title=title, xlabel="optimisation step", ylabel=f"−log joint{unit}")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.legend()
    return fig
