# The README's two commands: `make demo` (the main job) and `make test` (all tests, as CI runs them).
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
OUT ?= demo-report

.PHONY: demo test notebooks lab clean

$(BIN)/aeutils: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test,notebooks]'
	touch $@

demo: $(BIN)/aeutils
	$(BIN)/aeutils demo --out $(OUT) --force

test: $(BIN)/aeutils
	AEUTILS_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider \
		--nbval-lax --nbval-current-env --durations=15 tests notebooks

lab: $(BIN)/aeutils
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf runs $(OUT) .pytest_cache
