"""Fixtures: data simulated from eq. 1–2 and fits of it (see ``ppc_eq2``)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ppc_eq2 import conditional_posterior, make_fit, simulate_eq2


@pytest.fixture(scope="session")
def eq2():
    """(paired, truth, heldout) simulated from eq. 1–2."""
    return simulate_eq2(1)


@pytest.fixture(scope="session")
def eq2_posterior_fit(eq2):
    """A fit with 200 draws of the exact conditional posterior (a well-fitted model)."""
    paired, truth, heldout = eq2
    params = conditional_posterior(2, paired, truth, heldout, num_draws=200)
    return make_fit(paired, params, heldout, method="vi")


@pytest.fixture(scope="session")
def eq2_truth_fit(eq2):
    """A point-estimate fit at the true parameters (its plug-in predictive is exact)."""
    paired, truth, heldout = eq2
    return make_fit(paired, truth, heldout, method="exact")
