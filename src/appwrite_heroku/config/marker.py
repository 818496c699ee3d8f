"""The managed marker: which `_APP_*` config vars the release engine wrote, so that a value
still as written is derived afresh at every boot and any other is a hand-set value that wins.

The release engine writes the marker `APPWRITE_LITE_MANAGED` (``KEY:digest`` for each key it
wrote) beside the derived values. A digest is an HMAC keyed with the app's
`_APP_OPENSSL_KEY_V1`, one of the two secrets generated once and never covered by the marker.
Pure functions over the config mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

MARKER_VAR = "APPWRITE_LITE_MANAGED"
OPENSSL_KEY = "_APP_OPENSSL_KEY_V1"
EXECUTOR_SECRET = "_APP_EXECUTOR_SECRET"  # noqa: S105 (a variable name)
# Generated once by the release engine, never derived, never changed by us.
GENERATED_SECRETS = (OPENSSL_KEY, EXECUTOR_SECRET)

_DIGEST_HEX = 16
_MARKER_FALLBACK_KEY = b"appwrite-heroku managed marker v1"
_MARKER_ENTRY = re.compile(rf"^(_APP_[A-Z0-9_]+):([0-9a-f]{{{_DIGEST_HEX}}})$")


def marker_key(config: Mapping[str, str]) -> bytes:
    """The HMAC key of the marker: the app's `_APP_OPENSSL_KEY_V1`.

    It is stable by contract (generated once, never changed), and secret, so the marker (a config
    var that tools may print) reveals nothing about the values it covers: no offline guessing of a
    weak hand-made database password from a plain hash. The fallback only serves an app that has
    no key yet, in which case the marker is rebuilt with the new key in the same PATCH.
    """
    key = (config.get(OPENSSL_KEY) or "").strip()
    return key.encode() if key else _MARKER_FALLBACK_KEY


def marker_digest(key: bytes, name: str, value: str) -> str:
    """First 16 hex of HMAC-SHA256 over name and value: enough to tell any change apart."""
    message = name.encode() + b"\0" + value.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:_DIGEST_HEX]


def build_marker(key: bytes, values: Mapping[str, str]) -> str:
    return ",".join(f"{name}:{marker_digest(key, name, values[name])}" for name in sorted(values))


def parse_marker(text: str) -> dict[str, str] | None:
    """`KEY:digest,...` → {KEY: digest}; None when the text is not a marker we wrote."""
    entries: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _MARKER_ENTRY.match(item)
        if not match:
            return None
        entries[match.group(1)] = match.group(2)
    return entries


def managed_keys(config: Mapping[str, str]) -> tuple[frozenset[str], list[str]]:
    """Keys present in config whose value is still exactly what the release engine wrote."""
    text = config.get(MARKER_VAR)
    if text is None or not text.strip():
        return frozenset(), []
    entries = parse_marker(text)
    if entries is None:
        return frozenset(), [f"{MARKER_VAR} is not in the KEY:digest form this tool writes; "
                             "every _APP_* config var is treated as set by hand"]
    key = marker_key(config)
    ours = frozenset(
        name for name, digest in entries.items()
        if name in config and name not in GENERATED_SECRETS
        and hmac.compare_digest(marker_digest(key, name, config[name]), digest)
    )
    return ours, []


__all__ = [
    "EXECUTOR_SECRET",
    "GENERATED_SECRETS",
    "MARKER_VAR",
    "OPENSSL_KEY",
    "build_marker",
    "managed_keys",
    "marker_digest",
    "marker_key",
    "parse_marker",
]
