"""Sphinx helpers for the stereo-ppl documentation.

Everything here derives pages from the code, so that the documentation follows it:

* :func:`write_api_pages` writes one API page per public module of :mod:`stereo_ppl`
  (the package itself and each submodule with an ``__all__``), listing every name of its
  ``__all__`` in ``autosummary`` tables; autosummary then generates one stub page per name.
* :func:`stage_notebooks` copies the notebooks of ``notebooks/`` into ``docs/tutorials/``,
  preferring copies that the test run has already executed (``docs/_executed``).
* the ``stereo-codes`` directive renders a code table (``{code: name}``) such as
  :data:`stereo_ppl.denoise.ARTEFACT_CODES` as a table.

``tests/test_docs.py`` imports this module without Sphinx to check the API pages.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import pkgutil
import re
import shutil
from pathlib import Path
from typing import ClassVar

PACKAGE = "stereo_ppl"
DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
API_DIR = DOCS / "api"
#: executed copies of the notebooks, written by ``make test`` (nbmake --overwrite)
EXECUTED_DIR = DOCS / "_executed"
TUTORIALS_DIR = DOCS / "tutorials"
NOTEBOOKS_DIR = ROOT / "notebooks"

# kinds of public names, in the order their sections appear on a page
KINDS = ("function", "class", "exception", "data")
TITLES = {
    "function": "Functions",
    "class": "Classes",
    "exception": "Exceptions",
    "data": "Constants and other objects",
}
AUTOSUMMARY_ENTRY = re.compile(r"^\s{3}(~?[A-Za-z_][\w.]*)\s*$")
LINK_ENTRY = re.compile(r"^\s{3}\* - :obj:`~?([\w.]+)`")
DATA_ENTRY = re.compile(r"^\.\. autodata:: ([\w.]+)")


# ---------------------------------------------------------------- API pages


@functools.cache
def public_modules() -> list[str]:
    """The package and each of its direct submodules that has an ``__all__`` (sorted)."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        if hasattr(module, "__all__"):
            names.append(module.__name__)
    return names


def kind_of(obj) -> str:
    """Section of a public object: function, class, exception or data."""
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj) or (callable(obj) and hasattr(obj, "__wrapped__")):
        return "function"
    return "data"


def public_object(module, name: str):
    """``module.name``; a submodule that shadows a re-exported function of the same name
    (``stereo_ppl.denoise`` once ``stereo_ppl.denoise`` the package is imported) gives the
    function of that name in the submodule's ``__all__``."""
    obj = getattr(module, name)
    if inspect.ismodule(obj) and name in getattr(obj, "__all__", ()):
        obj = getattr(obj, name)
    return obj


def _home(obj, modules: list[str]) -> str | None:
    """The public module that defines ``obj`` (by its ``__module__``), if it is one of ours."""
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return None
    defined = getattr(obj, "__module__", None) or ""
    best = None
    for name in modules:
        if name != PACKAGE and (defined == name or defined.startswith(name + ".")):
            best = name
    return best


def api_entries(module_name: str, modules: list[str] | None = None) -> dict[str, list[str]]:
    """``__all__`` of one module sorted into sections.

    Returns ``{kind: [name, ...]}`` for the names documented on this module's page (their
    stub pages are generated) and ``{"reexport": ["home.name", ...]}`` for names defined in
    another public module, which link to that module's page.
    """
    modules = public_modules() if modules is None else modules
    module = importlib.import_module(module_name)
    entries: dict[str, list[str]] = {kind: [] for kind in (*KINDS, "reexport")}
    for name in module.__all__:
        obj = public_object(module, name)
        if name.startswith("__"):  # __version__: a data directive of its own on the page
            continue
        home = _home(obj, modules)
        if home is not None and home != module_name:
            owner = importlib.import_module(home)
            if name in getattr(owner, "__all__", ()) and getattr(owner, name) is obj:
                entries["reexport"].append(f"{home}.{name}")
                continue
        entries[kind_of(obj)].append(name)
    return entries


