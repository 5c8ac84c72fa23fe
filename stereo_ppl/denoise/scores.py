"""Per-pixel precision and recall of artefact flags against a known truth."""

import numpy as np

from .flags import ARTEFACT_CODES

__all__ = ["flag_scores"]


def flag_scores(predicted, truth, usable) -> dict[str, dict[str, float]]:
    """Precision and recall of each artefact code, per pixel.

    Parameters
    ----------
    predicted, truth : array of int, shape (n, m)
        Codes of :data:`~.flags.ARTEFACT_CODES` (the built-in truth uses the
        same numbers).
    usable : array of bool, shape (n, m)
        Pixels scored (``ivar > 0``).

    Returns
    -------
    dict
        For each code name but ``none``: ``precision``, ``recall`` (NaN when
        undefined), ``flagged`` and ``true`` pixel counts.
    """
    predicted = np.asarray(predicted)
    truth = np.asarray(truth)
    usable = np.asarray(usable, dtype=bool)
    out = {}
    for code, name in ARTEFACT_CODES.items():
        if code == 0:
            continue
        flagged = (predicted == code) & usable
        true = (truth == code) & usable
        hit = int(np.sum(flagged & true))
        num_flagged, num_true = int(flagged.sum()), int(true.sum())
        out[name] = {
            "precision": hit / num_flagged if num_flagged else float("nan"),
            "recall": hit / num_true if num_true else float("nan"),
            "flagged": num_flagged,
            "true": num_true,
        }
    return out
