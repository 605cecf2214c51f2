"""Checkpoints and model files: written atomically (a crash mid-save leaves the previous file
intact) and read without running code.

A .pt file is a pickle, and unpickling can run any code the file names; `torch.load` with
`weights_only=True` builds only tensors, containers and numbers, and refuses anything else. The one
addition allowed here is numpy arrays (the codec's coding tables), which build arrays and nothing else.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from aeutils.errors import UserError
from aeutils.images import atomic_write_bytes

# what numpy arrays and scalars unpickle through (numpy's own reconstructors, found without private imports)
NUMPY_TYPES = [np.empty(0).__reduce__()[0], np.float64(0).__reduce__()[0], np.ndarray, np.dtype,
               *(type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_))]


def save(obj: dict, path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint or model file; a damaged one, or one that holds anything but weights and
    plain values (a pickle that would run code), raises UserError."""
    try:
        with torch.serialization.safe_globals(NUMPY_TYPES):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # damaged, foreign or crafted: whatever the unpickler raised
        why = ("it holds objects other than weights, which could run code"
               if "weights only" in str(e).lower() else e.__class__.__name__)
        raise UserError(f"cannot load {path} ({why})") from None
