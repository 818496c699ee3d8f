"""The `appwrite-heroku` command: one parser, each subcommand owned by its domain module.

Each module listed in ``_COMMAND_MODULES`` exposes ``register(subparsers)``, which adds its
subcommand and sets ``func`` on the parsed namespace to a callable returning an exit status.
Errors of this project become one line on stderr with their exit status; no traceback.
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
from .errors import AppwriteHerokuError

# Imported lazily so that `launch` in a dyno does not pay for the release side's imports.
_COMMAND_MODULES = (
    "appwrite_heroku.config.env_command",  # env
    "appwrite_heroku.release.engine",  # deploy, plan
    "appwrite_heroku.dyno.bridge",  # redis-bridge
    "appwrite_heroku.dyno.launcher",  # launch
    "appwrite_heroku.dyno.patches",  # patch-appwrite
    "appwrite_heroku.config.budget",  # budget
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="appwrite-heroku",
        description="Deploy and run Appwrite on Heroku.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(build_parser(), argv)
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
