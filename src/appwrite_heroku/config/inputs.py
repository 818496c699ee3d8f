"""The edge: every value a user, a workflow or Heroku hands over, checked by one rule.

The CLI (options, `--config`, `--config-from`, `env --from`, the environment), the Action
(`INPUT_*`, `GITHUB_REF`) and the dyno side (config vars) call the same functions here, so a
value is refused the same way whichever door it came through: ``InputError`` (exit status 2),
one line naming the input, never its value when that could be secret, before anything is
written. Each rule returns the value in the form the rest of the code uses.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from ..display import quoted
from ..errors import InputError
from .heroku_types import APP_NAME

# Heroku accepts config var keys matching `^\w+$` only (422 otherwise); ASCII, no line break.
_CONFIG_KEY = re.compile(r"[A-Za-z0-9_]+")
_IMAGE_TAG = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")
# A git tag name as the release record can hold it (no spaces, `=`, `~^:?*[\` or controls).
_TAG = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+/-]{0,127}")
_COMMIT = re.compile(r"[0-9A-Fa-f]{4,64}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?(?:/[\x21-\x7e]*)?")
TRUE = ("true", "True", "TRUE")  # the YAML 1.2 core booleans, as the actions toolkit reads
FALSE = ("false", "False", "FALSE")
MAX_SECONDS = 86400.0


def app_name(value: str, label: str = "app name", *,
             hint: str = "pass the Heroku app's name (--app NAME)") -> str:
    """A Heroku app name; `hint` says where to give it (the CLI's flag, the Action's input)."""
    if not value:
        raise InputError(f"{label} is empty: {hint}")
    if not APP_NAME.fullmatch(value):
        raise InputError(f"{label} {quoted(value)} is not a Heroku app name (lower-case letters, "
                         "digits and dashes, 3 to 30 characters, starting with a letter)")
    return value


def api_key(value: str, label: str = "HEROKU_API_KEY") -> str:
    """A credential sent in an HTTP header: printable ASCII without spaces. Never echoed."""
    key = value.strip()
    if not key:
        raise InputError(f"{label} is empty: create a key with `heroku authorizations:create "
                         "-d appwrite-heroku`")
    if not all(33 <= ord(char) < 127 for char in key):
        raise InputError(f"{label} holds a character an HTTP header cannot carry (a line "
                         "break, a space, a control or non-ASCII character): copy the key "
                         "again, without quotes or line breaks")
    return key


def seconds(value: str | float, label: str, high: float = MAX_SECONDS) -> float:
    """A finite number of seconds above 0 (`nan` and `inf` are numbers to Python)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not 0 < number <= high:
        raise InputError(f"{label} must be a number of seconds above 0 and at most {high:g}, "
                         f"not {quoted(str(value))}")
    return number


def number(value: str, label: str, low: float, high: float) -> float:
    try:
        result = float(value)
    except ValueError:
        result = math.nan
    if not math.isfinite(result) or not low <= result <= high:
        raise InputError(f"{label} must be a number from {low:g} to {high:g}, "
                         f"not {quoted(value)}")
    return result


def whole_number(text: str) -> bool:
    """ASCII digits only. str.isdigit() also takes "²" (int() refuses it) and "٣" (int() reads
    it as 3): a value Heroku's config shows one way must not mean another to us."""
    return text.isascii() and text.isdigit()


def port(value: str | int, label: str) -> int:
    """A TCP port, 1 to 65535: port 0 means "any" to the OS, never what a user meant."""
    text = str(value).strip()
    if not whole_number(text) or not 0 < int(text) < 65536:
        raise InputError(f"{label} must be a port number from 1 to 65535, not {quoted(text)}")
    return int(text)


def config_key(key: object, where: str) -> str:
    if not isinstance(key, str) or not _CONFIG_KEY.fullmatch(key):
        shown = quoted(key) if isinstance(key, str) else "a key that is not text"
        raise InputError(f"{where}: config var name {shown} is not valid; Heroku accepts only "
                         "ASCII letters, digits and underscores (e.g. SMTP_HOST)")
    return key