def _summary(path: str) -> str:
    module_name, _, name = path.rpartition(".")
    doc = inspect.getdoc(public_object(importlib.import_module(module_name), name)) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _link_table(paths: list[str]) -> list[str]:
    """A table like autosummary's for objects documented on another page."""
    lines = [".. list-table::", "   :widths: 40 60", ""]
    for path in paths:
        lines += [f"   * - :obj:`~{path}`", f"     - {_summary(path)}"]
    return [*lines, ""]


def _autosummary(names: list[str], toctree: bool) -> list[str]:
    lines = [".. autosummary::"]
    if toctree:
        lines.append("   :toctree: generated")
    lines += ["   :nosignatures:", ""]
    lines += [f"   {name}" for name in names]
    return [*lines, ""]


def api_page(module_name: str, modules: list[str] | None = None) -> str:
    """reStructuredText of one module's API page."""
    entries = api_entries(module_name, modules)
    title = f"``{module_name}``"
    lines = [
        f".. Generated by docs/_ext/stereo_docs.py from {module_name}.__all__; do not edit.",
        "",
        title,
        "=" * len(title),
        "",
        f".. automodule:: {module_name}",
        "",
        f".. currentmodule:: {module_name}",
        "",
    ]
    module = importlib.import_module(module_name)
    dunder = [name for name in module.__all__ if name.startswith("__")]
    for name in dunder:
        lines += [f".. autodata:: {name}", "   :no-value:", ""]
    for kind in KINDS:
        if entries[kind]:
            lines += [TITLES[kind], "-" * len(TITLES[kind]), ""]
            lines += _autosummary(entries[kind], toctree=True)
    if entries["reexport"]:
        heading = "Also available here"
        lines += [heading, "-" * len(heading), ""]
        lines += [
            f"Defined in another module and re-exported as ``{module_name}.NAME``.",
            "",
        ]
        lines += _link_table(entries["reexport"])
    return "\n".join(lines)


def write_api_pages(directory: Path = API_DIR) -> list[Path]:
    """Write (or refresh) one ``<module>.rst`` per public module; remove stale ones."""
    modules = public_modules()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for module_name in modules:
        path = directory / f"{module_name}.rst"
        text = api_page(module_name, modules)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    for stale in directory.glob(f"{PACKAGE}*.rst"):
        if stale not in written:
            stale.unlink()
    # stubs of names no longer public would fail to import: remove them
    current = set()
    for path in written:
        current.update(documented_names(path).values())
    for stub in (directory / "generated").glob("*.rst"):
        if stub.stem not in current:
            stub.unlink()
    return written


def documented_names(page: Path) -> dict[str, str]:
    """Names an API page documents: ``{"module.name": "where.it.is.documented"}``.

    A name in an autosummary table (which gets a stub page) or an ``autodata`` directive
    is documented on this page; a name in the link table of re-exports points to its home
    module's page.
    """
    module = None
    names = {}
    in_table = False
    for line in page.read_text().splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::", 1)[1].strip()
        if line.startswith(".. autosummary::"):
            in_table = True
            continue
        if in_table and line and not line.startswith("   "):
            in_table = False
        entry = AUTOSUMMARY_ENTRY.match(line) if in_table else None
        if entry:
            full = f"{module}.{entry.group(1).lstrip('~')}"
            names[full] = full
        elif data := DATA_ENTRY.match(line):
            full = f"{module}.{data.group(1)}"
            names[full] = full
        elif link := LINK_ENTRY.match(line):
            target = link.group(1)
            names[f"{module}.{target.rpartition('.')[2]}"] = target
    return names


# ---------------------------------------------------------------- notebooks

#: What the last :func:`stage_notebooks` used for each notebook ("executed" or "source").
STAGED: dict[str, str] = {}


def _code_cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _has_outputs(path: Path) -> bool:
    """Whether the notebook has outputs, none of them an error (a run that failed)."""
    notebook = json.loads(path.read_text())
    outputs = [
        output
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", ())
    ]
    return bool(outputs) and not any(out.get("output_type") == "error" for out in outputs)


