"""Precision and recall of artefact flags against a known truth: per pixel and per event."""

import numpy as np

from .flags import ARTEFACT_CODES

__all__ = ["SNR_BINS", "event_scores", "flag_scores"]


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


#: S/N bins of :func:`event_scores` (survey-2 S/N per spectrum).
SNR_BINS = ((30.0, 100.0), (100.0, 250.0), (250.0, 800.0))


def _events(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """``(star, first, stop)`` of every run of consecutive True pixels."""
    out = []
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    edges = np.diff(padded, axis=1)
    for star, first in zip(*np.nonzero(edges == 1), strict=True):
        stop = first + int(np.argmax(edges[star, first:] == -1))
        out.append((int(star), int(first), int(stop)))
    return out


def _dilate(mask: np.ndarray, by: int) -> np.ndarray:
    out = mask.copy()
    for shift in range(1, by + 1):
        out[:, shift:] |= mask[:, :-shift]
        out[:, :-shift] |= mask[:, shift:]
    return out


def event_scores(
    predicted,
    truth,
    step_pixel,
    usable,
    *,
    run_share: float = 0.5,
    near: int = 2,
) -> dict[str, float]:
    """Event recall per artefact type and pixel precision, as the flag targets state them.

    * cosmic ray (truth code 1): recalled when any of its pixels is code 1;
    * step: a code-2 pixel within ±1 of the true jump pixel (``step_pixel``);
    * run (truth code 5): at least ``run_share`` of its pixels are code 5;
    * bad column (truth code 3) and other (4): share of their pixels with
      that code;
    * ``precision``: share of flagged pixels (any code) within ``near``
      pixels of a true artefact (any type); ``precision_<type>``: the same
      for the pixels of one code against true artefacts of that type.

    Parameters
    ----------
    predicted, truth : array of int, shape (n, m)
        :data:`~.flags.ARTEFACT_CODES` (the truth of the built-in and of the
        independent generator use the same numbers).
    step_pixel : array of int, shape (n,)
        True jump pixel, -1: none.
    usable : array of bool, shape (n, m)

    Returns
    -------
    dict of str to float
        ``recall_<type>``, ``num_<type>`` (events), ``precision``,
        ``precision_<type>``, ``num_flagged``; NaN where undefined.
    """
    predicted = np.where(usable, np.asarray(predicted), 0)
    truth = np.where(usable, np.asarray(truth), 0)
    step_pixel = np.asarray(step_pixel)
    out: dict[str, float] = {}
    for code, name in ((1, "cosmic_ray"), (5, "run")):
        events = _events(truth == code)
        hit = [
            np.mean(predicted[s, a:b] == code) >= run_share
            if code == 5
            else np.any(predicted[s, a:b] == code)
            for s, a, b in events
        ]
        out[f"recall_{name}"] = float(np.mean(hit)) if hit else float("nan")
        out[f"num_{name}"] = len(events)
    stars = np.flatnonzero(step_pixel >= 0)
    hit = [np.any(predicted[s, max(step_pixel[s] - 1, 0) : step_pixel[s] + 2] == 2) for s in stars]
    out["recall_step"] = float(np.mean(hit)) if hit else float("nan")
    out["num_step"] = len(stars)
    for code, name in ((3, "bad_column"), (4, "other")):
        true = truth == code
        out[f"recall_{name}"] = float(np.mean(predicted[true] == code)) if true.any() else np.nan
        out[f"num_{name}"] = int(true.sum())
    flagged = predicted != 0
    out["num_flagged"] = int(flagged.sum())
    near_any = _dilate(truth != 0, near)
    out["precision"] = float(np.mean(near_any[flagged])) if flagged.any() else float("nan")
    for code, name in ARTEFACT_CODES.items():
        if code == 0:
            continue
        mine = predicted == code
        close = _dilate(truth == code, near)
        out[f"precision_{name}"] = float(np.mean(close[mine])) if mine.any() else float("nan")
    return out