def config_value(key: str, value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: config var {key} is not a string; quote it")
    if "\0" in value:
        raise InputError(f"{where}: config var {key} holds a NUL character, which no "
                         "environment variable can carry")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: config var {key} is not valid Unicode text (a lone "
                         "surrogate escape); Heroku stores UTF-8") from None
    return value


def config_vars(data: Mapping[Any, Any], where: str) -> dict[str, str]:
    """Config vars as Heroku holds them: ASCII word keys, string values without NUL."""
    return {config_key(key, where): config_value(str(key), value, where)
            for key, value in data.items()}


def hostname(value: str, label: str) -> str:
    """A DNS host name (no scheme, port or path), lower-cased."""
    host = value.strip().lower().rstrip(".")
    if not _HOSTNAME.fullmatch(host):
        raise InputError(f"{label} must be a host name like my-app.herokuapp.com "
                         "(no scheme, port, path or spaces)")
    return host


def appwrite_version(value: str, label: str = "--appwrite-version") -> str:
    if not _IMAGE_TAG.fullmatch(value):
        raise InputError(f"{label} {quoted(value)} is not an image tag (e.g. 1.9.6)")
    return value


def tag(value: str | None, label: str = "--tag") -> str | None:
    if value is None:
        return None
    if not _TAG.fullmatch(value) or ".." in value or value.endswith((".", "/", ".lock")):
        raise InputError(f"{label} {quoted(value)} is not a plain git tag name (letters, "
                         "digits, `.`, `_`, `+`, `-`, `/`; e.g. v1.2.3)")
    return value


def tag_pattern(value: str, label: str = "--tag-pattern") -> str:
    if not value or len(value) > 128 or not all(33 <= ord(char) < 127 for char in value):
        raise InputError(f"{label} must be a glob of printable ASCII without spaces "
                         "(e.g. v*)")
    return value


def commit(value: str | None, label: str = "--commit") -> str | None:
    if value is None:
        return None
    if not _COMMIT.fullmatch(value):
        raise InputError(f"{label} {quoted(value)} is not a commit SHA (4 to 64 hex digits)")
    return value


def choice(value: str, label: str, choices: Iterable[str]) -> str:
    allowed = tuple(choices)
    if value not in allowed:
        raise InputError(f"{label} must be one of {', '.join(allowed)}, not {quoted(value)}")
    return value


def boolean(value: str, label: str) -> bool:
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InputError(f"{label} must be true or false, not {quoted(value)}")


def plain_text(value: str, label: str, limit: int = 255) -> str:
    """A name shown in logs and sent to an API (a GitHub environment): one printable line."""
    if not value or len(value) > limit or not value.isprintable():
        raise InputError(f"{label} must be one line of printable text, 1 to {limit} "
                         "characters")
    return value


def http_url(value: str, label: str) -> str:
    """An endpoint override (`HEROKU_API_URL`, …): `http(s)://host[:port][/path]`."""
    if not _HTTP_URL.fullmatch(value):
        raise InputError(f"{label} must be an http(s) URL like https://api.heroku.com")
    return value.rstrip("/")


_EXPECTED = "expected the JSON object `heroku config --json` prints"


def read_config_json(path: str, label: str, stdin: TextIO | None = None) -> dict[str, str]:
    """The config vars in a `heroku config --json` file (`-` = stdin), checked as Heroku's."""
    where = f"{label} {'standard input' if path == '-' else path}"
    try:
        if path == "-":
            raw: str | bytes = sys.stdin.buffer.read() if stdin is None else stdin.read()
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except OSError as error:
        raise InputError(f"cannot read {where}: {error.strerror or 'unreadable'}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {where}: not UTF-8 text; {_EXPECTED}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{where} is not JSON ({error.msg} at line {error.lineno} column "
                         f"{error.colno}); {_EXPECTED}") from None
    except RecursionError:
        raise InputError(f"{where} is nested too deeply; {_EXPECTED}") from None
    if not isinstance(document, dict):
        raise InputError(f"{where} holds a JSON {type(document).__name__}, not an object; "
                         f"{_EXPECTED}")
    return config_vars(document, where)
