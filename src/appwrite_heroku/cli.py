"""The `appwrite-heroku` command: one parser, each subcommand owned by its domain module.

Each module named in ``COMMANDS`` exposes ``register(subparsers)``, which adds its
subcommands and sets ``func`` on the parsed namespace to a callable returning an exit status.
Only the module of the command being run is imported: an image installs one side's libraries
(pyproject's extras), so `launch` in a dyno must not import the release side. Errors of this
project become one line on stderr with their exit status; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .arguments import OneLineParser
from .display import safe_line
from .errors import AppwriteHerokuError, InputError

# Each command, and the module that registers it (in the order `--help` lists them).
COMMANDS = {
    "env": "appwrite_heroku.commands.env",
    "deploy": "appwrite_heroku.release.engine",
    "plan": "appwrite_heroku.release.engine",
    "promote": "appwrite_heroku.release.engine",
    "redis-bridge": "appwrite_heroku.dyno.bridge",
    "launch": "appwrite_heroku.dyno.launcher",
    "patch-appwrite": "appwrite_heroku.dyno.patches",
    "budget": "appwrite_heroku.commands.budget",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with the module of the command it names, else (no command yet,
    `--help`, a misspelt one) with every module this installation can import."""
    parser = OneLineParser(
        prog="appwrite-heroku",
        description="Deploy and run Appwrite on Heroku.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    named = next((arg for arg in (sys.argv[1:] if argv is None else argv)
                  if not arg.startswith("-")), None)
    wanted = [COMMANDS[named]] if named in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if (missing.name or "").startswith(__package__ or "appwrite_heroku"):
                raise
            _without(subparsers, name, missing.name or "a library")
            continue
        module.register(subparsers)
    return parser


def _without(subparsers: argparse._SubParsersAction[OneLineParser], module: str,
             library: str) -> None:
    """The commands of a side this installation left out, each refusing in one line with the
    extra that brings it (the Lite image has the dyno side only, the Action's the release
    side)."""
    extra = module.split(".")[1]

    def refuse(args: argparse.Namespace) -> int:
        raise InputError(f"{args.command} needs the {extra} side's libraries ({library} is "
                         f"not installed here): pip install 'appwrite-heroku[{extra}]'")

    for command in (c for c, m in COMMANDS.items() if m == module):
        # No option prefix: whatever follows the command is taken as it is, then refused.
        sub = subparsers.add_parser(command, help=f"(not installed here: the {extra} extra)",
                                    add_help=False, prefix_chars="\0")
        sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sub.set_defaults(func=refuse)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(build_parser(argv), argv)
        finally:
            sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
    except BrokenPipeError:
        return _reader_went_away()


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except AppwriteHerokuError as error:
        # One line, whatever outside text the message quotes (a runner reads stderr too).
        print(f"appwrite-heroku: error: {safe_line(str(error))}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("appwrite-heroku: interrupted", file=sys.stderr)
        return 130
    return status


def _reader_went_away() -> int:
    """``appwrite-heroku budget | head -1``: the reader closed the pipe, which is no error of
    ours; exit as a program killed by SIGPIPE would (128 + 13), without a traceback.

    Why the redirect: Python flushes stdout once more at exit, which would raise (and print)
    again; pointing it at /dev/null first is what Python's own documentation recommends
    (library/signal, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
