"""Shipped models: `weights/<name>.pt` files, each with a model card `weights/<name>.md`.

A shipped file is a small dict: the task it serves, the keyword arguments that rebuild its
architecture, the weights (stored in float16 to keep files small), and its measured test numbers.
`load` gives any of them ready to use, rebuilt by the loader of the task it serves (`aeutils.task`).
"""
from __future__ import annotations

import copy
import io
from pathlib import Path

import torch

from aeutils import checkpoint, config, task as tasks
from aeutils.errors import UserError
from aeutils.images import atomic_write_bytes


def _stored_state(model: torch.nn.Module) -> dict:
    """The weights as a shipped file stores them: float tensors in float16."""
    return {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}


def as_shipped(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with its float weights rounded as `save_shipped` stores them: what a user
    loads. Whatever is computed from the weights at export must be computed from these."""
    shipped = copy.deepcopy(model)
    shipped.load_state_dict(_stored_state(model))  # copied into its float32 tensors
    return shipped


def save_shipped(path: str | Path, task: str, arch: dict, model: torch.nn.Module,
                 metrics: dict | None = None, exclusive: bool = False, **extra) -> None:
    """Write a model for shipping: float tensors in float16 (halves the file; restored to float32).
    `exclusive`: refuse to replace an existing file (`--ship` without --force)."""
    buf = io.BytesIO()
    torch.save({"task": task, "arch": arch, "state_dict": _stored_state(model), "metrics": metrics or {}, **extra}, buf)
    atomic_write_bytes(path, buf.getvalue(), exclusive)


def resolve(name_or_path: str) -> Path:
    """A shipped model's file from its name (`weights/<name>.pt`) or a path to a .pt file."""
    p = Path(name_or_path)
    if p.suffix == ".pt" and p.is_file():
        return p
    p = config.WEIGHTS_DIR / f"{name_or_path}.pt"
    if p.is_file():
        return p
    known = ", ".join(sorted(list_names())) or "none"
    raise UserError(f"unknown model {name_or_path!r}; shipped models: {known}")


def load_shipped(name_or_path: str, task: str | None = None) -> dict:
    """Load a shipped file (weights back in float32); check it serves `task` when given."""
    path = resolve(name_or_path)
    ck = checkpoint.load(path)
    if not isinstance(ck, dict) or "task" not in ck:
        raise UserError(f"{path} is not an aeutils model file")
    if task is not None and ck["task"] != task:
        raise UserError(f"model {path.stem!r} is a {ck['task']} model, not a {task} model")
    ck["state_dict"] = {k: (v.float() if v.is_floating_point() else v) for k, v in ck["state_dict"].items()}
    ck["name"] = path.stem
    return ck


def load(name_or_path: str, task: str | None = None):
    """A shipped model ready to use, in eval mode: its file (`load_shipped`, checked to serve `task` when
    given) rebuilt by the loader of the task the file records (`aeutils.task.Task.load`)."""
    ck = load_shipped(name_or_path, task)
    return tasks.get(ck["task"]).load(ck)


def list_names(task: str | None = None) -> list[str]:
    names = []
    for p in sorted(config.WEIGHTS_DIR.glob("*.pt")):
        if task is None or checkpoint.load(p).get("task") == task:
            names.append(p.stem)
    return names
