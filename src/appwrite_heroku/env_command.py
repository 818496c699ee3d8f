"""`appwrite-heroku env --from FILE`: show the `_APP_*` settings an app's config vars give.

FILE is the JSON object `heroku config --json` prints (`-` reads stdin). Output is `KEY=value`
lines (or one JSON object with `--json`), secret values masked unless `--reveal`; warnings go
to stderr. Exit status: 0, or 1 when an add-on is not ready yet (what can be derived is still
printed), or 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping
from typing import TextIO

from .errors import EXIT_FAILED, EXIT_OK, AppwriteHerokuError, InputError
from .secrecy import MASK, Redactor, is_secret_name
from .settings import DEFAULT_BRIDGE_PORT, Derivation, derive

_EXPECTED = "expected the JSON object `heroku config --json` prints"


def read_config(path: str, stdin: TextIO | None = None) -> dict[str, str]:
    """The config vars in `path` (`-` = stdin), checked to be a JSON object of strings."""
    label = "standard input" if path == "-" else path
    try:
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise InputError(f"cannot read {label}: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{label} is not JSON ({error.msg} at line {error.lineno} column "
                         f"{error.colno}); {_EXPECTED}") from None
    if not isinstance(document, dict):
        raise InputError(f"{label} holds a JSON {type(document).__name__}, not an object; "
                         f"{_EXPECTED}")
    for name, value in document.items():
        if not isinstance(value, str):
            raise InputError(f"config var {name} in {label} is not a string; {_EXPECTED}")
    return document


def config_redactor(config: Mapping[str, str], derivation: Derivation | None = None) -> Redactor:
    """Knows every secret value the input holds, so no printed line can carry one."""
    redactor = Redactor()
    for name, value in config.items():
        if is_secret_name(name):
            redactor.add(value)
    if derivation is not None:
        for name in derivation.secret_keys:
            redactor.add(derivation.settings.get(name))
        if derivation.redis_upstream is not None:
            redactor.add(derivation.redis_upstream.password)
    return redactor


def render(settings: Mapping[str, str], secret_keys: frozenset[str], *, as_json: bool,
           reveal: bool) -> str:
    shown = {
        # An empty secret (`_APP_REDIS_PASS=''` behind the bridge) is shown: it hides nothing.
        name: settings[name] if reveal or not settings[name] or not _is_secret(name, secret_keys)
        else MASK
        for name in sorted(settings)
    }
    if as_json:
        return json.dumps(shown, indent=2, sort_keys=True) + "\n"
    lines = []
    for name, value in shown.items():
        text = value if value == MASK and not reveal else shlex.quote(value)
        lines.append(f"{name}={text}")
    return "".join(f"{line}\n" for line in lines)


def _is_secret(name: str, secret_keys: frozenset[str]) -> bool:
    return name in secret_keys or is_secret_name(name)


def run(args: argparse.Namespace, stdout: TextIO | None = None,
        stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    config = read_config(args.source)
    redactor = config_redactor(config)
    try:
        derivation = derive(config, hostname=args.hostname, bridge_port=args.bridge_port)
    except AppwriteHerokuError as error:
        # Messages name variables only; redacting again guards against a slip.
        raise type(error)(redactor.redact(str(error))) from None
    redactor = config_redactor(config, derivation)
    for warning in derivation.warnings:
        err.write(f"warning: {redactor.redact(warning)}\n")
    for name in derivation.missing_secrets:
        err.write(f"warning: {name} is not set; the release generates it once "
                  "(it must never change afterwards)\n")
    out.write(render(derivation.settings, derivation.secret_keys, as_json=args.json,
                     reveal=args.reveal))
    return EXIT_FAILED if derivation.not_ready else EXIT_OK


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError("must be a port number between 1 and 65535")
    return int(text)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `env`."""
    parser = subparsers.add_parser(
        "env",
        help="show the Appwrite settings derived from an app's config vars",
        description="Derive Appwrite's _APP_* settings from Heroku config vars "
        "(the JSON `heroku config --json` prints). Secrets print as **** unless --reveal. "
        "Exit status 1 when an add-on is not ready yet, 2 for bad input.",
    )
    parser.add_argument("--from", dest="source", required=True, metavar="FILE",
                        help="JSON file from `heroku config --json`; - reads standard input")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reveal", action="store_true", help="print secret values too")
    parser.add_argument("--hostname", metavar="HOST",
                        help="the app's host name (default: HEROKU_APP_DEFAULT_DOMAIN_NAME)")
    parser.add_argument("--bridge-port", type=_port, default=DEFAULT_BRIDGE_PORT, metavar="PORT",
                        help=f"local Redis bridge port (default {DEFAULT_BRIDGE_PORT})")
    parser.set_defaults(func=run)
