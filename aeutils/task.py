"""The task contract: what the rest of the project needs to know of a task, declared once in its module
as `TASK = Task(...)`.

    name   what `aeutils train NAME` takes and what the task's shipped files record as their "task"
    main   main(argv) -> exit status: the trainer behind `aeutils train NAME` (None: not trained on its own)
    load   load(ck) -> the ready model, in eval mode, from a shipped file's dict (`zoo.load_shipped`)
    card   card(weights, ...) -> the markdown model card of a shipped file, from the file and what its
           ship measured (None: the card is written by hand)

`zoo.load` rebuilds any shipped file with the loader of the task it records, and `aeutils train`
runs the trainers of `TRAINED`. The registry names each task's module by path, so this core module
imports no task (the layers stay one-way); `get` imports a module when its task is first asked for.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from aeutils.errors import UserError


@dataclass(frozen=True)
class Task:
    """One task's entries of the contract (see the module's docstring)."""

    name: str
    load: Callable[[dict], Any]
    main: Callable[[list[str] | None], int] | None = None
    card: Callable[..., str] | None = None


# task -> the module that declares its TASK: the tasks `aeutils train` trains, then the others
TRAINED: dict[str, str] = {
    "codec": "aeutils.codec.train",
    "cae": "aeutils.tasks.cae",
    "repair": "aeutils.tasks.repair",
    "colorize": "aeutils.tasks.colorize",
    "superres": "aeutils.tasks.superres",
}
REGISTRY: dict[str, str] = {
    **TRAINED,
    "features": "aeutils.models.features",  # the face codec's encoder, exported from a codec run
}


def get(name: str) -> Task:
    """The Task called `name`, its module imported on first use."""
    if name not in REGISTRY:
        raise UserError(f"unknown task {name!r}; the tasks are {', '.join(sorted(REGISTRY))}")
    return importlib.import_module(REGISTRY[name]).TASK
