# The README's two commands: `make demo` (the main job) and `make test` (lint, then all tests, as CI runs them).
# `make test-fast`: lint and the tests not marked slow, without the notebooks (the inner loop).
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
OUT ?= demo-report

.PHONY: demo lint test test-fast test-slow notebooks lab clean

$(BIN)/aeutils: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test,notebooks]'
	touch $@

demo: $(BIN)/aeutils
	$(BIN)/aeutils demo --out $(OUT) --force

lint: $(BIN)/aeutils
	$(BIN)/ruff check aeutils tests scripts notebooks

test: lint
	AEUTILS_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider \
		--nbval-lax --nbval-current-env --durations=15 tests notebooks

test-fast: lint
	AEUTILS_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests

# Opt-in: each trainable task's paper profile at full size for a step or two on the CPU, and the
# CPU rehearsal of scripts/gpu_run.py (tens of minutes, several GB; see README "Training on a GPU").
test-slow: $(BIN)/aeutils
	AEUTILS_SLOW=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider --durations=0 -m slow tests

lab: $(BIN)/aeutils
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf runs $(OUT) .pytest_cache
