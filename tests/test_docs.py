"""The documentation's generated parts: the API reference lists every public name, the
tutorials use the notebooks the tests executed, the CLI reference lists every command.

These run without building the site (``make docs`` builds it, with warnings as errors).
"""

import importlib
import importlib.util
import json
import pkgutil
import re
from pathlib import Path

import pytest

import stereo_ppl

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def stereo_docs():
    spec = importlib.util.spec_from_file_location("stereo_docs", DOCS / "_ext" / "stereo_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public_names() -> set[str]:
    """``module.name`` for every name in ``stereo_ppl.__all__`` and in the ``__all__`` of
    every package below it (found here independently of the docs generator)."""
    names = {f"stereo_ppl.{name}" for name in stereo_ppl.__all__}
    for info in pkgutil.walk_packages(stereo_ppl.__path__, "stereo_ppl."):
        # subpackages at any depth, and top-level modules like dims; not private ones
        if "._" in info.name or not (info.ispkg or info.name.count(".") == 1):
            continue
        module = importlib.import_module(info.name)
        names |= {f"{info.name}.{name}" for name in getattr(module, "__all__", ())}
    return names


@pytest.fixture(scope="module")
def api_pages(stereo_docs, tmp_path_factory):
    return stereo_docs.write_api_pages(tmp_path_factory.mktemp("api"))


def test_every_public_name_is_in_the_api_reference(stereo_docs, api_pages):
    documented = {}
    for page in api_pages:
        documented.update(stereo_docs.documented_names(page))
    missing = sorted(public_names() - set(documented))
    assert not missing, f"public names missing from the API reference: {missing}"


def test_every_link_of_the_api_reference_leads_to_a_documented_name(stereo_docs, api_pages):
    documented = {}
    for page in api_pages:
        documented.update(stereo_docs.documented_names(page))
    stubs = {name for name, target in documented.items() if name == target}
    dangling = sorted(name for name, target in documented.items() if target not in stubs)
    assert not dangling, f"re-exports whose home page does not document them: {dangling}"


def test_the_api_index_lists_every_page(stereo_docs, api_pages):
    index = (DOCS / "api" / "index.md").read_text()
    assert "\nstereo_ppl\n" in index and "\nstereo_ppl.*\n" in index  # the toctree's glob
    assert {page.stem for page in api_pages} >= {"stereo_ppl", "stereo_ppl.inference"}


def test_documented_names_reads_every_kind_of_entry(stereo_docs, tmp_path):
    page = tmp_path / "stereo_ppl.x.rst"
    page.write_text(
        ".. currentmodule:: stereo_ppl.x\n\n"
        ".. autodata:: __version__\n\n"
        ".. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n   fit\n   Thing\n\n"
        "Text after the table.\n\n"
        ".. list-table::\n\n   * - :obj:`~stereo_ppl.y.load`\n     - Read it.\n"
    )
    assert stereo_docs.documented_names(page) == {
        "stereo_ppl.x.__version__": "stereo_ppl.x.__version__",
        "stereo_ppl.x.fit": "stereo_ppl.x.fit",
        "stereo_ppl.x.Thing": "stereo_ppl.x.Thing",
        "stereo_ppl.x.load": "stereo_ppl.y.load",
    }


def test_a_name_left_out_of_a_page_is_missing(stereo_docs, api_pages, tmp_path):
    page = next(p for p in api_pages if p.stem == "stereo_ppl.inference")
    pruned = tmp_path / page.name
    pruned.write_text("\n".join(line for line in page.read_text().splitlines() if line != "   fit"))
    assert "stereo_ppl.inference.fit" in stereo_docs.documented_names(page)
    assert "stereo_ppl.inference.fit" not in stereo_docs.documented_names(pruned)


def _notebook(path: Path, code: list[str], outputs: bool) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# Title"]}]
    for source in code:
        out = [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}] if outputs else []
        cells.append(
            {
                "cell_type": "code",
                "metadata": {},
                "source": [source],
                "outputs": out,
                "execution_count": 1 if outputs else None,
            }
        )
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))


def test_tutorials_use_the_executed_notebooks_only_when_their_code_is_current(
    stereo_docs, tmp_path
):
    source, executed, target = (tmp_path / name for name in ("nb", "executed", "tutorials"))
    for folder in (source, executed):
        folder.mkdir()
    _notebook(source / "a.ipynb", ["print(1)"], outputs=False)
    _notebook(source / "b.ipynb", ["print(2)"], outputs=False)
    _notebook(source / "c.ipynb", ["print(3)"], outputs=False)
    _notebook(source / "d.ipynb", ["raise ValueError"], outputs=False)
    _notebook(executed / "a.ipynb", ["print(1)"], outputs=True)  # current: used
    _notebook(executed / "b.ipynb", ["print(0)"], outputs=True)  # stale code: not used
    _notebook(executed / "d.ipynb", ["raise ValueError"], outputs=True)  # failed: not used
    failed = json.loads((executed / "d.ipynb").read_text())
    failed["cells"][1]["outputs"] = [
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}
    ]
    (executed / "d.ipynb").write_text(json.dumps(failed))
    target.mkdir()
    (target / "gone.ipynb").write_text("{}")  # a notebook removed from notebooks/

    used = stereo_docs.stage_notebooks(source, executed, target)

    assert used == {"a": "executed", "b": "source", "c": "source", "d": "source"}
    assert (target / "a.ipynb").read_bytes() == (executed / "a.ipynb").read_bytes()
    assert (target / "b.ipynb").read_bytes() == (source / "b.ipynb").read_bytes()
    assert not (target / "gone.ipynb").exists()


def test_every_notebook_has_a_title_for_its_page():
    for path in sorted((DOCS.parent / "notebooks").glob("*.ipynb")):
        first = json.loads(path.read_text())["cells"][0]
        assert first["cell_type"] == "markdown", path.name
        assert "".join(first["source"]).startswith("# "), path.name


def test_the_cli_reference_lists_every_command(stereo_docs):
    import typer

    from stereo_ppl.cli import app

    group = typer.main.get_command(app)
    ctx = type(group).context_class(group, info_name="stereo-ppl")
    visible = {name for name in group.list_commands(ctx) if not group.get_command(ctx, name).hidden}
    text = stereo_docs.cli_rst()
    for name in visible:
        assert f"\nstereo-ppl {name}\n" in f"\n{text}", name
    assert "``--help``" in text


def test_the_modules_the_guide_shows_import():
    """The guide renders some module docstrings (the layouts they document); a renamed or
    removed module fails here before the docs build does."""
    pattern = re.compile(r"^\.\. automodule:: ([\w.]+)", re.MULTILINE)
    shown = {
        name for page in sorted(DOCS.rglob("*.md")) for name in pattern.findall(page.read_text())
    }
    assert "stereo_ppl.data.paired" in shown
    for name in sorted(shown):
        module = importlib.import_module(name)
        assert (module.__doc__ or "").strip(), f"{name} has no docstring to show"
