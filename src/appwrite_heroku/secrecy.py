"""Which values are secret, and how output is kept free of them.

Every printer in the project (CLI, launcher logs, release engine, Action) passes text through a
``Redactor`` that knows the secret values seen so far, so a secret that slips into an error
message from a library is still replaced before it is printed.
"""

from __future__ import annotations

import re

MASK = "****"

# Names whose values are secret wherever they appear (config vars or `_APP_*` settings).
# `_APP_CONNECTIONS_*`, `*_DSN` and `_APP_LOGGING_CONFIG` hold connection strings with passwords.
_SECRET_NAME = re.compile(
    r"(PASS|PASSWORD|SECRET|KEY|TOKEN|PRIVATE|CREDENTIALS?)(_|$)|_URL$|_DSNS?$"
    r"|^_APP_CONNECTIONS_|^_APP_LOGGING_CONFIG",
    re.IGNORECASE,
)
def is_secret_name(name: str) -> bool:
    """Add-on URLs carry passwords, so every `*_URL` config var counts as secret."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Replaces every registered secret value in text with ``****``."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets: set[str] = set()
        for value in secrets or []:
            self.add(value)

    def add(self, value: str | None) -> None:
        # Very short values would mask ordinary words; none of our secrets are that short.
        if value and len(value) >= 4:
            self._secrets.add(value)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def redact(self, text: str) -> str:
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text