def stage_notebooks(
    source: Path = NOTEBOOKS_DIR, executed: Path = EXECUTED_DIR, target: Path = TUTORIALS_DIR
) -> dict[str, str]:
    """Copy each notebook into the tutorials folder; returns ``{name: "executed"|"source"}``.

    An executed copy (from the test run) is used when its code cells are those of the
    notebook in ``notebooks/`` and it has outputs and no error; otherwise the notebook
    itself is copied and myst-nb executes it during the build (``nb_execution_mode =
    "auto"`` runs only notebooks without outputs).
    """
    target.mkdir(parents=True, exist_ok=True)
    used = STAGED
    used.clear()
    names = set()
    for path in sorted(source.glob("*.ipynb")):
        names.add(path.name)
        candidate = executed / path.name
        if (
            candidate.exists()
            and _has_outputs(candidate)
            and _code_cells(candidate) == _code_cells(path)
        ):
            chosen, used[path.stem] = candidate, "executed"
        else:
            chosen, used[path.stem] = path, "source"
        destination = target / path.name
        if not destination.exists() or destination.read_bytes() != chosen.read_bytes():
            shutil.copyfile(chosen, destination)
    for stale in target.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    return dict(used)


# ---------------------------------------------------------------- CLI reference

_RST_SPECIAL = re.compile(r"([\\`*_|<>\[\]])")


def _escape(text: str) -> str:
    """Plain text as reStructuredText (no markup, no references)."""
    return _RST_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def cli_commands():
    """``[(name, help, usage, [(opts, help), ...]), ...]`` of the ``stereo-ppl`` app.

    Read from the typer application (its commands, their docstrings and options), not from
    a copy, so the reference lists what the installed version accepts. Hidden options
    (deprecated spellings) are left out.
    """
    import typer

    from stereo_ppl.cli import app

    group = typer.main.get_command(app)
    context_class = type(group).context_class
    root = context_class(group, info_name="stereo-ppl")
    commands = [("", group.help or "", group.get_usage(root), [])]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx = context_class(command, info_name=name, parent=root)
        params = []
        for param in command.get_params(ctx):
            record = None if getattr(param, "hidden", False) else param.get_help_record(ctx)
            if record:
                params.append(record)
        commands.append((name, command.help or "", command.get_usage(ctx), params))
    return commands


def cli_rst() -> str:
    """reStructuredText of the command-line reference: one section per command."""
    lines = []
    for name, help_text, usage, params in cli_commands():
        paragraphs = [p for p in help_text.split("\n\n") if p.strip()]
        if name:
            title = f"stereo-ppl {name}"
            lines += [title, "-" * len(title), ""]
        lines += [".. code-block:: text", ""]
        lines += [f"   {line}" for line in usage.splitlines()] + [""]
        for paragraph in paragraphs:
            lines += [_escape(paragraph), ""]
        if params:
            lines += [".. list-table::", "   :widths: 35 65", ""]
            for opts, text in params:
                lines += [f"   * - ``{' '.join(opts.split())}``", f"     - {_escape(text)}"]
            lines += [""]
    return "\n".join(lines)


# ---------------------------------------------------------------- directive and setup


def _codes_directive():
    from docutils.parsers.rst import Directive, directives

    class CodesDirective(Directive):
        """``.. stereo-codes:: stereo_ppl.denoise.ARTEFACT_CODES`` renders {code: name}."""

        required_arguments = 1
        option_spec: ClassVar = {"header": directives.unchanged}

        def run(self):
            module_name, _, attr = self.arguments[0].rpartition(".")
            codes = getattr(importlib.import_module(module_name), attr)
            header = (self.options.get("header") or "code,name").split(",")
            return [_table(list(codes.items()), header, widths=[10, 40])]

    return CodesDirective


def _table(rows, header, widths=None):
    """A docutils table node of strings, each cell parsed as inline reST literal text."""
    from docutils import nodes

    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths or [1] * len(header):
        group += nodes.colspec(colwidth=width)

    def row(cells):
        tr = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=str(cell))
            tr += entry
        return tr

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


