"""What a deploy would change, as a masked, printable diff. Pure functions over dicts.

``plan`` and ``deploy --dry-run`` print this and write nothing; ``deploy`` prints the same
diff before it writes, so a log always says what changed (never a secret value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..config import settings as settings_engine
from ..config.budget import PLANS_VAR
from ..config.settings import Derivation, protect_openssl_key
from ..display import safe_line, value_text
from ..secrecy import MASK, is_secret
from .tag_guard import RELEASE_VAR


@dataclass(frozen=True)
class ConfigChange:
    key: str
    kind: str  # "add" | "change" | "remove"
    old: str | None
    new: str | None
    secret: bool


@dataclass
class Plan:
    app: str
    config_changes: list[ConfigChange] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # process type -> what is released
    build: str = "none"  # a build of release/build.py's BUILDS, or "promote"
    noop: str | None = None  # why nothing will happen, if so
    record: str | None = None  # where the release record goes
    warnings: list[str] = field(default_factory=list)

    @property
    def patch(self) -> dict[str, str | None]:
        return {c.key: c.new for c in self.config_changes}


def full_patch(config: Mapping[str, str], derivation: Derivation,
               generated: Mapping[str, str], extra: Mapping[str, str],
               record: str | None, plans_record: str | None = None,
               ) -> dict[str, str | None]:
    """The ONE config PATCH of a deploy: the settings engine's minimal patch (``derivation``
    comes from the config with ``extra`` applied, so the user's own values count as hand-set),
    the user's own config vars, the release record when it cannot travel in the image's label
    (``record``; None otherwise) and the plans record (`PLANS_VAR`, which the launcher sizes
    against) — minus anything that would touch an existing ``_APP_OPENSSL_KEY_V1`` (whatever
    any input says)."""
    merged = {**config, **extra}
    patch: dict[str, str | None] = dict(
        settings_engine.config_patch(merged, derivation, generated))
    patch.update(extra)
    if record is not None:
        patch[RELEASE_VAR] = record
    if plans_record is not None and PLANS_VAR not in extra:
        patch[PLANS_VAR] = plans_record  # the launcher sizes against these plans
    patch = protect_openssl_key(config, patch)
    # A PATCH that sets a value already there would still restart every dyno: drop it.
    return {k: v for k, v in patch.items() if not (v is not None and config.get(k) == v)
            and not (v is None and k not in config)}


def retire_legacy_record(config: Mapping[str, str], patch: Mapping[str, str | None]
                         ) -> dict[str, str | None]:
    """The release record moved into the image: a config var left by an earlier deploy goes
    with the next PATCH that changes a setting anyway — never on its own, which would cost a
    release and a restart for nothing."""
    result = dict(patch)
    if result and RELEASE_VAR in config and RELEASE_VAR not in result:
        result[RELEASE_VAR] = None
    return result


def diff(current: Mapping[str, str], patch: Mapping[str, str | None],
         secret_keys: Iterable[str] = ()) -> list[ConfigChange]:
    """Each key the PATCH touches, sorted, with whether its value must be masked."""
    secret = set(secret_keys)
    changes: list[ConfigChange] = []
    for key in sorted(patch):
        new, old = patch[key], current.get(key)
        if new is None:
            kind = "remove"
        elif old is None:
            kind = "add"
        else:
            kind = "change"
        changes.append(ConfigChange(key, kind, old, new, key in secret
                                    or is_secret(key, new) or is_secret(key, old)))
    return changes


LONG_VALUE = 72


def _show(value: str | None, secret: bool) -> str:
    if value is None:
        return "(unset)"
    if secret:
        # An empty secret (e.g. `_APP_REDIS_PASS` behind the bridge) says "no password";
        # showing `****` would suggest one was set.
        return MASK if value else "''"
    if len(value) > LONG_VALUE:  # e.g. the managed-keys marker: keep one line readable
        value = f"{value[:LONG_VALUE - 12]}... ({len(value)} chars)"
    # One value, one line, nothing a runner would execute (a value is outside text).
    return value_text(value)


def render(plan: Plan) -> list[str]:
    """The plan as lines for a terminal or a log group; secret values are ``****``."""
    lines = [f"Plan for {plan.app}:"]
    if plan.noop:
        lines.append(f"  nothing to do: {plan.noop}")
        return lines
    if plan.config_changes:
        lines.append(f"  config vars ({len(plan.config_changes)} change(s), one PATCH, "
                     "one restart):")
        for change in plan.config_changes:
            if change.kind == "add":
                lines.append(f"    + {change.key}={_show(change.new, change.secret)}")
            elif change.kind == "remove":
                lines.append(f"    - {change.key}")
            else:
                lines.append(f"    ~ {change.key}: {_show(change.old, change.secret)} -> "
                             f"{_show(change.new, change.secret)}")
    else:
        lines.append("  config vars: no change")
    if plan.images:
        build = {"none": "no build (images already pushed)",
                 "promote": "no build: copied from the app they run on"}.get(
            plan.build, f"built with {plan.build}")
        lines.append(f"  images ({build}):")
        for kind, image in plan.images.items():
            lines.append(f"    {kind}: {image}")
        lines.append("  formation: one docker-releases PATCH for "
                     + ", ".join(plan.images))
    if plan.record:
        lines.append(f"  release record: {value_text(plan.record)}")
    for warning in plan.warnings:
        lines.append(f"  warning: {safe_line(warning)}")
    return lines
