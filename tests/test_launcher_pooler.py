"""The launcher on Heroku Postgres: PgBouncer under supervisord, first, and Appwrite's processes
(stand-ins that talk PHP PDO) reaching the add-on through it on loopback, with no password on
any command line or in the logs."""

from __future__ import annotations

import json
import re
import shutil
import stat
import urllib.request
from pathlib import Path

import pytest

from appwrite_heroku.config import budget, wiring
from lite import Launched, dyno_env, make_root
from pdo import ServerWatch
from services import PG_BIN, PostgresAccount, _as_postgres, free_port, wait_for_port

pytestmark = [pytest.mark.services, pytest.mark.skipif(
    shutil.which("pgbouncer") is None, reason="needs pgbouncer (.ci/run installs it)")]

POOLER_LINE = re.compile(r"postgres pooler: pgbouncer on 127\.0\.0\.1:(\d+) ")


def postgres_env(tmp_path: Path, account: PostgresAccount, redis_url: str,
                 entry_points: tuple[str, ...], **extra: str) -> dict[str, str]:
    env = dyno_env(make_root(tmp_path, entry_points), database_url=account.url,
                   redis_url=redis_url, bridge_port=free_port(), **extra)
    env["DATABASE_URL"] = env.pop("JAWSDB_URL")  # Heroku Postgres' config var
    return env


def watch(account: PostgresAccount) -> ServerWatch:
    server = account.server
    return ServerWatch(_as_postgres([
        str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-h", str(server.directory),
        "-p", str(server.port), "-U", "postgres", "-d", "postgres"]), account.user)


def command_lines(launched: Launched) -> list[str]:
    lines = []
    for pid in launched.session_pids():
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                         .decode("utf-8", "replace"))
        except OSError:
            continue
    return lines


def test_worker_dyno_goes_through_pgbouncer_started_first(
        tmp_path: Path, heroku_postgres: PostgresAccount, redis_plain) -> None:
    env = postgres_env(tmp_path, heroku_postgres, redis_plain.url,
                       ("worker-stats-usage", "worker-mails"),
                       STANDIN_PG_CHECK="worker-stats-usage")
    launched = Launched("worker", env)
    try:
        pooler_port = POOLER_LINE.search(launched.wait_for_line("postgres pooler:"))
        assert pooler_port is not None
        port = pooler_port.group(1)
        reached = launched.wait_for_line("worker-stats-usage: reached postgres", timeout=30)
        assert f"reached postgres at 127.0.0.1:{port}: committed 2, refused 0, errors 0" \
            in reached
        spawned = [line for line in launched.lines if "spawned: '" in line]
        assert "spawned: 'pgbouncer'" in spawned[0]
        assert "role worker: starting pgbouncer, worker-stats-usage" in launched.output
        assert "queue workers on demand (at most 1 at once" in launched.output  # worker-mails
        with watch(heroku_postgres) as seen:
            assert seen.count() >= 1 and seen.all_tls()
        # Nothing secret on any command line of the dyno, nor in its log.
        password = heroku_postgres.password
        cmdlines = command_lines(launched)
        assert any("pgbouncer" in line for line in cmdlines)
        assert not [line for line in cmdlines if password in line]
        assert password not in launched.output
        # The pooler's files: 0600, the password only in the auth file.
        config = launched.wait_for_line("supervisord config ").split("supervisord config ")[1]
        pooler_dir = Path(config).parent / "pgbouncer"
        ini, auth = pooler_dir / "pgbouncer.ini", pooler_dir / "userlist.txt"
        for path in (ini, auth):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert password not in ini.read_text() and password in auth.read_text()
        assert f"listen_port = {port}" in ini.read_text().splitlines()
        # Its server pool is this dyno's share of the plan the budget judged (the default
        # profile's essential-0 and two dynos here), with the budget's headroom.
        share = wiring.server_pool_size(20, 2, budget.HEADROOM_DB).max_db_connections
        assert f"max_db_connections = {share}" in ini.read_text().splitlines()
        assert "this dyno's share of 20, 5 kept free" in launched.output
        assert launched.stop() == 0
        assert not pooler_dir.exists()  # the runtime directory goes with the dyno's processes
    finally:
        launched.kill_session()


def test_web_dyno_api_reaches_postgres_through_the_pooler(
        tmp_path: Path, heroku_postgres: PostgresAccount, redis_plain) -> None:
    http_port = free_port()
    env = postgres_env(tmp_path, heroku_postgres, redis_plain.url, ("realtime",),
                       PORT=str(http_port))
    launched = Launched("web", env)
    try:
        match = POOLER_LINE.search(launched.wait_for_line("postgres pooler:"))
        assert match is not None
        wait_for_port(http_port, timeout=20)
        launched.wait_for_line("api listening")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{http_port}/v1/standin/postgres",
                         timeout=60) as response:
            seen = json.loads(response.read())
        assert seen["postgres"] == (f"reached postgres at 127.0.0.1:{match.group(1)}: "
                                    "committed 2, refused 0, errors 0")
        with opener.open(f"http://127.0.0.1:{http_port}/v1/settings", timeout=10) as response:
            settings = json.loads(response.read())["settings"]
        assert (settings["_APP_DB_HOST"], settings["_APP_DB_PORT"]) == ("127.0.0.1",
                                                                        match.group(1))
        assert heroku_postgres.password not in launched.output
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def test_switched_off_appwrite_goes_to_the_add_on_directly(
        tmp_path: Path, heroku_postgres: PostgresAccount, redis_plain) -> None:
    env = postgres_env(tmp_path, heroku_postgres, redis_plain.url, ("worker-stats-usage",),
                       STANDIN_PG_CHECK="worker-stats-usage", APPWRITE_LITE_PG_POOLER="off")
    launched = Launched("worker", env)
    try:
        launched.wait_for_line("postgres pooler: off (APPWRITE_LITE_PG_POOLER)")
        reached = launched.wait_for_line("worker-stats-usage: reached postgres", timeout=30)
        # Appwrite's PDO (libpq's sslmode=prefer) speaks TLS to the add-on itself.
        assert f"reached postgres at 127.0.0.1:{heroku_postgres.server.port}: committed 2" \
            in reached
        assert "spawned: 'pgbouncer'" not in launched.output
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def test_mysql_add_ons_get_no_pooler(tmp_path: Path, mariadb, redis_plain) -> None:
    env = dyno_env(make_root(tmp_path, ("worker-stats-usage",)), database_url=mariadb.url,
                   redis_url=redis_plain.url, bridge_port=free_port())
    launched = Launched("worker", env)
    try:
        launched.wait_for_line("worker-stats-usage: consuming")
        assert "postgres pooler" not in launched.output
        assert "role worker: starting worker-stats-usage" in launched.output
        assert launched.stop() == 0
    finally:
        launched.kill_session()
