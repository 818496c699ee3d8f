"""The pooler's pure parts: pool sizing, switches, rendered files, the supervised program."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appwrite_heroku.config import wiring
from appwrite_heroku.dyno import pooler
from appwrite_heroku.errors import InputError

PASSWORD = "canary-pooler-Pw-3e9d1c7a"
SETTINGS = {
    "_APP_DB_ADAPTER": "postgresql",
    "_APP_DB_HOST": "ec2-1-2-3-4.compute-1.amazonaws.com",
    "_APP_DB_PORT": "5432",
    "_APP_DB_SCHEMA": "d8abc123",
    "_APP_DB_USER": "u1x2y3",
    "_APP_DB_PASS": PASSWORD,
}


def config(tmp_path: Path, **kwargs: object) -> pooler.PoolerConfig:
    values: dict[str, object] = {
        "upstream": pooler.Upstream.from_settings(SETTINGS), "listen_port": 6432,
        "pool": wiring.server_pool_size(20, 2, 5), "directory": tmp_path / "pgbouncer",
    }
    values.update(kwargs)
    return pooler.PoolerConfig(**values)  # type: ignore[arg-type]


def test_essential_0_with_a_web_and_a_worker_dyno() -> None:
    # 20 connections, 5 kept free (pg:psql, release phase): 7 per dyno, one of them in reserve.
    assert wiring.server_pool_size(20, 2, 5) == wiring.PoolSize(6, 1, 7)
    assert wiring.server_pool_size(20, 1, 5) == wiring.PoolSize(14, 1, 15)
    assert wiring.server_pool_size(40, 2, 5) == wiring.PoolSize(16, 1, 17)


def test_small_shares_keep_no_reserve() -> None:
    assert wiring.server_pool_size(20, 2, 14) == wiring.PoolSize(3, 0, 3)
    assert wiring.server_pool_size(20, 2, 18) == wiring.PoolSize(1, 0, 1)


def test_no_share_left_is_one_clear_input_error() -> None:
    with pytest.raises(InputError, match=r"leave none for 3 dyno.*APPWRITE_LITE_PG_POOL_SIZE"):
        wiring.server_pool_size(5, 3, 3)
    with pytest.raises(ValueError):
        wiring.server_pool_size(20, 0, 5)


@given(limit=st.integers(1, 500), dynos=st.integers(1, 20), headroom=st.integers(0, 50))
def test_every_dyno_together_stays_within_the_plan(limit: int, dynos: int,
                                                   headroom: int) -> None:
    try:
        size = wiring.server_pool_size(limit, dynos, headroom)
    except InputError:
        assert limit - headroom < dynos
        return
    assert size.max_db_connections == size.default_pool_size + size.reserve_pool_size
    assert size.default_pool_size >= 1
    assert dynos * size.max_db_connections + headroom <= limit
    # and nothing is wasted: one more per dyno would overshoot
    assert dynos * (size.max_db_connections + 1) + headroom > limit


def test_pool_size_override_and_formation_defaults() -> None:
    assert wiring.pool_size_for("web", {}) == wiring.server_pool_size(20, 2, 5)
    assert wiring.pool_size_for("all", {}) == wiring.server_pool_size(20, 1, 5)
    assert wiring.pool_size_for("worker", {}, plan_limit=40, dynos=3, headroom=4) == \
        wiring.server_pool_size(40, 3, 4)
    assert wiring.pool_size_for("web", {"APPWRITE_LITE_PG_POOL_SIZE": "12"}) == \
        wiring.PoolSize(11, 1, 12)
    for bad in ("0", "-1", "lots", "2.5"):
        with pytest.raises(InputError, match="APPWRITE_LITE_PG_POOL_SIZE must be a whole"):
            wiring.pool_size_for("web", {"APPWRITE_LITE_PG_POOL_SIZE": bad})


def test_on_for_postgresql_off_by_switch_never_for_mysql() -> None:
    assert wiring.pooler_enabled(SETTINGS, {})
    assert wiring.pooler_enabled(SETTINGS, {"APPWRITE_LITE_PG_POOLER": "on"})
    for off in ("off", "OFF", "false", "0", "no", "disabled"):
        assert not wiring.pooler_enabled(SETTINGS, {"APPWRITE_LITE_PG_POOLER": off})
    for adapter in ("mariadb", "mysql", ""):
        assert not wiring.pooler_enabled({**SETTINGS, "_APP_DB_ADAPTER": adapter}, {})
    with pytest.raises(InputError, match="APPWRITE_LITE_PG_POOLER must be on or off"):
        wiring.pooler_enabled(SETTINGS, {"APPWRITE_LITE_PG_POOLER": "maybe"})


def test_ini_pools_transactions_requires_tls_upstream_and_holds_no_password(
        tmp_path: Path) -> None:
    text = pooler.render_ini(config(tmp_path))
    assert PASSWORD not in text
    lines = set(text.splitlines())
    assert ("d8abc123 = host=ec2-1-2-3-4.compute-1.amazonaws.com port=5432 dbname=d8abc123"
            in lines)
    for line in ("pool_mode = transaction", "server_tls_sslmode = require",
                 "listen_addr = 127.0.0.1", "listen_port = 6432", "unix_socket_dir =",
                 "auth_type = scram-sha-256", "default_pool_size = 6", "reserve_pool_size = 1",
                 "max_db_connections = 7", "client_tls_sslmode = disable"):
        assert line in lines
    assert not any(line.startswith("user =") for line in lines)
    assert "user = postgres" in pooler.render_ini(config(tmp_path, run_as="postgres"))


def test_auth_file_quotes_as_pgbouncer_reads_it() -> None:
    upstream = pooler.Upstream("h", 5432, "d", 'odd"user', 'pa"ss')
    assert pooler.render_auth_file(upstream) == '"odd""user" "pa""ss"\n'


def test_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pooler.write_files(cfg)
    assert stat.S_IMODE(cfg.directory.stat().st_mode) == 0o700
    for path in (cfg.ini_path, cfg.auth_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD in cfg.auth_path.read_text()
    assert PASSWORD not in cfg.ini_path.read_text()


def test_program_runs_first_with_only_the_ini_on_its_command_line(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    program = pooler.program("/usr/sbin/pgbouncer", cfg)
    assert program.command == ("/usr/sbin/pgbouncer", str(cfg.ini_path))
    assert PASSWORD not in " ".join(program.command)
    assert program.priority < 100  # before nginx (100), the HTTP servers (200), workers (300)
    assert pooler.appwrite_settings(6432) == {"_APP_DB_HOST": "127.0.0.1", "_APP_DB_PORT": "6432"}


def test_unusable_settings_name_the_variable_and_the_way_out() -> None:
    for key, value, words in (("_APP_DB_HOST", "", "_APP_DB_HOST is empty"),
                              ("_APP_DB_SCHEMA", "a b", "_APP_DB_SCHEMA is empty or has"),
                              ("_APP_DB_PORT", "99999", "_APP_DB_PORT must be a port"),
                              ("_APP_DB_USER", "", "_APP_DB_USER is empty")):
        with pytest.raises(InputError, match=words) as caught:
            pooler.Upstream.from_settings({**SETTINGS, key: value})
        assert "APPWRITE_LITE_PG_POOLER=off" in str(caught.value)
        assert PASSWORD not in str(caught.value)


def test_for_dyno_adds_nothing_for_mysql_or_when_off(tmp_path: Path) -> None:
    lines: list[str] = []
    mysql = {**SETTINGS, "_APP_DB_ADAPTER": "mariadb"}
    assert pooler.for_dyno("web", mysql, {}, tmp_path, lines.append) == pooler.DynoPooler()
    assert lines == []
    off = pooler.for_dyno("web", SETTINGS, {"APPWRITE_LITE_PG_POOLER": "off"}, tmp_path,
                          lines.append)
    assert off == pooler.DynoPooler()
    assert "postgres pooler: off" in lines[0]


def test_for_dyno_without_pgbouncer_installed_says_how_to_proceed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not found: build the image from Dockerfile\.lite"):
        pooler.for_dyno("web", SETTINGS, {"APPWRITE_LITE_PGBOUNCER": "no-such-pgbouncer"},
                        tmp_path, print)


@pytest.mark.services
def test_for_dyno_writes_its_files_and_points_appwrite_at_loopback(tmp_path: Path) -> None:
    lines: list[str] = []
    pooled = pooler.for_dyno("worker", SETTINGS, {}, tmp_path, lines.append)
    [program] = pooled.programs
    assert program.name == "pgbouncer"
    port = pooled.settings["_APP_DB_PORT"]
    assert pooled.settings == {"_APP_DB_HOST": "127.0.0.1", "_APP_DB_PORT": port}
    ini = Path(program.command[1])
    assert f"listen_port = {port}" in ini.read_text().splitlines()
    assert PASSWORD not in "\n".join(lines)
    assert "at most 7 server connections" in lines[0]
