"""Sphinx configuration of the stereo-ppl documentation (``make docs``)."""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import stereo_ppl  # noqa: E402

project = "stereo-ppl"
author = "stereo-ppl developers"
copyright = "stereo-ppl developers"
version = release = stereo_ppl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "sphinx_copybutton",
    "stereo_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_executed", "_templates", "_intersphinx", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# -- API reference: autosummary stubs from the pages that stereo_docs writes from __all__
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
# parameter types link to their documentation (ours, or numpy/xarray/... by intersphinx)
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "DataTree": "xarray.DataTree",
    "Dataset": "xarray.Dataset",
    "DataArray": "xarray.DataArray",
    "ndarray": "numpy.ndarray",
    "Path": "pathlib.Path",
    "path-like": "os.PathLike",
    "Table": "astropy.table.Table",
    "Quantity": "astropy.units.Quantity",
    "Array": "jax.Array",
}
numpydoc_xref_ignore = {
    "optional",
    "of",
    "or",
    "and",
    "shape",
    "default",
    "the",
    "a",
    "an",
    "same",
    "as",
    "per",
    "one",
    "each",
    "n",
    "m",
    "c",
    "int64",
    "float64",
    "float32",
    "int8",
    "bool_",
}

# -- notebooks (myst-nb): the tutorials are staged into tutorials/ by stereo_docs, already
# executed by the test run where it left them in _executed/; others run here ("auto"
# executes only notebooks without outputs). STEREO_PPL_DOCS_EXECUTE=off|force overrides.
nb_execution_mode = os.environ.get("STEREO_PPL_DOCS_EXECUTE", "auto")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# -- cross-links into the libraries our users know. The inventories ship with the docs
# (_intersphinx/, see its README): CI has no network but package registries.
INV = DOCS / "_intersphinx"
intersphinx_mapping = {
    name: (url, str(INV / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "pandas": "https://pandas.pydata.org/docs/",
        "xarray": "https://docs.xarray.dev/en/stable/",
        "astropy": "https://docs.astropy.org/en/stable/",
        "arviz_base": "https://python.arviz.org/projects/base/en/latest/",
        "jax": "https://docs.jax.dev/en/latest/",
        "numpyro": "https://num.pyro.ai/en/stable/",
        "dask": "https://docs.dask.org/en/stable/",
    }.items()
    if (INV / f"{name}.inv").exists()
}

# -- HTML
html_theme = "pydata_sphinx_theme"
html_title = "stereo-ppl"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
}
html_show_sourcelink = False

# -- pages derived from the code, written before Sphinx looks for source files
import stereo_docs  # noqa: E402

stereo_docs.write_api_pages()
# myst-nb's "auto" runs a notebook with any code cell without output (an import cell), so
# the notebooks the tests executed are excluded from execution by name
nb_execution_excludepatterns = [
    f"tutorials/{name}.ipynb"
    for name, how in stereo_docs.stage_notebooks().items()
    if how == "executed"
]
# a local build can leave more pages unexecuted: STEREO_PPL_DOCS_NO_EXECUTE=quickstart,ppc
nb_execution_excludepatterns += [
    f"*/{name.strip()}.*"
    for name in os.environ.get("STEREO_PPL_DOCS_NO_EXECUTE", "").split(",")
    if name.strip()
]
