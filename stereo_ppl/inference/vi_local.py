"""A guide for models with per-star latents: global autoguide plus a local Gaussian per star.

Used by :func:`~stereo_ppl.inference.vi.fit_vi` for a model's per-star form
(:class:`~stereo_ppl.models.LocalForm`, e.g. latent-z with ``marginal=False``).
The global sites get the same autoguide as every other ``vi`` fit
(``AutoNormal`` or ``AutoLowRankMultivariateNormal``), built on the model with
the per-star sites given, so it never sees them. Each per-star site (star,
k) gets a *local* guide: a mean and a scale per star and component,
``Normal(loc[i], scale[i])``, created inside the model's ``star`` plate, so
with ``subsample_size`` every step draws and updates only its minibatch's
rows (an unbiased ELBO; memory ``2 n k``).

Why local rather than amortised: given the global parameters the posterior
of each star's latent is Gaussian (exactly so for latent-z), so this family
holds its mean-field optimum for every star, and its ``2 n k`` numbers are
small beside the globals' ``k (P1 + P2)``; an affine map from a star's spectra
to its mean would need as many numbers as the globals and still could not
follow each star's own ``ivar``. Global and local parts are independent in
the guide (mean field between them); the model's reparametrisation (e.g.
latent-z's learned partial centring) keeps that cheap.
"""

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.distributions import constraints

from ..dims import STAR

__all__ = ["LocalLatentGuide", "local_param_names"]


def local_param_names(site: str) -> tuple[str, str]:
    """Names of the local guide's parameters of ``site``: ``(loc, scale)``."""
    return f"{site}_local_loc", f"{site}_local_scale"


def _given_at_prior_mean(sites):
    """``condition_fn`` that observes ``sites`` at their prior mean."""

    def condition_fn(msg):
        return msg["fn"].mean if msg["name"] in sites else None

    return condition_fn


class LocalLatentGuide:
    """Global autoguide times a diagonal Gaussian per star for each per-star site.

    Parameters
    ----------
    model : callable
        The per-star model (``model(apogee_flux, lamost_ivar, lamost_flux,
        *, subsample_size, **kwargs)``, options bound), whose per-star sites
        lie in the ``star`` plate (dim -2) and one more plate (dim -1).
    global_guide : callable
        ``global_guide(model) -> AutoGuide``, e.g. ``AutoNormal`` with its
        ``init_loc_fn`` bound; it is built on ``model`` with the per-star
        sites observed, so it guides the global sites only.
    site_dims : mapping of str to (str, str)
        Per-star site -> its plates, ``(star, other)``.
    start : dict of str to (loc, scale)
        Per-star site -> starting ``loc`` and ``scale`` (n, k) of every
        (training) star.
    derived : tuple of str
        Deterministic per-star sites of ``model`` that :meth:`sample_posterior`
        also returns (e.g. ``z``).
    """

    def __init__(self, model, global_guide, site_dims, start, derived=()):
        self.model = model
        self.sites = tuple(start)
        self.site_dims = {site: tuple(site_dims[site]) for site in self.sites}
        self.globals = global_guide(
            handlers.condition(model, condition_fn=_given_at_prior_mean(self.sites))
        )
        self.start = start
        self.derived = tuple(derived)

    def __call__(self, apogee_flux, *args, subsample_size=None, **kwargs):
        out = self.globals(apogee_flux, *args, subsample_size=subsample_size, **kwargs)
        num_stars = apogee_flux.shape[0]
        with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2):
            for site, (loc, scale) in self.start.items():
                loc_name, scale_name = local_param_names(site)
                with numpyro.plate(self.site_dims[site][1], loc.shape[-1], dim=-1):
                    loc = numpyro.param(loc_name, loc, event_dim=0)
                    scale = numpyro.param(
                        scale_name, scale, constraint=constraints.softplus_positive, event_dim=0
                    )
                    out[site] = numpyro.sample(site, dist.Normal(loc, scale))
        return out

    def step_scales(self):
        """Adam step of each local parameter: ``loc`` in units of its starting scale, the rest 1."""
        steps = {}
        for site, (_, scale) in self.start.items():
            loc_name, scale_name = local_param_names(site)
            steps[loc_name] = scale
            steps[scale_name] = np.ones((), np.asarray(scale).dtype)
        return steps

    def sample_posterior(self, rng_key, params, *args, sample_shape=(), **kwargs):
        """Draws of the global sites, the per-star sites and the ``derived`` sites.

        Returns
        -------
        dict
            Global sites (``sample_shape`` + their shape), per-star and
            derived sites (``sample_shape`` + (n, k)), every star.
        """
        kwargs = {k: v for k, v in kwargs.items() if k != "subsample_size"}
        key_global, key_local = jax.random.split(rng_key)
        draws = self.globals.sample_posterior(
            key_global, params, *args, sample_shape=sample_shape, **kwargs
        )
        draws = {k: v for k, v in draws.items() if k not in self.derived}
        for number, site in enumerate(self.sites):
            loc_name, scale_name = local_param_names(site)
            local = dist.Normal(params[loc_name], params[scale_name])
            draws[site] = local.sample(jax.random.fold_in(key_local, number), sample_shape)
        if self.derived:
            draws.update(self._derive(draws, params, args, kwargs, len(sample_shape)))
        return draws

    def _derive(self, draws, params, args, kwargs, num_sample_dims):
        """The ``derived`` sites of ``model`` for each joint draw."""

        def one(draw):
            values = {**params, **draw}  # the model's own parameters (e.g. a centring) too
            seeded = handlers.seed(handlers.substitute(self.model, data=values), rng_seed=0)
            trace = handlers.trace(seeded).get_trace(*args, **kwargs)
            return {name: trace[name]["value"] for name in self.derived}

        lead = np.shape(draws[self.sites[0]])[:num_sample_dims]
        flat = jax.tree.map(lambda v: v.reshape((-1, *v.shape[num_sample_dims:])), draws)
        out = jax.lax.map(one, flat)
        return jax.tree.map(lambda v: v.reshape((*lead, *v.shape[1:])), out)

    def median(self, params):
        """The global guide's median and every star's local ``loc``."""
        out = {k: v for k, v in self.globals.median(params).items() if k not in self.derived}
        for site in self.sites:
            out[site] = params[local_param_names(site)[0]]
        return out
