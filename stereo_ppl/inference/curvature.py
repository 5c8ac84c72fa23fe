"""Diagonal curvature of a model's log joint, for starting VI's scales.

The base model's sites have exact closed forms
(:func:`~stereo_ppl.inference.laplace.decoder_precision_diag`); a model
variant's further sites are usually small (a few per label or latent), so
their diagonal is computed exactly by one Hessian-vector product per element.
"""

import jax
import jax.numpy as jnp
from numpyro.infer.util import potential_energy, unconstrain_fn

from ..errors import FitConfigError

__all__ = ["MAX_PROBED_ELEMENTS", "site_precision_diag"]

#: Largest number of elements of the sites :func:`site_precision_diag` probes.
MAX_PROBED_ELEMENTS = 4096


def site_precision_diag(model, model_args, model_kwargs, params, names, *, floor=1.0):
    """Diagonal of the potential energy's Hessian, in unconstrained space, for some sites.

    Parameters
    ----------
    model : callable
        A NumPyro model.
    model_args : tuple
        Its positional data.
    model_kwargs : dict
        Its keyword arguments.
    params : dict
        Values (constrained) of every latent site.
    names : sequence of str
        The sites to probe, at most :data:`MAX_PROBED_ELEMENTS` elements in all.
    floor : float
        Entries that are not positive (away from a mode) are replaced by this.

    Returns
    -------
    dict of str to jax.Array
        One array per name, of the site's unconstrained shape: the precision
        of a mean-field Gaussian there.
    """
    size = sum(int(jnp.size(params[name])) for name in names)
    if size > MAX_PROBED_ELEMENTS:
        raise FitConfigError(
            f"sites {', '.join(names)} have {size} elements; VI's starting scales probe "
            f"at most {MAX_PROBED_ELEMENTS}"
        )
    free = unconstrain_fn(model, model_args, model_kwargs, params)
    out = {}
    for name in names:
        value = free[name]

        def grad_site(x, name=name):
            energy = lambda y: potential_energy(  # noqa: E731
                model, model_args, model_kwargs, {**free, name: y}
            )
            return jax.grad(energy)(x)

        @jax.jit
        def element(i, value=value, grad_site=grad_site):
            probe = jnp.zeros(value.size, value.dtype).at[i].set(1.0).reshape(value.shape)
            return jax.jvp(grad_site, (value,), (probe,))[1].ravel()[i]

        diag = jax.lax.map(element, jnp.arange(value.size)).reshape(value.shape)
        out[name] = jnp.where(diag > 0, diag, floor).astype(value.dtype)
    return out
