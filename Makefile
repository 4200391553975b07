# hwreg: all set-up lives here. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hwreg-installed
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q
DEMO   ?= runs/demo
DATA   ?= data/default

.PHONY: install test lint demo bench clean

install: $(STAMP)

# Re-runs only when a requirements file or pyproject.toml changed.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/base.txt requirements/dev.txt requirements/nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -c requirements/constraints.txt -r requirements/base.txt -r requirements/dev.txt
	$(PIP) --no-deps -r requirements/nodeps.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

test: install
	$(BIN)/ruff check hwreg tests benchmarks
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check hwreg tests benchmarks

$(DATA)/hwreg_dataset.json: | $(STAMP)
	$(BIN)/hwreg data prepare --out $(DATA) --spacing 1.5 --quiet

# FULL=1 runs the configs' full training schedules (the full-size study; CUDA when present);
# JOBS=N runs N stages at once (default 2).
demo: install $(DATA)/hwreg_dataset.json
	$(BIN)/hwreg data check $(DATA)
	$(BIN)/hwreg demo --out $(DEMO) --data $(DATA) $(if $(FULL),--full,) $(if $(JOBS),--jobs $(JOBS),)

# ANTs lives in its own venv: antspyx 0.6.3 pins numpy<2.4 and scipy<1.16 (finn-plus needs newer).
.venv-ants/.installed: requirements/bench.txt
	test -x .venv-ants/bin/python || $(PYTHON) -m venv .venv-ants
	.venv-ants/bin/python -m pip install --disable-pip-version-check -q -r requirements/bench.txt
	touch $@

bench: install .venv-ants/.installed $(DATA)/hwreg_dataset.json
	$(BIN)/python benchmarks/bench_data.py --out benchmarks/results/data.json
	$(BIN)/python benchmarks/bench_models.py --data $(DATA) --out benchmarks/results/register.json
	$(BIN)/python benchmarks/bench_register.py --out benchmarks/results/register_speed.json
	$(BIN)/python benchmarks/bench_realbrain.py --out benchmarks/results/realbrain.json
	$(BIN)/python benchmarks/bench_compile.py
	$(BIN)/python benchmarks/bench_boards.py --out benchmarks/results/boards.json
	$(BIN)/python benchmarks/bench_ecp5_fit.py --out benchmarks/results/ecp5_fit.json

clean:
	rm -rf $(VENV) .venv-ants runs build .pytest_cache .ruff_cache
