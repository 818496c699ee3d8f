"""`appwrite-heroku budget`: the connection and memory budget of a formation and its plans,
printed as a table (or JSON) with what to choose when it does not fit. The rules are
config.budget's; this module reads the options and prints."""

from __future__ import annotations

import argparse
import json

from ..config import plans as plan_table
from ..config import queues
from ..config.appetite import ENTRY_POINTS_1_9_6, KNOB_KEYS, SKIP_VAR, background_set, checked_skip
from ..config.budget import (
    CURRENT_MODE,
    PROFILES,
    Profile,
    Setup,
    advice,
    choose,
    parse_formation,
    render,
)
from ..config.wiring import MODES
from ..errors import InputError


def _asked(args: argparse.Namespace) -> tuple[Setup, tuple[str, ...]]:
    """The formation, plans and skip list the options name: a profile's, each option replacing
    its part of it, and `--skip` added to the profile's own skip list."""
    profile: Profile | None = None
    if args.profile:
        profile = PROFILES.get(args.profile)
        if profile is None:
            raise InputError(f"unknown profile {args.profile!r}: known profiles are "
                             f"{', '.join(PROFILES)}")
    elif not (args.formation and args.redis_plan and args.db_plan):
        raise InputError("give --formation, --redis-plan and --db-plan, or --profile NAME")
    formation = args.formation or (profile.formation if profile else "")
    redis_plan = args.redis_plan or (profile.redis_plan if profile else "")
    db_plan = args.db_plan or (profile.db_plan if profile else "")
    # Read as a dyno reads the variable, checked against the pinned Appwrite's entry points.
    own = checked_skip({SKIP_VAR: args.skip or ""}, "--skip")
    left_out = profile.skip if profile else ()
    skip = left_out + tuple(name for name in own if name not in left_out)
    return Setup(parse_formation(formation), plan_table.addon_plan(redis_plan, plan_table.REDIS),
                 plan_table.addon_plan(db_plan, plan_table.DATABASE)), skip


def run(args: argparse.Namespace) -> int:
    setup, skip = _asked(args)
    background = background_set(ENTRY_POINTS_1_9_6, skip, usage_stats=args.usage_stats)
    mode = args.bridge  # argparse's choices=MODES already refused any other
    user = dict(pair for pair in (args.set or []))
    budget = choose(setup.specs, setup.redis_plan, setup.db_plan, background, mode,
                    user_settings=user)
    if args.json:
        data = budget.as_dict()
        data["advice"] = None if budget.fits else advice(budget, background)
        print(json.dumps(data, indent=2))
    else:
        for line in render(budget):
            print(line)
        if not budget.fits:
            print(f"  {advice(budget, background)}")
    return 0 if budget.fits else 1


SETTABLE = (*KNOB_KEYS, *queues.VARIABLES)


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or key not in SETTABLE:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SETTABLE)}=VALUE")
    return key, value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `budget`."""
    parser = subparsers.add_parser(
        "budget", help="connections and memory of Appwrite's processes against the plans",
        description="The worst case of Appwrite 1.9.6's database and Redis connections and "
                    "memory, per process and in total, against the plans' limits, with the "
                    "settings the launcher would choose. Exit 0: fits; 1: does not (plans or "
                    "memory too small, a formation that mixes dyno tiers, which Heroku "
                    "refuses, or one with nothing to drain the queues), with what to choose "
                    "and its price; 2: unknown plan, size or --skip name.")
    parser.add_argument("--formation", help="dynos, e.g. web=basic,worker=basic (or "
                        "all=SIZE), all of one tier (default: the profile's, else required)")
    parser.add_argument("--redis-plan", help="e.g. heroku-redis:mini (default: the profile's, "
                        "else required)")
    parser.add_argument("--db-plan", help="e.g. heroku-postgresql:essential-2 (default: the "
                        "profile's, else required)")
    parser.add_argument("--profile", help=f"one of {', '.join(PROFILES)} (default: none)")
    parser.add_argument("--skip", help="entry points left out, as APPWRITE_LITE_SKIP, added "
                        "to the profile's own (default: none)")
    parser.add_argument("--set", action="append", type=_setting, metavar="KNOB=VALUE",
                        help="a sizing value or queue knob of your own; it wins, as on a dyno "
                             "(default: none)")
    parser.add_argument("--bridge", choices=MODES, default=CURRENT_MODE,
                        help="how each dyno's Redis bridge relays: multiplex (what the "
                             "launcher runs) or plain, one upstream per Appwrite connection "
                             f"(default: {CURRENT_MODE})")
    parser.add_argument("--usage-stats", action="store_true",
                        help="count the stats-resources task and worker, as with "
                             "_APP_USAGE_STATS=enabled (default: off, as app.json sets it)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output (default: a table)")
    parser.set_defaults(func=run)

