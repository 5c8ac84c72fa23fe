# Set-up and entry points. `make demo` and `make test` are the README's two commands.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo_out

.PHONY: demo test lint bench clean

$(STAMP): setup.cfg pyproject.toml requirements/constraints.txt
	@PY=$$(scripts/find-python) && echo "using $$PY" && $$PY -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[test,bench]'
	@touch $@

demo: $(STAMP)
	$(BIN)/stereo-ppl demo --out $(OUT)

# tests side by side in worker processes (one per CPU, at most 4), a test file per worker
XDIST  := -n auto --maxprocesses 4 --dist loadfile

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(XDIST) --nbmake tests notebooks
	JAX_ENABLE_X64=1 $(BIN)/python -m pytest $(XDIST) -m core

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_map.py

clean:
	rm -rf $(VENV) $(OUT)
