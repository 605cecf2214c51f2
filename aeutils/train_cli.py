"""`aeutils train TASK ...`: run one of the project's training scripts from the command line.

Each task declares its trainer `main(argv)` in its `Task` (`aeutils.task`; tests call it too); this
command forwards the rest of the command line to it."""
from __future__ import annotations

from aeutils import task as tasks
from aeutils.errors import UserError
from aeutils.options import add_command

TASKS = tasks.TRAINED  # task name -> the module that declares it, imported only when that task is trained


def register(sub) -> None:
    p = add_command(sub, "train",
                       description=__doc__, add_help=True)
    p.add_argument("task", help="what to train: " + (", ".join(sorted(TASKS)) or "none yet"))
    p.add_argument("args", nargs="...", help="options of that task's trainer (see `aeutils train TASK --help`)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.task not in TASKS:
        raise UserError(f"unknown task {args.task!r}; choose from {', '.join(sorted(TASKS)) or 'none'}")
    return tasks.get(args.task).main(args.args) or 0
