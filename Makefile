# Set-up and entry points. `make demo` and `make test` are the README's two commands.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo_out

.PHONY: demo test lint bench docs clean

$(STAMP): setup.cfg pyproject.toml requirements/constraints.txt
	@PY=$$(scripts/find-python) && echo "using $$PY" && $$PY -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[test,bench]'
	@touch $@

demo: $(STAMP)
	$(BIN)/stereo-ppl demo --out-dir $(OUT)

# tests side by side in worker processes (one per CPU, at most 4), a test file per worker
XDIST  := -n auto --maxprocesses 4 --dist loadfile

# the notebooks run on copies (nbmake --overwrite keeps their outputs there), so that
# `make docs` renders the tutorials without running them a second time
NBRUN  := docs/_executed

test: $(STAMP)
	$(BIN)/ruff check .
	rm -rf $(NBRUN) && mkdir -p $(NBRUN) && cp notebooks/*.ipynb $(NBRUN)/
	$(BIN)/python -m pytest $(XDIST) --nbmake --overwrite tests $(NBRUN)
	JAX_ENABLE_X64=1 $(BIN)/python -m pytest $(XDIST) -m core

# the documentation, warnings as errors; notebooks not executed by `make test` run here
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[docs]'
	@touch $@

docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_map.py

clean:
	rm -rf $(VENV) $(OUT) docs/_build docs/_executed docs/api/generated docs/api/stereo_ppl*.rst docs/tutorials/*.ipynb
