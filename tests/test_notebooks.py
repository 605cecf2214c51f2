"""Each notebook, as committed, carries an output that CI really checks and stays small enough to open on
a repository page. `make test` re-executes the notebooks under `nbval --nbval-lax` in the smoke profile:
it compares only the cells marked `# NBVAL_CHECK_OUTPUT` (outputs that are the same in every profile) with
their stored outputs, and skips a cell stored without an execution count. `make notebooks` stores the rest."""
from __future__ import annotations

import json

import pytest

from aeutils import config

NOTEBOOKS = sorted((config.REPO_ROOT / "notebooks").glob("*.ipynb"))
MARKER = "# NBVAL_CHECK_OUTPUT"
MAX_BYTES = 3_000_000  # inline figures are PNG at 80 dpi (aeutils.notebook): a rendered notebook needs far less


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_notebooks_are_found():
    assert len(NOTEBOOKS) >= 13


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_a_checked_output(path):
    marked = [c for c in code_cells(path) if "".join(c["source"]).startswith(MARKER)]
    assert marked, f"{path.name}: no cell starts with {MARKER}"
    for cell in marked:
        assert cell["outputs"] and cell["execution_count"] is not None, (
            f"{path.name}: a marked cell has no stored output to compare: execute the notebook and keep its outputs")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_a_run(path):
    """nbval fails on a cell that has outputs but no execution count."""
    assert all(c["execution_count"] is not None for c in code_cells(path) if c["outputs"]), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_file_is_small(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size:,} bytes"
