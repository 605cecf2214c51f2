"""Atomic checkpoints: a crash mid-save leaves the previous checkpoint intact."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from aeutils.images import atomic_write_bytes


def save(obj: dict, path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load(path: str | Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=False)
