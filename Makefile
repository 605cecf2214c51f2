# The README's two commands: `make demo` (the main job) and `make test` (lint, then all tests, as CI runs them).
# `make test-fast`: lint and the tests not marked slow, without the notebooks (the inner loop).
# `make notebooks`: re-render the notebooks with their outputs in the cpu profile (see below).
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

# Re-run the notebooks in the cpu profile and store their outputs (figures, tables) in the files, for
# readers who open them without running them; `make notebooks NOTEBOOKS=notebooks/08_codec_comparison.ipynb`
# renders one. Every training resumes from runs/ (a finished run only validates and evaluates again), 00
# resumes data/voxceleb2-frames, 08 redraws the committed benchmark in resources/codecs, and 12 trains its
# codec for 30 more minutes each time (a new run starts from the shipped face-codec). From an empty runs/
# every cpu model is trained first: 8-9 hours on the 2-core CPU (01-07 an hour or less each, 01 twice,
# 11 about one, 09 and 10 less); with finished runs, mostly the evaluations and 12's session: one to two
# hours (estimates from the step times; 00 and 08 took under a minute each). A stored notebook keeps each
# progress bar's last state (CoalesceStreamsPreprocessor, after the run) and starts no TensorBoard server
# (AEUTILS_TENSORBOARD=0). Outputs whose text is the same in every profile are marked
# `# NBVAL_CHECK_OUTPUT`; `make test` checks them.
NOTEBOOKS ?= notebooks/*.ipynb
NOTEBOOK_CELL_TIMEOUT ?= 10800

notebooks: $(BIN)/aeutils
	AEUTILS_PROFILE=cpu AEUTILS_TENSORBOARD=0 MPLBACKEND=module://matplotlib_inline.backend_inline \
		PYTHONWARNINGS='ignore:IProgress not found' $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=$(NOTEBOOK_CELL_TIMEOUT) --ExecutePreprocessor.record_timing=False \
		--NotebookExporter.preprocessors='["nbconvert.preprocessors.CoalesceStreamsPreprocessor"]' $(NOTEBOOKS)

lab: $(BIN)/aeutils
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf runs $(OUT) .pytest_cache
