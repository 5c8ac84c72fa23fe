"""Test helpers shared by the test modules."""

import jax.numpy as jnp
import numpy as np

__all__ = ["assert_allclose", "default_float"]


def default_float():
    """JAX's default float dtype now: float64 under ``JAX_ENABLE_X64=1``, else float32."""
    return jnp.zeros(()).dtype


def assert_allclose(actual, desired, *, rtol=None, atol=None, err_msg=""):
    """``numpy.testing.assert_allclose`` with tolerances set by the arrays' dtype.

    Tolerances default to 1e-5 relative for float32 and 1e-10 for float64,
    taken from the lower-precision of the two arguments.
    """
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    dtypes = [a.dtype for a in (actual, desired) if np.issubdtype(a.dtype, np.floating)]
    low = min((np.finfo(d).eps for d in dtypes), default=np.finfo(np.float64).eps)
    is32 = low > np.finfo(np.float64).eps
    rtol = (1e-5 if is32 else 1e-10) if rtol is None else rtol
    atol = (1e-6 if is32 else 1e-12) if atol is None else atol
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=err_msg)
