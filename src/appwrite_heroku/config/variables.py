"""The `_APP_*` names Appwrite reads at the pinned version, shipped with the package as data.

The settings engine may only emit names Appwrite really reads: a misspelt or retired name is
silently ignored by Appwrite and the dyno misbehaves later. The list is data (read from
Appwrite's sources at the tag) rather than code so that pinning a new version is a data change.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

PINNED_APPWRITE_VERSION = "1.9.6"


@cache
def appwrite_variables(version: str = PINNED_APPWRITE_VERSION) -> frozenset[str]:
    """Every variable name Appwrite `version` documents or reads (packaged data, no network)."""
    name = f"appwrite-variables-{version}.json"
    try:
        text = resources.files("appwrite_heroku.config").joinpath("data", name).read_text("utf-8")
    except FileNotFoundError:
        raise LookupError(f"no variable list is packaged for Appwrite {version}") from None
    document = json.loads(text)
    if document.get("appwrite_version") != version:
        raise LookupError(f"{name} does not describe Appwrite {version}")
    return frozenset(document["variables"])
