"""The `aeutils` command line (also `python -m aeutils`).

Each feature module registers its own subcommands through `register(subparsers)`; this file only
assembles them and turns bad input into a one-line error with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from aeutils import __version__
from aeutils.errors import UserError

# Modules that add subcommands, in the order `aeutils --help` lists them.
COMMAND_MODULES = [
    "aeutils.train_cli",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="aeutils", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aeutils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except UserError as e:
        print(f"aeutils {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aeutils {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
