"""The release engine's judgement of an app before it writes anything: the budget with the
knobs its dynos will choose, and the refusal line when even the smallest do not fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..appetite import background_for, runs_all_in_web
from .advice import refusal
from .choice import choose
from .heroku_app import setup_from_platform
from .model import CURRENT_MODE, Budget
from .record import Setup


@dataclass
class Judgement:
    """What the release engine learns before it writes anything."""

    budget: Budget | None  # None when a plan or size is unknown (not judged)
    record: str | None  # the APPWRITE_LITE_PLANS value to keep in config
    warnings: list[str] = field(default_factory=list)
    refusal: str | None = None  # one line when nothing fits


def judge(addons: Sequence[Mapping[str, Any]], formation: Sequence[Mapping[str, Any]],
          config: Mapping[str, str], mode: str = CURRENT_MODE) -> Judgement:
    """The budget of an app as the Platform API describes it, with the knobs its dynos will
    choose; a refusal line (naming the plan or size to choose, and its price) when even the
    smallest knobs do not fit."""
    setup, warnings = setup_from_platform(addons, formation, runs_all_in_web(config))
    if setup is None:
        return Judgement(None, None, warnings)
    budget, refusal = judge_setup(setup, config, mode)
    return Judgement(budget, setup.record(), warnings, refusal)


def judge_setup(setup: Setup, config: Mapping[str, str], mode: str = CURRENT_MODE,
                plans: str = "this app's plans") -> tuple[Budget, str | None]:
    """The budget of known dynos and plans with the knobs the config gives, and the refusal
    line (None when it fits): one judgement for a deploy and an offline plan alike."""
    background = background_for(config)
    budget = choose(setup.specs, setup.redis_plan, setup.db_plan, background, mode,
                    user_settings=config)
    return budget, None if budget.fits else refusal(budget, background, plans)
