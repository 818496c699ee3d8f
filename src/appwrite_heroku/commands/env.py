"""`appwrite-heroku env --from FILE`: show the `_APP_*` settings an app's config vars give.

FILE is the JSON object `heroku config --json` prints (`-` reads stdin). Output is `KEY=value`
lines (or one JSON object with `--json`), secret values masked unless `--reveal`; warnings go
to stderr. Exit status: 0, or 1 when an add-on is not ready yet (what can be derived is still
printed), or 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TextIO

from ..config import inputs
from ..config.appetite import checked_skip
from ..config.settings import DEFAULT_BRIDGE_PORT, Derivation, derive
from ..display import safe_line, shell_text
from ..errors import EXIT_FAILED, EXIT_OK, AppwriteHerokuError, InputError
from ..secrecy import MASK, Redactor, config_secrets, is_secret


def config_redactor(config: Mapping[str, str], derivation: Derivation | None = None) -> Redactor:
    """Knows every secret value the input holds, so no printed line can carry one."""
    return Redactor(config_secrets(config)
                    + (derivation.secret_values() if derivation is not None else []))


def render(settings: Mapping[str, str], secret_keys: frozenset[str], *, as_json: bool,
           reveal: bool) -> str:
    shown = {
        # An empty secret (`_APP_REDIS_PASS=''` behind the bridge) is shown: it hides nothing.
        name: settings[name] if reveal or not settings[name]
        or not _is_secret(name, settings[name], secret_keys) else MASK
        for name in sorted(settings)
    }
    if as_json:
        # `##[` can only stand inside a JSON string, where `\u0023` is the same `#`.
        return json.dumps(shown, indent=2, sort_keys=True).replace("##[", "#\\u0023[") + "\n"
    lines = []
    for name, value in shown.items():
        text = value if value == MASK and not reveal else shell_text(value)
        lines.append(f"{name}={text}")
    return "".join(f"{line}\n" for line in lines)


def _is_secret(name: str, value: str, secret_keys: frozenset[str]) -> bool:
    return name in secret_keys or is_secret(name, value)


def run(args: argparse.Namespace, stdout: TextIO | None = None,
        stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    config = inputs.read_config_json(args.source, "--from")
    checked_skip(config)  # a dyno would run what a misspelt name meant to leave out
    redactor = config_redactor(config)
    try:
        derivation = derive(config, hostname=args.hostname, bridge_port=args.bridge_port)
    except AppwriteHerokuError as error:
        # Messages name variables only; redacting again guards against a slip.
        raise type(error)(redactor.redact(str(error))) from None
    redactor = config_redactor(config, derivation)
    for warning in derivation.warnings:
        err.write(f"warning: {safe_line(redactor.redact(warning))}\n")
    for name in derivation.missing_secrets:
        err.write(f"warning: {name} is not set; the release generates it once "
                  "(it must never change afterwards)\n")
    text = render(derivation.settings, derivation.secret_keys, as_json=args.json,
                  reveal=args.reveal)
    # Belt and braces: a secret that reached a setting by another road is still masked.
    out.write(text if args.reveal else redactor.redact(text))
    return EXIT_FAILED if derivation.not_ready else EXIT_OK


def _port(text: str) -> int:
    try:
        return inputs.port(text, "--bridge-port")
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (default: KEY=value lines)")
    parser.add_argument("--reveal", action="store_true",
                        help="print secret values too (default: masked as ****)")
    parser.add_argument("--hostname", metavar="HOST",
                        help="the app's host name (default: HEROKU_APP_DEFAULT_DOMAIN_NAME)")
    parser.add_argument("--bridge-port", type=_port, default=DEFAULT_BRIDGE_PORT, metavar="PORT",
                        help=f"local Redis bridge port (default {DEFAULT_BRIDGE_PORT})")
    parser.set_defaults(func=run)
