"""Which values are secret, and how output is kept free of them.

A value is secret when its name says so (``*_PASSWORD``, ``*_URL``, Appwrite's DSN-style
settings) or when its shape does (credentials in a URL's user info, a secret query parameter, a
PEM private key): ``is_secret(name, value)`` is the one recogniser every printer asks.

Every printer (CLI, launcher logs, release engine, Action masks, summary, outputs, error
messages) passes text through a ``Redactor`` that knows the secret values seen so far, in every
form a message can carry them: raw, Python ``repr`` (also of the UTF-8 or Latin-1 bytes, as
http.client quotes a header), JSON-escaped, percent-encoded and workflow-command-escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from urllib.parse import quote, quote_plus, unquote

MASK = "****"

# Names whose values are secret wherever they appear (config vars or `_APP_*` settings).
# Appwrite's DSN-style settings carry credentials in a URL (`_APP_SMS_PROVIDER=sms://user:
# secret@twilio`, `_APP_LOGGING_CONFIG=sentry://key@project`, `_APP_CONNECTIONS_*`, `*_DSN`);
# `_APP_CONNECTIONS_MAX` and `_APP_CONNECTIONS_RECONNECT_*` are plain numbers.
_SECRET_NAME = re.compile(
    r"(PASS|PASSWD|PASSWORD|PASSPHRASE|SECRET|KEY|TOKEN|PRIVATE|CREDENTIALS?)(_|$)"
    r"|_URL$|_DSNS?$|^_APP_CONNECTIONS_(?!MAX$|RECONNECT_)"
    r"|^_APP_(EXPERIMENT_)?LOGGING_CONFIG|^_APP_SMS_PROVIDER$",
    re.IGNORECASE,
)
# A URL-like value with user info (`scheme://user:password@host`, `sentry://key@project`):
# a scheme (a letter, then letters, digits, `+ . -`), `://`, then user info (no space, `/ ? #
# @`) ended by `@`. Linear time: a run of scheme characters is only tried from its first
# character (the lookbehind) and consumed whole, never given back (a lookahead and a back
# reference: an atomic group Python 3.10 can run); the user info likewise. Written as
# `[A-Za-z][A-Za-z0-9+.-]*://…` and run with re.search, the scheme was retried at every
# position of a long run of letters: quadratic, 27 s for a 100 KB value.
_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?=(?P<scheme>[A-Za-z0-9+.\-]*))(?P=scheme)://"
    r"(?=(?P<info>[^\s/?#@]+))(?P=info)@")
_LETTER = re.compile(r"[A-Za-z]")
# A query or DSN parameter that names a credential (`?password=…`, `;AccountKey=…`).
_SECRET_PARAM = re.compile(
    r"(?:^|[?&;,\s])[\w.-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key"
    r"|account[_-]?key|sig|signature)=[^&;,\s]",
    re.IGNORECASE,
)
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
# Values too common to be worth masking: masking `true` would turn every `true` in a log into
# `****` and hide nothing (GitHub masks every occurrence of a registered value).
_COMMON = frozenset({
    "true", "false", "yes", "no", "on", "off", "none", "null", "enabled", "disabled",
    "enable", "disable", "default", "local", "production", "development", "test",
})
_MIN_LENGTH = 4


def is_secret_name(name: str) -> bool:
    """Add-on URLs carry passwords, so every `*_URL` config var counts as secret."""
    return bool(_SECRET_NAME.search(name))


def userinfos(value: str) -> Iterator[str]:
    """The user info of every URL in `value` (see `_USERINFO`), in linear time."""
    for match in _USERINFO.finditer(value):
        if _LETTER.search(match.group("scheme")):  # a scheme starts with a letter
            yield match.group("info")


def is_secret_value(value: str) -> bool:
    """A value whose shape says it holds a credential, whatever it is called."""
    return bool(next(userinfos(value), None) is not None or _SECRET_PARAM.search(value)
                or _PEM_PRIVATE.search(value))


def is_secret(name: str, value: str | None) -> bool:
    """The one rule: secret by name or by shape."""
    return is_secret_name(name) or (value is not None and is_secret_value(value))


def maskable(value: str | None) -> bool:
    """Worth registering as a secret: long enough and not an everyday word."""
    return bool(value) and len(value or "") >= _MIN_LENGTH and (
        (value or "").strip().lower() not in _COMMON)


def secret_parts(value: str) -> list[str]:
    """Pieces of a secret value that can be printed on their own: the password (or key) in a
    URL's user info, raw and percent-decoded (`_APP_DB_PASS` is the decoded password)."""
    parts: list[str] = []
    for info in userinfos(value):
        user, sep, password = info.partition(":")
        piece = password if sep else user
        parts += [info, piece, unquote(piece), unquote(info)]
    return [part for part in parts if maskable(part)]


def encodings(value: str) -> Iterator[str]:
    """Every form in which a message can carry `value`."""
    yield value
    yield repr(value)[1:-1]
    yield json.dumps(value)[1:-1]
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield quote(value, safe="")
    yield quote(value)
    yield quote_plus(value)
    # The runner's workflow-command escaping (`%25`, `%0D`, `%0A`).
    yield value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    for codec in ("utf-8", "latin-1"):
        try:
            yield repr(value.encode(codec))[2:-1]
        except UnicodeEncodeError:
            continue


def config_secrets(config: Mapping[str, str]) -> list[str]:
    """What to register for masking from config vars: every secret value, and the pieces of it
    that can be printed on their own (a URL's password reappears as `_APP_DB_PASS`). One list
    for every printer: the launcher's and `env`'s redactors, the engine's and the Action's masks.
    """
    found: list[str] = []
    for name, value in config.items():
        if value and is_secret(name, value):
            found += [value, *secret_parts(value)]
    return found


class Redactor:
    """Replaces every registered secret value, in each of its encodings, with ``****``."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets: set[str] = set()
        self._forms: set[str] = set()
        for value in secrets or []:
            self.add(value)

    def add(self, value: str | None) -> None:
        if value is None or not maskable(value):
            return
        self._secrets.add(value)
        pieces = [value, *value.splitlines(), *secret_parts(value)]
        for piece in pieces:
            if maskable(piece):
                self._forms.update(form for form in encodings(piece) if maskable(form))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def redact(self, text: str) -> str:
        for form in sorted(self._forms, key=len, reverse=True):
            if form in text:
                text = text.replace(form, MASK)
        return text
