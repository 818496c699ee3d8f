"""The formations and plans this project recommends (the Deploy button's among them)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import plans as plan_table
from ..appetite import ENTRY_POINTS_1_9_6, background_set
from .choice import choose
from .model import CURRENT_MODE, Budget, DynoSpec
from .record import Setup, parse_formation


@dataclass(frozen=True)
class Profile:
    """A formation and plans this project recommends, with what it leaves out."""

    name: str
    description: str
    formation: str  # parse_formation syntax
    redis_plan: str
    db_plan: str
    skip: tuple[str, ...] = ()  # APPWRITE_LITE_SKIP
    usage_stats: bool = False  # _APP_USAGE_STATS as app.json sets it (off)

    def setup(self) -> Setup:
        return Setup(parse_formation(self.formation),
                     plan_table.addon_plan(self.redis_plan, plan_table.REDIS),
                     plan_table.addon_plan(self.db_plan, plan_table.DATABASE),
                     frozenset(self.skip))

    def background(self) -> tuple[str, ...]:
        return background_set(ENTRY_POINTS_1_9_6, self.skip, usage_stats=self.usage_stats)

    def budget(self, mode: str = CURRENT_MODE) -> Budget:
        setup = self.setup()
        return choose(setup.specs, setup.redis_plan, setup.db_plan, self.background(), mode)


# Left out by the minimal set: queues that only fill when their feature is used (webhooks:
# app/controllers/shared/api.php:842-848 publishes only for a project's webhook events) and the
# tasks that feed or schedule them. A feature used later needs its worker back.
MINIMAL_SKIP = ("worker-certificates", "worker-messaging", "worker-migrations",
                "worker-stats-resources", "worker-webhooks", "stats-resources", "interval",
                "schedule-messages")
# The smallest plans carry every profile: through the multiplexed bridge and PgBouncer the
# upstream connections fit Redis mini and Postgres essential-0. What sets the dynos is memory:
# every usable queue always on (9 queue workers, 3 tasks) measured ~805 MiB, more than a 512 MB
# dyno holds; on demand (queues.py) only the slots' workers run at once, and two basic dynos
# (one tier, as Heroku requires: plans.accepted) hold them.
_REDIS = plan_table.BUTTON_PLANS[plan_table.REDIS]
_DB = plan_table.BUTTON_PLANS[plan_table.DATABASE]
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("default", "the Deploy button: API and realtime on web, every queue Appwrite "
            "can use on Heroku on worker, on demand", "web=basic,worker=basic", _REDIS, _DB),
    Profile("all-in-one", "one dyno runs everything (APPWRITE_LITE_ALL_IN_WEB=true, "
            "worker=0), with the minimal queue set", "all=standard-2x", _REDIS, _DB,
            MINIMAL_SKIP),
    Profile("minimal", "web and worker dynos, only the queues every app fills (audits, "
            "databases, deletes, mails, stats-usage) and maintenance: the cheapest set "
            "that fits", "web=basic,worker=basic", _REDIS, _DB, MINIMAL_SKIP),
)}
DEFAULT_PROFILE = PROFILES["default"]


def default_specs(all_in_web: bool = False) -> tuple[DynoSpec, ...]:
    """The default profile's dynos (for an app whose formation is not known yet)."""
    specs = DEFAULT_PROFILE.setup().specs
    if not all_in_web:
        return specs
    return (DynoSpec("all", specs[0].size, specs[0].quantity),)
