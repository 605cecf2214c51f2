"""The `aeutils` command line (also `python -m aeutils`).

Each feature module registers its own subcommands through `register(subparsers)`; this file only
imports the one module the command needs (so a command starts fast) and turns bad input into a
one-line error with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from aeutils import __version__
from aeutils.errors import UserError
from aeutils.options import COMMANDS, OneLineParser


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with a known `command`, only that command's module is imported and registered."""
    parser = OneLineParser(prog="aeutils", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aeutils {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    if command in COMMANDS:
        importlib.import_module(COMMANDS[command][0]).register(sub)
    else:
        for name, (_, help_line) in COMMANDS.items():
            sub.add_parser(name, help=help_line)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        result = args.func(args)
    except UserError as e:
        print(f"aeutils {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aeutils {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
