# Two entry points: `make demo` (install + full pipeline on the embedded cohort) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
STAMP  := $(VENV)/.installed
# Hub lookups must fail at once, never retry: everything here runs offline.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1

.PHONY: install demo test test-fast lint bench screenshots clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/dvc repro
	@echo "Results: metrics/ and plots/ (try: $(BIN)/dvc metrics show; $(BIN)/dvc plots show)"

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/run_all.py

# The README's `dvc plots show` / `dvc plots diff` screenshots, taken by the end-to-end test's offline browser
# check (needs chromium: apt-get install -y chromium).
screenshots: install
	BREAST_DENSITY_SCREENSHOTS=$(abspath docs) $(BIN)/python -m pytest tests/test_end_to_end.py -q -k offline

clean:
	rm -rf $(VENV)
