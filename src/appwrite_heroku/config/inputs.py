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
from urllib.parse import SplitResult, urlsplit

from ..display import quoted
from ..errors import InputError
from . import versions
from .heroku_types import APP_NAME

# Heroku accepts config var keys matching `^\w+$` only (422 otherwise); ASCII, no line break.
_CONFIG_KEY = re.compile(r"[A-Za-z0-9_]+")
_IMAGE_TAG = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")
# A git tag name as the release record can hold it (no spaces, `=`, `~^:?*[\` or controls).
_TAG = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+/-]{0,127}")
_COMMIT = re.compile(r"[0-9A-Fa-f]{4,64}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
_URL_HOST = re.compile(r"[A-Za-z0-9.\-]+")
# Numbers as people write them: ASCII digits, one optional fraction. float() also reads
# "\u0661\u0660" (Arabic-Indic digits: 10), "1_0", " 4 ", "1e3" and "nan": a value Heroku's
# config or a workflow shows one way must not mean another to us.
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?", re.ASCII)
TRUE = ("true", "True", "TRUE")  # the YAML 1.2 core booleans, as the actions toolkit reads
FALSE = ("false", "False", "FALSE")
MAX_SECONDS = 86400.0

# Upper bounds on sizes (docs/bad-input.md). Heroku holds at most 32 KB of config vars per
# app, names and values together (Dev Center, "Configuration and Config Vars"): no single value
# and no config file can need more, and every recogniser then runs over at most that much.
CONFIG_BYTES = 32 * 1024
# A config file or text: 32 KB of config vars even when every character is JSON-escaped and
# `heroku config --json` indents each line.
FILE_BYTES = 256 * 1024
HEADER_CHARS = 1024  # an API key or token (Heroku's are 36 to 70 characters)
URL_CHARS = 2048  # an endpoint override

# The release engine's own config vars: written by it, read back by it and by every dyno.
# Setting one by hand would change what the engine believes (marker.MARKER_VAR,
# tag_guard.RELEASE_VAR, budget.PLANS_VAR; tests/test_hardening_19.py checks the names).
RESERVED = {
    "APPWRITE_LITE_MANAGED": "it lists the settings the engine wrote (by digest); another value "
                             "makes every managed value count as set by hand, so credential "
                             "rotations would no longer be followed",
    "APPWRITE_LITE_RELEASE": "it records the tag and Appwrite version that run; the tag guard "
                             "and the no-op check read it",
    "APPWRITE_LITE_PLANS": "it records the add-on plans and dynos the app had at its last "
                           "deploy, which every dyno sizes itself against; to judge other "
                           "plans use `appwrite-heroku budget --formation ... --redis-plan ... "
                           "--db-plan ...`",
}
OPENSSL_KEY = "_APP_OPENSSL_KEY_V1"


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
    """A credential sent in an HTTP header: printable ASCII without spaces, taken exactly as
    given (a line break around it is refused, not stripped: it shows a copy went wrong).
    Never echoed."""
    if not value.strip():
        raise InputError(f"{label} is empty: create a key with `heroku authorizations:create "
                         "-d appwrite-heroku`")
    if len(value) > HEADER_CHARS:
        raise InputError(f"{label} is longer than {HEADER_CHARS} characters, which no Heroku "
                         "or GitHub key is: copy the key again")
    if not all(33 <= ord(char) < 127 for char in value):
        raise InputError(f"{label} holds a character an HTTP header cannot carry (a line "
                         "break or space, also at its start or end, a control or non-ASCII "
                         "character): copy the key again, without quotes or line breaks")
    return value


def _decimal(value: str | float) -> float:
    """ASCII digits with an optional fraction (see `_DECIMAL`); NaN for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, str) and _DECIMAL.fullmatch(value) else math.nan


def seconds(value: str | float, label: str, high: float = MAX_SECONDS) -> float:
    """A finite number of seconds above 0, written with ASCII digits (`nan`, `inf`, `1_0` and
    Arabic-Indic digits are numbers to Python's float(), not to a reader)."""
    number = _decimal(value)
    if not math.isfinite(number) or not 0 < number <= high:
        raise InputError(f"{label} must be a number of seconds above 0 and at most {high:g}, "
                         f"not {quoted(str(value))}")
    return number


def number(value: str, label: str, low: float, high: float) -> float:
    """A number from `low` to `high`, by the same rule as `seconds`."""
    result = _decimal(value)
    if not math.isfinite(result) or not low <= result <= high:
        raise InputError(f"{label} must be a number from {low:g} to {high:g}, "
                         f"not {quoted(value)}")
    return result


_WHOLE_DIGITS = 18  # int() refuses more than 4300 digits with a ValueError of its own


def whole_number(text: str) -> bool:
    """ASCII digits only, and few enough for int(). str.isdigit() also takes "²" (int() refuses
    it) and "٣" (int() reads it as 3): a value Heroku's config shows one way must not mean
    another to us."""
    return text.isascii() and text.isdigit() and len(text.lstrip("0")) <= _WHOLE_DIGITS


def whole(value: str | int, label: str, low: int, high: int, fix: str = "") -> int:
    """The one rule for counts and ports: a whole number of ASCII digits from `low` to `high`
    (bounds a reader would call sane: docs/bad-input.md); `fix` says what to do instead."""
    text = str(value)
    if not whole_number(text) or not low <= int(text) <= high:
        raise InputError(f"{label} must be a whole number from {low} to {high}, not "
                         f"{quoted(text)}{'; ' + fix if fix else ''}")
    return int(text)


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


def json_kind(value: object) -> str:
    """What a parsed JSON or YAML value is, in the document's words (not Python's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "not text"


def config_value(key: str, value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: config var {key} is {json_kind(value)}, not a string; "
                         "quote it")
    if len(value) > CONFIG_BYTES or len(value.encode("utf-8", "surrogatepass")) > CONFIG_BYTES:
        raise InputError(f"{where}: config var {key} is longer than {CONFIG_BYTES // 1024} KB, "
                         "more than Heroku holds for all of an app's config vars together")
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
    """Config vars as Heroku holds them: ASCII word keys, string values without NUL, at most
    32 KB together."""
    checked = {config_key(key, where): config_value(str(key), value, where)
               for key, value in data.items()}
    total = sum(len(key) + len(value.encode("utf-8")) for key, value in checked.items())
    if total > CONFIG_BYTES:
        raise InputError(f"{where}: the config vars take {total // 1024} KB; Heroku holds at "
                         f"most {CONFIG_BYTES // 1024} KB per app (names and values together)")
    return checked


def config_pairs(pairs: Iterable[tuple[str, str]], where: str) -> dict[str, str]:
    """`NAME=value` pairs in the order given, each name once: a second value for a name is a
    mistake to show, not one to settle silently by taking the last."""
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            raise InputError(f"{where} gives {key} twice; give each config var once")
        result[key] = value
    return result


def user_config(extra: Mapping[str, str], where: str) -> dict[str, str]:
    """The user's own config vars (`--config`, the Action's `config`): Heroku's rule, and none
    of the engine's own variables (`RESERVED`), refused before anything is shown."""
    checked = config_vars(extra, where)
    for name in checked:
        if name in RESERVED:
            raise InputError(f"{where}: {name} is the release engine's own config var and "
                             f"cannot be set: {RESERVED[name]}")
    return checked


def openssl_key_kept(current: Mapping[str, str], extra: Mapping[str, str], where: str) -> None:
    """The user's `_APP_OPENSSL_KEY_V1`, if any, against the app's: a key may be brought to an
    app that has none, never changed or blanked (Appwrite encrypts stored secrets with it)."""
    if OPENSSL_KEY not in extra or current.get(OPENSSL_KEY) == extra[OPENSSL_KEY]:
        return
    if not extra[OPENSSL_KEY].strip():
        raise InputError(f"{where}: {OPENSSL_KEY} is blank; leave it out (the release "
                         "generates one when the app has none)")
    if OPENSSL_KEY in current:
        raise InputError(f"{where}: {OPENSSL_KEY} would change the app's key, which would make "
                         "every secret Appwrite stored with it (API keys, OAuth secrets, "
                         "passwords) unreadable; leave it out")


def hostname(value: str, label: str) -> str:
    """A DNS host name (no scheme, port, path or surrounding space), lower-cased."""
    host = value.lower().rstrip(".")
    if not _HOSTNAME.fullmatch(host):
        raise InputError(f"{label} must be a host name like my-app.herokuapp.com "
                         "(no scheme, port, path or spaces)")
    return host


def appwrite_version(value: str, label: str = "--appwrite-version") -> str:
    """An Appwrite version this project has modelled (its settings, processes and patch were
    read from that version's sources): `versions.modelled()`."""
    if not _IMAGE_TAG.fullmatch(value):
        raise InputError(f"{label} {quoted(value)} is not an image tag (e.g. 1.9.6)")
    return versions.modelled_appwrite(value, label)


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


def http_url(value: str, label: str, example: str = "https://api.heroku.com") -> str:
    """An endpoint override (`HEROKU_API_URL`, …): `http(s)://host[:port][/path]`, the host a
    DNS name, an IPv4 address or a bracketed IPv6 one, the port 1 to 65535."""
    wrong = InputError(f"{label} must be an http(s) URL like {example}")
    if len(value) > URL_CHARS or not value.isascii() or any(
            char.isspace() or not char.isprintable() for char in value):
        raise wrong
    try:
        parts = urlsplit(value)
        port_number, host = parts.port, parts.hostname or ""
    except ValueError:
        raise wrong from None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or port_number == 0:
        raise wrong
    if parts.netloc.startswith("["):
        if not _ipv6(host):
            raise wrong
    elif not _URL_HOST.fullmatch(host):
        raise wrong
    if parts.netloc and not value.startswith(f"{parts.scheme}://{parts.netloc}"):
        raise wrong
    return value.rstrip("/")


# --- an add-on's config vars (every service family reads them through these) ---------------


def present(config: Mapping[str, str], name: str) -> str | None:
    """The value of `name` as it is, or None when unset or blank (app.json leaves blanks)."""
    value = config.get(name)
    if value is None or not value.strip():
        return None
    return value


def exact(config: Mapping[str, str], name: str) -> str | None:
    """An add-on's value as `present` gives it, refused when a space or line break surrounds
    it: Heroku keeps a config var exactly as it was set, so a stray newline was pasted, and
    quietly stripping it would leave the config saying one thing and Appwrite doing another."""
    value = present(config, name)
    if value is not None and value != value.strip():
        raise InputError(f"{name} has a space or line break at its start or end; set it again "
                         f"without (`heroku config:set {name}=...`)")
    return value


def addon_vars(config: Mapping[str, str], names: tuple[str, ...], addon: str) -> dict[str, str]:
    """All of an add-on's variables (each as `exact` gives it), or one line naming the missing."""
    missing = [name for name in names if not present(config, name)]
    if missing:
        raise InputError(
            f"the {addon} add-on's {', '.join(missing)} is missing; re-attach the add-on "
            f"(`heroku addons:attach`) or unset its other variables"
        )
    return {name: exact(config, name) or "" for name in names}


def service_url(url: str, source: str, kind: str,
                expected: str) -> tuple[SplitResult, int | None, str | None]:
    """urlsplit, with a bad port or host turned into our one-line error. urllib's own messages
    can quote the URL (and so its password): they never reach the user."""
    text = url
    if len(text) > CONFIG_BYTES:
        raise InputError(f"{source} is longer than {CONFIG_BYTES // 1024} KB, more than "
                         f"Heroku holds for all of an app's config vars; {expected}")
    # urlsplit silently drops tabs and line breaks anywhere in a URL (bpo-43882): a password
    # with a raw newline would lose it. Refused here instead, as is any other control character
    # and a space or line break around the URL (taken as it is, never stripped).
    if any(char.isspace() or not char.isprintable() for char in text):
        raise InputError(f"{source} holds a space, line break or control character (also at "
                         f"its start or end); percent-encode it (%0A for a newline) or remove "
                         f"it; {expected}")
    try:
        parts = urlsplit(text)
        port_number = parts.port
        hostname = parts.hostname
    except ValueError:
        raise InputError(f"{source} is not a valid {kind} URL; {expected}") from None
    if port_number == 0:
        # `port or default` would quietly turn an explicit :0 into the default port.
        raise InputError(f"{source} names port 0; {expected}")
    return parts, port_number, hostname


def _ipv6(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


_EXPECTED = "expected the JSON object `heroku config --json` prints"


def _too_large(where: str, what: str) -> InputError:
    return InputError(f"{where} is larger than {FILE_BYTES // 1024} KB; Heroku holds at most "
                      f"{CONFIG_BYTES // 1024} KB of config vars per app; {what}")


def bounded_text(text: str, where: str, what: str) -> str:
    """A config text (the Action's `config` input) no bigger than a config file may be."""
    if len(text) > FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > FILE_BYTES:
        raise _too_large(where, what)
    return text


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's `object_pairs_hook`: an object naming a key twice is refused (json.loads would
    keep the last value silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Duplicate(key)
        found[key] = value
    return found


def _read_bounded(path: str, stdin: TextIO | None) -> str | bytes:
    """At most FILE_BYTES + 1 of the file (`-` = stdin): `/dev/zero` or a huge file is
    answered at once, never read to its end."""
    if path == "-":
        return sys.stdin.buffer.read(FILE_BYTES + 1) if stdin is None else stdin.read(
            FILE_BYTES + 1)
    with open(path, "rb") as handle:
        return handle.read(FILE_BYTES + 1)


def read_config_json(path: str, label: str, stdin: TextIO | None = None) -> dict[str, str]:
    """The config vars in a `heroku config --json` file (`-` = stdin), checked as Heroku's."""
    where = f"{label} {'standard input' if path == '-' else path}"
    try:
        raw = _read_bounded(path, stdin)
        if len(raw) > FILE_BYTES:
            raise _too_large(where, _EXPECTED)
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except OSError as error:
        raise InputError(f"cannot read {where}: {error.strerror or 'unreadable'}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {where}: not UTF-8 text; {_EXPECTED}") from None
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise InputError(f"{where} is not JSON ({error.msg} at line {error.lineno} column "
                         f"{error.colno}); {_EXPECTED}") from None
    except RecursionError:
        raise InputError(f"{where} is nested too deeply; {_EXPECTED}") from None
    except _Duplicate as duplicate:
        raise InputError(f"{where} names {quoted(duplicate.key)} twice; Heroku holds one "
                         "value per config var: keep one") from None
    if not isinstance(document, dict):
        raise InputError(f"{where} holds {json_kind(document)}, not a JSON object; "
                         f"{_EXPECTED}")
    return config_vars(document, where)