def _models_directive():
    from docutils.parsers.rst import Directive

    class ModelsDirective(Directive):
        """``.. stereo-models::`` renders :data:`stereo_ppl.models.MODELS`."""

        def run(self):
            from stereo_ppl.models import MODELS

            rows = [
                (
                    name,
                    variant.description,
                    ", ".join(variant.methods),
                    ", ".join(variant.option_names) or "-",
                )
                for name, variant in MODELS.items()
            ]
            header = ("--model", "what it is", "methods", "model options")
            return [_table(rows, header, widths=[12, 50, 20, 25])]

    return ModelsDirective


def _constant_doc(name: str, obj) -> list[str]:
    """The ``#:`` comment above a constant in the module that defines it.

    autodoc looks for it in the module the constant is documented under (a package's
    ``__init__``), so a constant defined in a submodule would lose it.
    """
    from sphinx.pycode import ModuleAnalyzer

    package_name, _, attr = name.rpartition(".")
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        return []
    candidates = [package_name]
    if hasattr(package, "__path__"):
        candidates += [
            info.name
            for info in pkgutil.walk_packages(package.__path__, package_name + ".")
            if "._" not in info.name  # private modules, and __main__ (runs the CLI)
        ]
    for module_name in candidates:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # a module that fails to import documents nothing here
            continue
        if getattr(module, attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # no source: nothing to find
            continue
        if ("", attr) in docs:
            return list(docs[("", attr)])
    return []


def _process_docstring(app, what, name, obj, options, lines):
    """Constants: their ``#:`` comment, never the docstring of their type (``dict``...)."""
    if what not in ("data", "attribute") or inspect.isclass(obj) or inspect.isroutine(obj):
        return
    type_doc = inspect.getdoc(type(obj)) or ""
    text = "\n".join(lines).strip()
    if text and type_doc and text.splitlines()[0].strip() == type_doc.splitlines()[0].strip():
        lines.clear()
    if what == "data" and not "\n".join(lines).strip():
        lines[:] = _constant_doc(name, obj)
    if type(obj).__name__ == "Typer" and not "\n".join(lines).strip():
        lines[:] = ["The ``stereo-ppl`` command-line application (typer); see :doc:`/cli`.", ""]


def _cli_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList
    from sphinx.util.nodes import nested_parse_with_titles

    class CliDirective(Directive):
        """``.. stereo-cli::`` renders :func:`cli_rst`."""

        def run(self):
            container = nodes.section()
            container.document = self.state.document
            content = StringList(cli_rst().splitlines(), source="stereo-ppl --help")
            nested_parse_with_titles(self.state, content, container)
            return container.children

    return CliDirective


def _resolve_reexport(app, env, node, contnode):
    """Resolve ``stereo_ppl.fit`` (a re-export) to where it is documented
    (``stereo_ppl.inference.fit``), for the guide's and the docstrings' references."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    if not target.startswith(PACKAGE) and node.get("py:module"):
        target = f"{node['py:module']}.{target}"
    module_name, _, name = target.rpartition(".")
    if not (module_name == PACKAGE or module_name.startswith(PACKAGE + ".")) or not name:
        return None
    try:
        obj = public_object(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    home = _home(obj, public_modules())
    if home is None or home == module_name:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], f"{home}.{name}", node, contnode
    )


def _on_builder_inited(app):
    write_api_pages()
    used = STAGED
    executed = sorted(name for name, how in used.items() if how == "executed")
    fresh = sorted(name for name, how in used.items() if how == "source")
    if executed:
        print(f"[stereo-docs] notebooks already executed by the tests: {', '.join(executed)}")
    if fresh:
        mode = app.config.nb_execution_mode
        print(f"[stereo-docs] notebooks not executed by the tests ({mode}): {', '.join(fresh)}")


def setup(app):
    app.add_directive("stereo-codes", _codes_directive())
    app.add_directive("stereo-models", _models_directive())
    app.add_directive("stereo-cli", _cli_directive())
    # before numpydoc parses the docstring (default priority, 500)
    app.connect("autodoc-process-docstring", _process_docstring, priority=100)
    # before autosummary generates the stubs (its handler has the default priority, 500)
    app.connect("builder-inited", _on_builder_inited, priority=100)
    app.connect("missing-reference", _resolve_reexport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
