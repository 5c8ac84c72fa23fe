"""What a sweep fits: its configuration, its jobs and their PRNG keys.

A sweep fits one paired dataset once per ``(c, repeat)`` (and per fold with
K-fold cross-validation). Every fit of one sweep holds out the same stars
(chosen by the sweep's split key), so scores are comparable across ``c``;
repeats differ in their fit key and, by default, in their starting point.

Keys are derived from the sweep's ``rng_key`` by ``fold_in`` on the job's
``c``, repeat and fold, never from the order in which jobs run, so a resumed
or parallel sweep fits exactly what a serial one would.
"""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import jax
import numpy as np

from ..dims import FOLD, NUM_LATENT, REPEAT
from ..errors import FitConfigError

__all__ = [
    "FOLD",
    "INIT_CHOICES",
    "NUM_LATENT",
    "REPEAT",
    "Job",
    "SweepConfig",
    "fold_assignment",
    "job_key",
    "plan_jobs",
    "split_key",
]

#: Dimension names of sweep tables (one sweep axis each).

#: How repeats start (see :class:`SweepConfig`).
INIT_CHOICES = ("jitter", "random", "default")


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """Options shared by every fit of a sweep (everything but ``c`` and repeats).

    Attributes
    ----------
    method : str
        Fitting method of :func:`stereo_ppl.inference.fit` (``"exact"``,
        ``"map"``, ``"vi"``, ...).
    heldout_fraction : float
        Fraction of stars held out of every fit (ignored when ``num_folds``).
    num_folds : int or None
        K-fold cross-validation: every star is held out in exactly one of
        ``num_folds`` fits per ``(c, repeat)``.
    init : {"jitter", "random", "default"}
        Starting point of repeat ``r >= 1`` (repeat 0 always starts where the
        method starts by default): ``"jitter"`` the reduced-rank regression
        start plus Gaussian noise of relative size ``init_jitter``;
        ``"random"`` small random values (MAP); ``"default"`` the method's
        default (repeats then differ only in their PRNG key).
    init_jitter : float
        Standard deviation of the jitter relative to the RMS of each parameter.
    dtype : str
        ``"float32"`` or ``"float64"``: JAX's float dtype the sweep runs in.
    options : dict
        Keyword options of the method (``num_steps``, ``batch_size``, ...).
    model : str
        Model of :data:`stereo_ppl.models.MODELS` (default ``"base"``).
    model_options : dict
        Keyword options of the model function (``fit(model_options=...)``).
    """

    method: str
    heldout_fraction: float = 0.2
    num_folds: int | None = None
    init: str = "jitter"
    init_jitter: float = 0.3
    dtype: str = "float32"
    options: dict = field(default_factory=dict)
    model: str = "base"
    model_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.init not in INIT_CHOICES:
            raise FitConfigError(
                f"init must be one of {', '.join(INIT_CHOICES)}; got {self.init!r}"
            )
        if self.num_folds is not None and not 2 <= self.num_folds:
            raise FitConfigError(f"number of folds must be at least 2; got {self.num_folds}")
        if not 0.0 < self.heldout_fraction < 1.0 and self.num_folds is None:
            raise FitConfigError(
                f"a sweep needs held-out stars to score: holdout fraction must be in (0, 1); "
                f"got {self.heldout_fraction}"
            )
        if self.init_jitter < 0:
            raise FitConfigError(f"init jitter must be >= 0; got {self.init_jitter}")

    def to_json(self) -> str:
        """The configuration as canonical JSON (sorted keys), for manifests and attrs."""
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SweepConfig":
        """Inverse of ``json.loads(config.to_json())``."""
        return cls(**data)


@dataclass(frozen=True, order=True)
class Job:
    """One fit of a sweep.

    Attributes
    ----------
    num_latent : int
        ``c``.
    repeat : int
        Repeat index (0, 1, ...).
    fold : int or None
        Held-out fold with K-fold cross-validation, else None.
    """

    num_latent: int
    repeat: int
    fold: int | None = None

    @property
    def name(self) -> str:
        """File name of the fit, e.g. ``fit_c010_r0.nc`` or ``fit_c010_r0_f2.nc``."""
        fold = "" if self.fold is None else f"_f{self.fold}"
        return f"fit_c{self.num_latent:03d}_r{self.repeat}{fold}.nc"

    @property
    def label(self) -> str:
        """Short description for progress bars and messages."""
        fold = "" if self.fold is None else f" fold {self.fold}"
        return f"c={self.num_latent} repeat {self.repeat}{fold}"


def plan_jobs(num_latents, *, num_repeats: int, num_folds: int | None = None) -> list[Job]:
    """All jobs of a sweep, smallest ``c`` first.

    Parameters
    ----------
    num_latents : iterable of int
        The ``c`` values (duplicates are dropped).
    num_repeats : int
        Fits per ``c`` (and fold).
    num_folds : int, optional
        Number of folds of K-fold cross-validation.

    Returns
    -------
    list of Job
    """
    values = sorted({int(c) for c in num_latents})
    if not values or values[0] < 1:
        raise FitConfigError(f"c values must be positive integers; got {list(num_latents)}")
    if num_repeats < 1:
        raise FitConfigError(f"number of repeats must be at least 1; got {num_repeats}")
    folds = [None] if num_folds is None else list(range(num_folds))
    return [Job(c, r, f) for c in values for r in range(num_repeats) for f in folds]


def split_key(rng_key):
    """The key that chooses the held-out stars (or folds) of every fit of a sweep."""
    return jax.random.fold_in(rng_key, 0)


def job_key(rng_key, job: Job):
    """The PRNG key of one fit: depends on ``c``, the repeat and the fold only."""
    key = jax.random.fold_in(jax.random.fold_in(rng_key, 1), job.num_latent)
    key = jax.random.fold_in(key, job.repeat)
    return key if job.fold is None else jax.random.fold_in(key, 1000 + job.fold)


def fold_assignment(rng_key, num_stars: int, num_folds: int) -> np.ndarray:
    """Fold of each star for K-fold cross-validation.

    Parameters
    ----------
    rng_key : jax.Array
        The sweep's split key (:func:`split_key`).
    num_stars, num_folds : int

    Returns
    -------
    ndarray of int, shape (num_stars,)
        Values ``0 .. num_folds - 1``, fold sizes differing by at most one.
    """
    if num_folds > num_stars:
        raise FitConfigError(f"{num_folds} folds need at least as many stars; got {num_stars}")
    perm = np.asarray(jax.random.permutation(rng_key, num_stars))
    folds = np.empty(num_stars, dtype=np.int64)
    folds[perm] = np.arange(num_stars) % num_folds
    return folds
