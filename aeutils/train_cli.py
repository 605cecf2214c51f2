"""`aeutils train TASK ...`: run one of the project's training scripts from the command line.

Each task is a module with `main(argv)` (so tests can call it too); this command forwards the rest
of the command line to it."""
from __future__ import annotations

import importlib

from aeutils.errors import UserError
from aeutils.options import add_command

# task name -> module whose main(argv) trains it
TASKS: dict[str, str] = {
    "colorize": "aeutils.tasks.colorize",
    "superres": "aeutils.tasks.superres",
    "codec": "aeutils.codec.train",
    "cae": "aeutils.tasks.cae",
    "repair": "aeutils.tasks.repair",
}


def register(sub) -> None:
    p = add_command(sub, "train",
                       description=__doc__, add_help=True)
    p.add_argument("task", help="what to train: " + (", ".join(sorted(TASKS)) or "none yet"))
    p.add_argument("args", nargs="...", help="options of that task's trainer (see `aeutils train TASK --help`)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.task not in TASKS:
        raise UserError(f"unknown task {args.task!r}; choose from {', '.join(sorted(TASKS)) or 'none'}")
    return importlib.import_module(TASKS[args.task]).main(args.args) or 0
