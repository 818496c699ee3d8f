"""The settings engine: Heroku config vars in, Appwrite `_APP_*` settings out.

Pure functions over a mapping of config vars; no network, no environment, no clock.
CONTRACT (used by the launcher, the release engine and the Action; keep these names):

    derive(config, *, hostname=None, bridge_port=DEFAULT_BRIDGE_PORT) -> Derivation
    config_patch(current, derivation, generated) -> dict[str, str | None]

`derive` raises ``InputError`` for malformed input (the message names the variable, never a
secret) and reports a JawsDB placeholder as ``Derivation.not_ready`` rather than an error.

Each add-on family (redis, database, storage, mail) detects, parses and chooses its own
add-on and gives its `_APP_*` settings and warnings; `derive` composes them, top to bottom,
with the defaults, the domain and the console's warnings.

Precedence: the release engine writes derived `_APP_*` values into config vars together with the
marker `APPWRITE_LITE_MANAGED` (``KEY:digest`` for each key it wrote; see marker.py). A key whose
config value still matches its digest is ours and is derived afresh from the add-ons at every
boot, so a rotated add-on URL takes effect at the next restart; any other `_APP_*` value was set
by hand and wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InputError
from ..secrecy import config_secrets, is_secret
from . import database, inputs, mail, redis, storage
from .inputs import present
from .marker import (
    EXECUTOR_SECRET,
    GENERATED_SECRETS,
    MARKER_VAR,
    OPENSSL_KEY,
    build_marker,
    managed_keys,
    marker_key,
)
from .redis import RedisUpstream
from .variables import appwrite_variables

DEFAULT_BRIDGE_PORT = 6379


# What every Heroku dyno needs whatever the add-ons (Appwrite's code defaults differ).
LITE_DEFAULTS: dict[str, str] = {
    "_APP_ENV": "production",
    # Usage API off; the launcher still drains the usage queue (it is filled regardless).
    "_APP_USAGE_STATS": "disabled",
    "_APP_STORAGE_ANTIVIRUS": "disabled",  # no ClamAV on a dyno
    # Heroku's router terminates TLS and sets X-Forwarded-Proto / X-Forwarded-For.
    "_APP_OPTIONS_FORCE_HTTPS": "enabled",
    "_APP_TRUSTED_HEADERS": "x-forwarded-for",
    # Every API worker "safe": app/http.php:109-163 (1.9.6) keeps floor(80 % of the workers)
    # safe and, when all are busy, hands a request to rand(0, safe - 1); with the one worker a
    # small plan sizes, that is rand(0, -1), -1 half the time, and Swoole drops the request
    # (nginx: 502). "Risky" requests are Function executions, which cannot run on Heroku.
    "_APP_RISKY_WORKERS_PERCENT": "100",
    # Functions and Sites need a Docker socket (impossible on Heroku). An EMPTY allow-list means
    # "every runtime" at 1.9.6, so the lists name no real runtime: none can be picked.
    "_APP_FUNCTIONS_RUNTIMES": "none",
    "_APP_SITES_RUNTIMES": "none",
    # What Appwrite's installer writes (every app/config/variables.php default goes into its
    # .env: src/Appwrite/Platform/Tasks/Install.php:397-418) where Appwrite's code reads unset
    # otherwise. Unset, the upload limit is 0: every new bucket gets maximumFileSize 0
    # (app/http.php:317, Storage/Http/Buckets/Create.php:70) and every upload is refused
    # (Buckets/Files/Create.php:224-228, storage_invalid_file_size). variables.php:611.
    "_APP_STORAGE_LIMIT": "30000000",
    # variables.php:620; the code's fallback APP_STORAGE_READ_BUFFER is the same 20 MB
    # (constants.php:85, Buckets/Files/Preview/Get.php:179): stated, as the installer does.
    "_APP_STORAGE_PREVIEW_LIMIT": "20000000",
    # variables.php:847; the console's limits come from Console/Http/Variables/Get.php:84-86,
    # which reads it with no fallback (0 when unset), as it reads _APP_STORAGE_LIMIT.
    "_APP_COMPUTE_SIZE_LIMIT": "30000000",
    # variables.php:299 says 30 s; the always-on usage worker flushes every 20 s without it
    # (Workers/StatsUsage.php:160): the installer's value, a third fewer database writes.
    "_APP_USAGE_AGGREGATION_INTERVAL": "30",
}
# Settings an add-on's credentials give: copying them by hand defeats credential rotation.
_CREDENTIAL_KEY = re.compile(r"^_APP_(DB|REDIS|SMTP|STORAGE_S3)_")
# Secret whatever `secrecy.is_secret_name` says of their names.
_ALWAYS_SECRET = frozenset({
    "_APP_DB_PASS", "_APP_REDIS_PASS", "_APP_SMTP_PASSWORD", "_APP_STORAGE_S3_SECRET",
    "_APP_STORAGE_S3_ACCESS_KEY", OPENSSL_KEY, EXECUTOR_SECRET,
})


@dataclass
class Derivation:
    """One answer for the launcher, the release engine and the Action alike, so a dyno and the
    deploy that wrote its config can never disagree about what Appwrite is told."""

    settings: dict[str, str]  # every `_APP_*` Appwrite should see (hand-set values included)
    redis_upstream: RedisUpstream | None  # None when no Redis add-on is attached
    warnings: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)  # e.g. a JawsDB placeholder, by var name
    secret_keys: frozenset[str] = frozenset()  # keys of `settings` whose values are secret
    missing_secrets: list[str] = field(default_factory=list)  # e.g. _APP_OPENSSL_KEY_V1 absent
    derived_keys: frozenset[str] = frozenset()  # keys whose value came from add-ons/defaults

    def secret_values(self) -> list[str]:
        """Every value of this derivation to register for masking before anything prints:
        the secret settings, and the Redis password the bridge holds (never in `settings`)."""
        values = [self.settings.get(name) or "" for name in sorted(self.secret_keys)]
        values += config_secrets(self.settings)
        if self.redis_upstream is not None:
            values += [self.redis_upstream.password or "", self.redis_upstream.url()]
        return [value for value in values if value]


# --- derive ------------------------------------------------------------------------------------


def derive(
    config: Mapping[str, str],
    *,
    hostname: str | None = None,
    bridge_port: int = DEFAULT_BRIDGE_PORT,
) -> Derivation:
    """Appwrite's `_APP_*` settings for this app's config vars (see the module docstring)."""
    if not 0 < bridge_port < 65536:
        raise InputError("the Redis bridge port must be between 1 and 65535")
    derivation = Derivation(settings={}, redis_upstream=None)
    for name in _DOMAIN_KEYS:
        # Copied into other settings and printed at the start of plan lines: checked, always.
        if present(config, name):
            _check_hostname(config[name], name)
    ours, marker_warnings = managed_keys(config)
    derivation.warnings.extend(marker_warnings)
    hand_set = {name: value for name, value in config.items()
                if name.startswith("_APP_") and name not in ours}

    # Each add-on family in turn: its settings, and its warnings in this order.
    redis_part, derivation.redis_upstream, redis_warnings = redis.derive(config, bridge_port)
    database_part, database_warnings, derivation.not_ready = database.derive(config)
    families = [(redis_part, redis_warnings), (database_part, database_warnings),
                storage.derive(config, hand_set), mail.derive(config)]
    derived: dict[str, str] = dict(LITE_DEFAULTS)
    for part, warnings in families:
        derived.update(part)
        derivation.warnings.extend(warnings)
    derived.update(_domain(config, hostname, derivation))

    unknown = sorted(set(derived) - appwrite_variables())
    if unknown:  # a bug in this module, not the user's input
        raise AssertionError(f"derived names unknown to Appwrite: {', '.join(unknown)}")

    derivation.warnings.extend(_hand_set_warnings(hand_set, derived))
    derivation.warnings.extend(console_warnings(config))

    derivation.settings = {**derived, **hand_set}
    derivation.derived_keys = frozenset(set(derived) - set(hand_set))
    derivation.missing_secrets = [
        name for name in GENERATED_SECRETS if not present(derivation.settings, name)
    ]
    for name in derivation.missing_secrets:
        if derivation.settings.pop(name, None) is not None:
            derivation.warnings.append(
                f"{name} is set but blank; set it by hand (a release never replaces an "
                "existing value, as that would make encrypted data unreadable)"
            )
    derivation.secret_keys = frozenset(
        name for name, value in derivation.settings.items()
        if name in _ALWAYS_SECRET or is_secret(name, value)
    )
    return derivation


# --- its parts: the domain, the console, hand-set values -------------------------------------


_DOMAIN_KEYS = ("_APP_DOMAIN", "_APP_DOMAIN_TARGET", "_APP_DOMAIN_TARGET_CNAME")


def _check_hostname(value: str, source: str) -> str:
    return inputs.hostname(value, source)


def _domain(config: Mapping[str, str], hostname: str | None,
            derivation: Derivation) -> dict[str, str]:
    """The caller's host name (the release engine knows `web_url`), else dyno metadata, else the
    `_APP_DOMAIN` already in config (set by hand, or written by an earlier release that knew)."""
    domain: str | None = None
    if hostname is not None and hostname.strip():
        domain = _check_hostname(hostname, "the hostname")
    elif present(config, "HEROKU_APP_DEFAULT_DOMAIN_NAME"):
        domain = _check_hostname(config["HEROKU_APP_DEFAULT_DOMAIN_NAME"],
                                 "HEROKU_APP_DEFAULT_DOMAIN_NAME")
    elif present(config, "_APP_DOMAIN"):
        domain = _check_hostname(config["_APP_DOMAIN"], "_APP_DOMAIN")
    if domain is None:
        # Appwrite 1.9.6 answers 403 to any Host but _APP_DOMAIN while router protection is on.
        derivation.warnings.append(
            "the app's host name is unknown, so router protection is disabled; set _APP_DOMAIN "
            "to the app's host name, or run `heroku labs:enable runtime-dyno-metadata`"
        )
        return {"_APP_OPTIONS_ROUTER_PROTECTION": "disabled"}
    return {
        "_APP_DOMAIN": domain,
        "_APP_DOMAIN_TARGET": domain,
        "_APP_DOMAIN_TARGET_CNAME": domain,
        "_APP_OPTIONS_ROUTER_PROTECTION": "enabled",
    }


CONSOLE_EMAILS = "_APP_CONSOLE_WHITELIST_EMAILS"
CONSOLE_IPS = "_APP_CONSOLE_WHITELIST_IPS"
CONSOLE_ROOT = "_APP_CONSOLE_WHITELIST_ROOT"


def console_warnings(config: Mapping[str, str]) -> list[str]:
    """Who may take the console, read as Appwrite 1.9.6 reads it.

    `_APP_CONSOLE_WHITELIST_ROOT` (default `enabled`) limits the console to one account, so the
    first sign-up owns it (app/config/console.php:45), and a Heroku app is public as soon as it
    is deployed. `_APP_CONSOLE_WHITELIST_EMAILS` is split on `,` with nothing trimmed
    (console.php:55); the sign-up address is lower-cased and must equal an entry as written or
    upper-cased (app/controllers/api/account.php:273, :278), checked before the one-account
    limit (:287), so with both only the owner's address can become the owner.
    """
    emails = (config.get(CONSOLE_EMAILS) or "").strip()
    anyone = not emails and not (config.get(CONSOLE_IPS) or "").strip()
    if anyone and (config.get(CONSOLE_ROOT) or "").strip() == "disabled":
        return [f"the console is open to anyone, at any time: {CONSOLE_ROOT} is disabled and "
                f"no {CONSOLE_EMAILS} is set; set it to the owners' addresses "
                f"(`heroku config:set {CONSOLE_EMAILS}=you@example.com`)"]
    if anyone:
        return [f"the console belongs to whoever signs up first, and the app is public: set "
                f"{CONSOLE_EMAILS} to the owner's address (`heroku config:set "
                f"{CONSOLE_EMAILS}=you@example.com`) before anyone else signs up"]
    entries = (config.get(CONSOLE_EMAILS) or "").split(",")
    unusable = [str(number) for number, entry in enumerate(entries, start=1) if entry and (
        entry != entry.strip() or entry not in (entry.lower(), entry.upper())
        or "@" not in entry)]
    if unusable:
        return [f"{CONSOLE_EMAILS}: entry {', '.join(unusable)} can never match a sign-up: "
                "Appwrite 1.9.6 compares the lower-cased address with each comma-separated "
                "entry exactly as written; write addresses in lower case, separated by commas "
                "only (no spaces)"]
    return []


def _hand_set_warnings(hand_set: Mapping[str, str], derived: Mapping[str, str]) -> list[str]:
    """What is odd about the `_APP_*` values set by hand: overriding the add-ons, copying their
    credentials (stale at the next rotation), or not read by Appwrite at all."""
    warnings: list[str] = []
    copied: list[str] = []
    for name in sorted(hand_set):
        if name in derived and hand_set[name] != derived[name]:
            warnings.append(
                f"{name} is set by hand and differs from what the add-ons give; the hand-set "
                f"value is used (unset it to follow the add-ons)"
            )
        elif name in derived and name not in LITE_DEFAULTS and _CREDENTIAL_KEY.match(name):
            copied.append(name)
        if name not in appwrite_variables():
            warnings.append(f"{name} is not a variable Appwrite 1.9.6 reads (a typo?)")
    if copied:
        # Hand-copied add-on values look right today and go stale at the next rotation.
        warnings.append(
            f"{', '.join(copied)} {'is' if len(copied) == 1 else 'are'} set by hand to what the "
            f"add-ons give today; unset {'it' if len(copied) == 1 else 'them'} "
            f"(`heroku config:unset {' '.join(copied)}`) so that credential rotations are "
            "followed without a redeploy"
        )
    return warnings


# --- what the release engine writes ------------------------------------------------------------


def config_patch(
    current: Mapping[str, str],
    derivation: Derivation,
    generated: Mapping[str, str],
) -> dict[str, str | None]:
    """The minimal Platform API config-vars PATCH body that records `derivation` in config.

    Writes every derived key whose value differs, deletes keys we wrote earlier that are no longer
    derived, adds freshly generated secrets only where none exists, and updates the marker. An
    existing `_APP_OPENSSL_KEY_V1` is never changed or deleted, whatever the arguments say.
    An empty dict means nothing to write.
    """
    patch: dict[str, str | None] = {}
    # Present at all, even blank, means existing: data may already be encrypted with it.
    secrets_now = {name: current[name] for name in GENERATED_SECRETS if name in current}
    for name in derivation.missing_secrets:
        value = generated.get(name)
        if name in GENERATED_SECRETS and name not in secrets_now and value and value.strip():
            patch[name] = value
    key_source = {**current, **{k: v for k, v in patch.items() if v is not None}}

    written: dict[str, str] = {}
    for name in sorted(derivation.derived_keys):
        if name in GENERATED_SECRETS or name == MARKER_VAR:
            continue
        value = derivation.settings[name]
        written[name] = value
        if current.get(name) != value:
            patch[name] = value
    ours, _ = managed_keys(current)
    for name in sorted(ours - set(written)):
        if name not in derivation.settings and name not in GENERATED_SECRETS:
            patch[name] = None  # we wrote it, nothing derives it any more

    marker = build_marker(marker_key(key_source), written) if written else None
    if marker != (current.get(MARKER_VAR) or None):
        patch[MARKER_VAR] = marker
    for name in GENERATED_SECRETS:
        if name in secrets_now:
            patch.pop(name, None)  # belt and braces: an existing key is never touched
    return patch


def protect_openssl_key(current: Mapping[str, str],
                        patch: Mapping[str, str | None]) -> dict[str, str | None]:
    """`patch` minus any write to an existing `_APP_OPENSSL_KEY_V1` (present at all, even
    blank, means existing: data may already be encrypted with it) — whatever asked for it."""
    if OPENSSL_KEY not in current:
        return dict(patch)
    return {name: value for name, value in patch.items() if name != OPENSSL_KEY}


__all__ = [
    "DEFAULT_BRIDGE_PORT",
    "LITE_DEFAULTS",
    "Derivation",
    "config_patch",
    "console_warnings",
    "derive",
    "protect_openssl_key",
]
