"""The package's layout holds: every module imports on its own (no import circle, none hidden by an
import inside a function), library code never imports the command line, and each folder imports only
the folders below it, as its `__init__.py` says."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from aeutils import config

PACKAGE = config.REPO_ROOT / "aeutils"
CLI_MODULES = {"aeutils.cli", "aeutils.train_cli", "aeutils.__main__"}  # the command line itself
# folder -> its layer; a module may import its own folder and the layers below, never one beside or above
LAYERS = {"aeutils": 0, "aeutils.models": 1, "aeutils.datasets": 1, "aeutils.codec": 2,
          "aeutils.benchmark": 3, "aeutils.tasks": 4, "aeutils.demo": 5}


def layer(name: str) -> int:
    """A folder's layer: a task's own folder (tasks/<task>/) shares the layer of tasks/, so no task
    imports another."""
    return LAYERS["aeutils.tasks"] if name.startswith("aeutils.tasks.") else LAYERS[name]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


def folder(module: str) -> str:
    """The folder (package) a module lives in: `aeutils` for the core modules."""
    is_package = (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()
    return module if is_package else module.rpartition(".")[0]


def imported(module: str) -> set[str]:
    """Every aeutils module `module` imports, at the top or inside a function."""
    path = PACKAGE.parent / (module.replace(".", "/") + ("/__init__.py" if module in FOLDERS else ".py"))
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("aeutils"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aeutils"):
            found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                         for a in node.names)
    return found


FOLDERS = {m for m in MODULES if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").is_file()}


def test_every_folder_is_a_layer_with_a_docstring():
    assert set(LAYERS) <= FOLDERS
    for name in FOLDERS:
        layer(name)  # a folder outside the layers is a KeyError
        doc = ast.get_docstring(ast.parse((PACKAGE.parent / name.replace(".", "/") / "__init__.py").read_text()))
        assert doc and "import" in doc, f"{name}/__init__.py should say what lives there and what may import it"


IMPORTABLE = [m for m in MODULES if m != "aeutils.__main__"]  # importing __main__ runs the command line

# One interpreter that imports each module with no aeutils module loaded before it (torch and the other
# third-party packages stay loaded, so this takes seconds): an import circle fails whatever the order.
EACH_ON_ITS_OWN = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "aeutils" or m.startswith("aeutils.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own():
    r = subprocess.run([sys.executable, "-c", EACH_ON_ITS_OWN, *IMPORTABLE], capture_output=True, text=True,
                       cwd=config.REPO_ROOT, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("module", IMPORTABLE)
def test_module_imports_in_a_fresh_interpreter(module):
    """The same, each in a new process (one torch import each: about a minute in all)."""
    r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                       cwd=config.REPO_ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def test_library_code_never_imports_the_command_line():
    for module in set(MODULES) - CLI_MODULES:
        assert not imported(module) & CLI_MODULES, f"{module} imports the command line"


def test_folders_import_only_the_layers_below():
    for module in MODULES:
        home = folder(module)
        for target in imported(module) - {"aeutils"}:
            there = folder(target)
            assert there == home or layer(there) < layer(home), (
                f"{module} imports {target}: {there} is not below {home}")
