"""Write the intersphinx inventories that cannot be copied from a built documentation.

The docs build runs without network (CI reaches package registries only), so every
inventory ships in this folder; see README.md here for where each one comes from.
This script writes those generated from the installed packages and their documented URL
patterns: ``numpy``, ``xarray``, ``jax``, ``arviz_base`` and, given a checkout of
NumPyro's sources (``--numpyro-docs numpyro/docs/source``), ``numpyro``.

    .venv/bin/python docs/_intersphinx/make_inventories.py [--numpyro-docs DIR]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def role(obj) -> str:
    if inspect.isclass(obj):
        return "py:exception" if issubclass(obj, BaseException) else "py:class"
    if inspect.ismodule(obj):
        return "py:module"
    if callable(obj):
        return "py:function"
    return "py:data"


def write_inventory(path: Path, project: str, version: str, entries: dict[str, tuple]) -> None:
    """``entries``: {name: (role, uri)}; ``$`` in a uri stands for the name."""
    lines = [
        f"{name} {kind} {-1 if kind == 'std:label' else 1} {uri} -"
        for name, (kind, uri) in sorted(entries.items())
        if " " not in name
    ]
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    ).encode()
    path.write_bytes(header + zlib.compress(("\n".join(lines) + "\n").encode()))
    print(f"{path.name}: {len(lines)} objects")


def public(module, names=None):
    names = names if names is not None else getattr(module, "__all__", None) or dir(module)
    for name in names:
        if name.startswith("_"):
            continue
        try:
            yield name, getattr(module, name)
        except AttributeError:
            continue


def pattern_inventory(module_names, page, methods_of=()):
    """Every public object of the modules at ``page.format(name=full_name)``."""
    entries = {}
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for name, obj in public(module):
            full = f"{module_name}.{name}"
            if inspect.ismodule(obj):
                continue
            entries[full] = (role(obj), page.format(name=full) + "#$")
    for class_path in methods_of:
        module_name, _, class_name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        for name, member in inspect.getmembers(cls):
            if name.startswith("_"):
                continue
            full = f"{class_path}.{name}"
            kind = "py:method" if callable(member) else "py:attribute"
            entries[full] = (kind, page.format(name=full) + "#$")
    return entries


def numpy_inventory():
    import numpy

    entries = pattern_inventory(
        ["numpy", "numpy.linalg", "numpy.random", "numpy.fft"],
        "reference/generated/{name}.html",
        methods_of=["numpy.ndarray", "numpy.random.Generator"],
    )
    entries["numpy.typing.ArrayLike"] = ("py:data", "reference/typing.html#numpy.typing.ArrayLike")
    entries["numpy.typing.NDArray"] = ("py:data", "reference/typing.html#numpy.typing.NDArray")
    entries["numpy.nan"] = ("py:data", "reference/constants.html#numpy.nan")
    entries["numpy.inf"] = ("py:data", "reference/constants.html#numpy.inf")
    entries["numpy.newaxis"] = ("py:data", "reference/constants.html#numpy.newaxis")
    # what numpydoc's default type aliases point to (array_like, scalar)
    entries["array_like"] = ("std:term", "glossary.html#term-array_like")
    entries["array-like"] = ("std:term", "glossary.html#term-array_like")
    entries["arrays.scalars"] = ("std:label", "reference/arrays.scalars.html#arrays-scalars")
    write_inventory(HERE / "numpy.inv", "NumPy", numpy.__version__, entries)


def xarray_inventory():
    import xarray

    entries = pattern_inventory(
        ["xarray"],
        "generated/{name}.html",
        methods_of=["xarray.Dataset", "xarray.DataArray", "xarray.DataTree"],
    )
    write_inventory(HERE / "xarray.inv", "xarray", xarray.__version__, entries)


def jax_inventory():
    import jax

    entries = pattern_inventory(
        ["jax", "jax.numpy", "jax.random", "jax.scipy.linalg", "jax.lax"],
        "_autosummary/{name}.html",
    )
    entries["jax.Array"] = ("py:class", "_autosummary/jax.Array.html#$")
    write_inventory(HERE / "jax.inv", "JAX", jax.__version__, entries)


def arviz_base_inventory():
    import arviz_base

    entries = pattern_inventory(["arviz_base"], "api/generated/{name}.html")
    write_inventory(HERE / "arviz_base.inv", "arviz-base", arviz_base.__version__, entries)


DIRECTIVE = re.compile(r"^\.\. auto(class|function|data|module):: ([\w.]+)", re.M)
ALIASES = (
    "numpyro",
    "numpyro.infer",
    "numpyro.infer.autoguide",
    "numpyro.distributions",
    "numpyro.handlers",
    "numpyro.optim",
)


def numpyro_inventory(source: Path):
    import numpyro

    kinds = {
        "class": "py:class",
        "function": "py:function",
        "data": "py:data",
        "module": "py:module",
    }
    entries = {}
    for rst in sorted(source.glob("*.rst")):
        page = rst.stem + ".html"
        for kind, full in DIRECTIVE.findall(rst.read_text()):
            anchor = "#module-$" if kind == "module" else "#$"
            entries[full] = (kinds[kind], page + anchor)
    # the public names users write (numpyro.infer.SVI) point to the documented objects
    documented = {}
    for full, (kind, uri) in entries.items():
        module_name, _, name = full.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
        documented[id(obj)] = (kind, uri.replace("$", full))
    for alias_module in ALIASES:
        module = importlib.import_module(alias_module)
        for name, obj in public(module):
            target = documented.get(id(obj))
            alias = f"{alias_module}.{name}"
            if target and alias not in entries:
                entries[alias] = target
    write_inventory(HERE / "numpyro.inv", "NumPyro", numpyro.__version__, entries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numpyro-docs", type=Path, help="numpyro/docs/source of a checkout")
    args = parser.parse_args()
    numpy_inventory()
    xarray_inventory()
    jax_inventory()
    arviz_base_inventory()
    if args.numpyro_docs:
        numpyro_inventory(args.numpyro_docs)


if __name__ == "__main__":
    main()
