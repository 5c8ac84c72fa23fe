"""The manifest of a sweep directory, its lock, and file fingerprints.

``DIR/manifest.json`` records what the sweep is (configuration, paired file,
key) and every fit it has finished (file name, SHA-256, seconds, headline
scores). It is rewritten atomically (temporary file + ``os.replace``) after
each fit, so it is always the complete old or the complete new version.
The fit files themselves are the truth: a fit finished just before a kill but
missing from the manifest is recognised by its attributes and adopted, and a
file whose checksum no longer matches is re-read and, if unreadable, refitted.
"""

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import StereoPPLError
from ..io import atomic_write
from .plan import Job

__all__ = [
    "MANIFEST_NAME",
    "SWEEP_KIND",
    "Manifest",
    "SweepDirError",
    "file_sha256",
    "remove_stale_temporaries",
    "sweep_lock",
]

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".sweep.lock"
#: ``kind`` of a sweep manifest and root attribute ``sweep_kind`` of its fits.
SWEEP_KIND = "stereo_ppl.sweep"
_FORMAT = 1


class SweepDirError(StereoPPLError):
    """A sweep directory cannot be used (another sweep, other settings, bad manifest)."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def sweep_lock(out_dir: Path):
    """Hold an exclusive lock on ``out_dir`` (released on exit, even on SIGKILL).

    Raises
    ------
    SweepDirError
        If another process holds the lock (a sweep is running there).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepDirError(f"{out_dir}: another sweep is running in this directory") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Delete temporary files an interrupted write left (``.NAME.*.tmp``).

    Only call while holding :func:`sweep_lock`. Returns the deleted paths.
    """
    stale = sorted(out_dir.glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class Manifest:
    """The record of a sweep directory.

    Parameters
    ----------
    out_dir : pathlib.Path
        The sweep directory.
    identity : dict
        What must match for a rerun to continue this sweep: ``sweep_id``,
        ``config``, ``paired`` (path, sha256, num_stars), ``seed``, ``key_data``.
    fits : dict, optional
        File name to record (see :meth:`record`).
    """

    def __init__(self, out_dir: Path, identity: dict[str, Any], fits: dict | None = None):
        self.out_dir = Path(out_dir)
        self.identity = identity
        self.fits: dict[str, dict[str, Any]] = dict(fits or {})
        #: Why an existing manifest could not be used (None when it could).
        self.problem: str | None = None

    @property
    def path(self) -> Path:
        return self.out_dir / MANIFEST_NAME

    @classmethod
    def open(cls, out_dir: Path, identity: dict[str, Any]) -> "Manifest":
        """Read ``DIR/manifest.json`` or start a new one; check it is the same sweep.

        An unreadable manifest is replaced by an empty one (every fit file is
        then re-checked); :attr:`problem` says why.

        Raises
        ------
        SweepDirError
            If the manifest belongs to a sweep with another configuration,
            paired file or key.
        """
        path = Path(out_dir) / MANIFEST_NAME
        if not path.exists():
            return cls(out_dir, identity)
        try:
            data = json.loads(path.read_text())
            old, fits = data["identity"], data["fits"]
        except (ValueError, KeyError, TypeError) as exc:
            fresh = cls(out_dir, identity)
            fresh.problem = f"{path}: unreadable ({exc}); checking every fit file again"
            return fresh
        if old.get("sweep_id") != identity["sweep_id"]:
            raise SweepDirError(f"{out_dir}: {_difference(old, identity)}; use another --out-dir")
        return cls(out_dir, identity, fits)

    @classmethod
    def read(cls, out_dir: Path) -> "Manifest":
        """Read the manifest of an existing sweep directory.

        Raises
        ------
        SweepDirError
            If ``out_dir`` has no readable manifest.
        """
        path = Path(out_dir) / MANIFEST_NAME
        if not path.exists():
            raise SweepDirError(f"{out_dir}: not a sweep directory (no {MANIFEST_NAME})")
        try:
            data = json.loads(path.read_text())
            return cls(out_dir, data["identity"], data["fits"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SweepDirError(f"{path}: unreadable ({exc})") from exc

    def record(self, job: Job, **entry: Any) -> None:
        """Store the record of ``job`` (status, sha256, seconds, scores...)."""
        self.fits[job.name] = {
            "num_latent": job.num_latent,
            "repeat": job.repeat,
            "fold": job.fold,
            **entry,
        }

    def forget(self, job: Job) -> None:
        """Drop the record of ``job`` (its file is missing or bad)."""
        self.fits.pop(job.name, None)

    def save(self) -> Path:
        """Write the manifest atomically."""
        data = {
            "kind": SWEEP_KIND,
            "format": _FORMAT,
            "stereo_ppl_version": __version__,
            "identity": self.identity,
            "fits": dict(sorted(self.fits.items())),
        }
        text = json.dumps(data, indent=1, sort_keys=False, default=_jsonable)
        return atomic_write(self.path, lambda tmp: Path(tmp).write_text(text + "\n"))

    def done(self) -> dict[str, dict[str, Any]]:
        """Records of finished fits, by file name."""
        return {name: rec for name, rec in self.fits.items() if rec.get("status") == "done"}


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _difference(old: dict, new: dict) -> str:
    """Say how an existing sweep differs from the one asked for."""
    if old.get("paired", {}).get("sha256") != new["paired"]["sha256"]:
        return (
            f"it holds a sweep of another paired file ({old.get('paired', {}).get('path')}, "
            "different contents)"
        )
    if old.get("config") != new["config"]:
        keys = sorted(
            k
            for k in set(old.get("config", {})) | set(new["config"])
            if old.get("config", {}).get(k) != new["config"].get(k)
        )
        return f"it holds a sweep with other settings ({', '.join(keys)} differ)"
    if old.get("key_data") != new["key_data"]:
        return f"it holds a sweep with another seed ({old.get('seed')}, not {new.get('seed')})"
    return "it holds a different sweep"
