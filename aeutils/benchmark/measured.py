"""Rows measured once by a script that chooses a design on validation images (`scripts/noise_gate.py`,
`noise_told.py`, `noise_grain.py`), kept as JSON files so that other candidates can be tried without measuring
again, and a slow measurement can be split over processes (one file each) and read back together."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """--per-source (validation faces measured per source) and --rows (`rows`)."""
    p.add_argument("--per-source", type=int, default=24, help="validation faces per source")
    p.add_argument("--rows", type=Path, nargs="+", default=None,
                   help="JSON files of measured rows: read where they all exist (to try other candidates without "
                   "measuring again), else the rows are measured and written to the first")


def rows(paths: list[Path] | None, measure: Callable[[], list[dict]]) -> list[dict]:
    """The rows of every file in `paths` where they all exist, else `measure()`'s, written to the first path."""
    if paths and all(path.is_file() for path in paths):
        return [r for path in paths for r in json.loads(path.read_text())]
    measured = measure()
    if paths:
        paths[0].write_text(json.dumps(measured))
    return measured
