"""A :class:`~.core.DenoiseSetup` as NumPy arrays, to ship to worker processes and back."""

import json

import jax.numpy as jnp
import numpy as np

from .core import DenoiseSetup
from .linalg import Decoder, pair_products
from .runs import RUN_WIDTHS

__all__ = ["setup_arrays", "setup_from_arrays"]


def setup_arrays(setup: DenoiseSetup) -> dict:
    """The setup as a dict of NumPy arrays, to ship to worker processes.

    The decoder's pair products (up to hundreds of MB) are left out: only
    whether they are used travels, and :func:`setup_from_arrays` recomputes
    them from ``beta_F``.

    Parameters
    ----------
    setup : DenoiseSetup

    Returns
    -------
    dict of str to ndarray
    """
    out = {
        f"decoder.{k}": np.asarray(v) for k, v in setup.decoder._asdict().items() if k != "pairs"
    }
    out["decoder.packed"] = np.asarray(setup.decoder.packed)
    m = setup.decoder.b_F.shape[0]
    run_scatter = setup.run_scatter
    out.update(
        scatter=np.asarray(setup.scatter),
        bad_column=np.asarray(setup.bad_column),
        sky=np.asarray(setup.sky),
        step_range=np.asarray(setup.step_range),
        error_scale=np.asarray(float(setup.error_scale)),
        run_scatter=np.zeros((len(RUN_WIDTHS), m))
        if run_scatter is None
        else np.asarray(run_scatter),
        step_scatter=np.zeros(m) if setup.step_scatter is None else np.asarray(setup.step_scatter),
        glitch_scatter=np.zeros(m)
        if setup.glitch_scatter is None
        else np.asarray(setup.glitch_scatter),
        num_continuum=np.asarray(int(setup.num_continuum)),
        info=np.asarray(json.dumps(list(setup.info))),
    )
    return out


def _optional(arrays: dict, name: str):
    """``arrays[name]`` as a JAX array; None where arrays of an older version lack it."""
    return jnp.asarray(arrays[name]) if name in arrays else None


def setup_from_arrays(arrays: dict) -> DenoiseSetup:
    """The :class:`DenoiseSetup` from :func:`setup_arrays`, in the process that denoises.

    Parameters
    ----------
    arrays : dict of str to ndarray

    Returns
    -------
    DenoiseSetup
    """
    fields = {k: arrays[f"decoder.{k}"] for k in Decoder._fields if k != "pairs"}
    beta = fields["beta_F"]
    packed = bool(arrays["decoder.packed"])
    fields["pairs"] = pair_products(beta) if packed else np.zeros((beta.shape[0], 0))
    decoder = Decoder(**{k: jnp.asarray(v, dtype=beta.dtype) for k, v in fields.items()})
    return DenoiseSetup(
        decoder,
        jnp.asarray(arrays["scatter"]),
        jnp.asarray(arrays["bad_column"]),
        jnp.asarray(arrays["sky"]),
        tuple(int(v) for v in arrays["step_range"]),
        error_scale=float(arrays["error_scale"]),
        run_scatter=jnp.asarray(arrays["run_scatter"]),
        step_scatter=jnp.asarray(arrays["step_scatter"]),
        num_continuum=int(arrays["num_continuum"]),
        info=tuple(tuple(item) for item in json.loads(str(arrays["info"]))),
        glitch_scatter=_optional(arrays, "glitch_scatter"),
    )
