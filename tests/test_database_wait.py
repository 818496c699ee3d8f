"""The dyno's wait for its database: attempts, even pauses and one line when it gives up,
on a counting clock (no real sleeping) against a real MariaDB."""

from __future__ import annotations

import pytest

from appwrite_heroku.clock import Clock
from appwrite_heroku.config.settings import derive
from appwrite_heroku.dyno import database
from appwrite_heroku.errors import NotReadyError
from services import MariaDBAccount, mariadb_root_sql


class CountingClock:
    def __init__(self, on_sleep: list[object] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep or []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if len(self.sleeps) <= len(self.on_sleep):
            action = self.on_sleep[len(self.sleeps) - 1]
            if callable(action):
                action()

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self.sleep)


def _target(account: MariaDBAccount) -> database.DatabaseTarget:
    return database.DatabaseTarget.from_settings(derive({"JAWSDB_URL": account.url}).settings)


def test_a_locked_account_is_waited_for_until_the_add_on_opens_it(
        jawsdb_account: MariaDBAccount) -> None:
    user = f"'{jawsdb_account.user}'@'%'"
    mariadb_root_sql(jawsdb_account.server, f"ALTER USER {user} ACCOUNT LOCK;")
    unlock = lambda: mariadb_root_sql(jawsdb_account.server,  # noqa: E731
                                      f"ALTER USER {user} ACCOUNT UNLOCK;")
    counting = CountingClock(on_sleep=[None, unlock])
    lines: list[str] = []
    database.wait_until_ready(_target(jawsdb_account), attempts=5, delay=3.0, log=lines.append,
                              clock=counting.clock)
    assert counting.sleeps == [3.0, 3.0]
    assert lines[:2] == [line for line in lines[:2] if "retrying in 3 s" in line]
    assert lines[-1] == "database: reachable after 3 attempts"
    assert jawsdb_account.password not in "\n".join(lines)


def test_it_gives_up_after_the_last_attempt_with_one_line(
        jawsdb_account: MariaDBAccount) -> None:
    mariadb_root_sql(jawsdb_account.server,
                     f"ALTER USER '{jawsdb_account.user}'@'%' ACCOUNT LOCK;")
    counting = CountingClock()
    lines: list[str] = []
    with pytest.raises(NotReadyError) as raised:
        database.wait_until_ready(_target(jawsdb_account), attempts=3, delay=12.0,
                                  log=lines.append, clock=counting.clock)
    assert counting.sleeps == [12.0, 12.0]  # none after the last attempt, 12 s kept (no cap)
    assert [line.split(":")[1].strip() for line in lines] == ["attempt 1/3", "attempt 2/3",
                                                              "attempt 3/3"]
    assert lines[-1].endswith("giving up")
    message = str(raised.value)
    assert message.startswith("database not ready after 3 attempts: database at 127.0.0.1:")
    assert "\n" not in message and jawsdb_account.password not in message


def test_a_placeholder_url_is_not_probed_and_says_heroku_restarts_the_dyno() -> None:
    counting = CountingClock()
    lines: list[str] = []
    target = database.DatabaseTarget("mysql", "127.0.0.1", 1, "u", "p", "d")
    with pytest.raises(NotReadyError, match="Heroku restarts the dyno"):
        database.wait_until_ready(target, attempts=2, delay=1.5, log=lines.append,
                                  not_ready_vars=["JAWSDB_URL"], clock=counting.clock)
    assert counting.sleeps == [1.5]
    assert all("JAWSDB_URL still holds the add-on's placeholder" in line for line in lines)
