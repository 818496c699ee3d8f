"""The web and all roles end to end: real nginx and supervisord, stand-in Appwrite servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from appwrite_heroku.config.appetite import background_set
from appwrite_heroku.dyno.sizing import MIB, choose_policy
from helpers import CANARY_DB_PASSWORD
from lite import (
    BIN_1_9_6,
    CANARY_EXECUTOR_SECRET,
    CANARY_OPENSSL_KEY,
    Launched,
    command_lines,
    dyno_env,
    make_root,
    pids_alive,
    recorded_pids,
    secrets_seen,
    stand_in_programs,
)
from services import free_port, wait_for_port
from waiting import wait_until

IDLE = 2  # the proxy's websocket idle timer, shortened from an hour for the test


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, mariadb, redis_plain) -> Iterator[tuple]:
    root = tmp_path_factory.mktemp("lite-web")
    port = free_port()
    env = dyno_env(make_root(root), database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port(), PORT=str(port),
                   APPWRITE_LITE_REALTIME_IDLE=str(IDLE))
    launched = Launched("web", env)
    try:
        wait_for_port(port, timeout=20)
        launched.wait_for_line("api listening")
        launched.wait_for_line("realtime listening")
        yield launched, port, root
    finally:
        launched.stop()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return response.status, response.read(), dict(response.headers)


def test_api_through_the_proxy_keeps_host_and_forwarded_headers(web) -> None:
    _, port, _ = web
    status, body, _ = get(port, "/v1/account", {
        "Host": "lite-test.herokuapp.com", "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Port": "443",
    })
    seen = json.loads(body)
    assert status == 200 and seen["path"] == "/v1/account"
    assert seen["headers"]["host"] == "lite-test.herokuapp.com"
    assert seen["headers"]["x-forwarded-proto"] == "https"  # not overwritten with http
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.9"
    assert seen["headers"]["x-forwarded-port"] == "443"
    assert seen["headers"]["x-forwarded-host"] == "lite-test.herokuapp.com"


def test_forwarded_headers_filled_in_when_absent(web) -> None:
    _, port, _ = web
    _, body, _ = get(port, "/v1/health")
    headers = json.loads(body)["headers"]
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"


def test_api_gets_derived_and_sized_settings_but_no_addon_urls(web) -> None:
    _, port, _ = web
    _, body, _ = get(port, "/v1/settings")
    seen = json.loads(body)
    # The cgroup says 512 MiB and no plans are recorded: the model's answer for the default
    # profile's plans, with the worker dyno running every queue the image has.
    expected = choose_policy(512 * MIB, "web", background_set(BIN_1_9_6), {}).settings
    assert {k: seen["settings"][k] for k in expected} == expected
    assert seen["settings"]["_APP_CPU_NUM"] == "1"
    assert seen["settings"]["_APP_POOL_ADAPTER"] is None  # only realtime uses Swoole's pool
    assert seen["settings"]["_APP_DB_HOST"] == "127.0.0.1"
    # JAWSDB_URL and REDIS_URL carry passwords Appwrite never reads.
    assert not {"JAWSDB_URL", "REDIS_URL"} & set(seen["sees_addon_urls"])


def test_console_static_files_and_spa_fallback(web) -> None:
    _, port, _ = web
    status, body, headers = get(port, "/console/_app/app.js")
    assert status == 200 and b"stand-in console" in body
    assert "javascript" in headers["Content-Type"]
    for path in ("/console/", "/console/project-123/databases"):
        status, body, _ = get(port, path)
        assert status == 200 and b"Appwrite console" in body


def test_realtime_websocket_pinged_outlives_the_idle_timer(web) -> None:
    """Like the SDKs' heartbeat: a `ping` message keeps a quiet socket open well past the
    proxy's idle timer (shortened here to IDLE seconds; an hour on a dyno, above Heroku's 55 s)."""
    _, port, _ = web

    async def scenario() -> float:
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime?project=console",
                                      ping_interval=None) as socket:
            await socket.send(json.dumps({"type": "echo", "data": "hello"}))
            assert json.loads(await socket.recv())["data"] == "hello"
            started = time.monotonic()
            while time.monotonic() - started < IDLE * 3:
                await asyncio.sleep(IDLE / 3)
                await socket.send(json.dumps({"type": "ping"}))
                assert json.loads(await socket.recv()) == {"type": "pong"}
            return time.monotonic() - started

    assert asyncio.run(scenario()) >= IDLE * 3


def test_realtime_websocket_silent_is_closed_by_the_idle_timer(web) -> None:
    """The timer is real: a socket with no traffic at all is closed after IDLE seconds."""
    _, port, _ = web

    async def scenario() -> float:
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime",
                                      ping_interval=None) as socket:
            started = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(socket.recv(), timeout=IDLE * 5)
            return time.monotonic() - started

    waited = asyncio.run(scenario())
    assert IDLE - 0.5 <= waited < IDLE * 5


def test_logs_are_prefixed_per_program_and_free_of_secrets(web) -> None:
    launched, port, _ = web
    get(port, "/v1/logged")
    launched.wait_for_line("[api] api: \"GET /v1/logged")
    launched.wait_for_line("[launcher] sizing: cgroup limit 512 MiB")
    # Realtime runs with Swoole's pool adapter, as Appwrite's compose runs it.
    launched.wait_for_line("with _APP_POOL_ADAPTER=swoole _APP_WORKERS_NUM=1")
    for secret in (CANARY_DB_PASSWORD, CANARY_OPENSSL_KEY, CANARY_EXECUTOR_SECRET):
        assert secret not in launched.output


SECRETS = (CANARY_DB_PASSWORD, CANARY_OPENSSL_KEY, CANARY_EXECUTOR_SECRET)


def test_no_secret_on_any_command_line(web) -> None:
    launched, _, root = web
    config = Path(launched.wait_for_line("supervisord config").split("config ")[-1])
    argvs = command_lines(launched.session_pids())
    files = {str(path): path.read_text() for path in config.parent.rglob("*.conf")}
    # What was read: every Appwrite program's command line (each recorded its pid), nginx's
    # and supervisord's; supervisord's config and nginx's.
    running = recorded_pids(root / "records")
    assert set(running) == stand_in_programs(config, root) == {"api", "realtime"}
    assert set(running.values()) <= set(argvs)
    assert [a for a in argvs.values() if "supervisord" in a]
    assert [a for a in argvs.values() if a.startswith("nginx")]
    assert str(config) in files and [name for name in files if "nginx" in name]
    assert secrets_seen({**{f"pid {pid}": argv for pid, argv in argvs.items()}, **files},
                        SECRETS) == []


@pytest.mark.slow  # starts a process
def test_the_check_for_secrets_sees_one_on_a_command_line_or_in_a_config(tmp_path: Path
                                                                        ) -> None:
    """The test above, against what it must catch: it cannot pass by reading nothing."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()",
                               f"--password={CANARY_DB_PASSWORD}"], stdin=subprocess.PIPE)
    try:
        argvs = wait_until("the holder's command line", lambda: command_lines([holder.pid]))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    config = tmp_path / "nginx.conf"
    config.write_text(f"env OPENSSL={CANARY_OPENSSL_KEY};\n")
    assert secrets_seen({**{f"pid {pid}": argv for pid, argv in argvs.items()},
                         str(config): config.read_text()}, SECRETS) == [
        f"pid {holder.pid}: {CANARY_DB_PASSWORD}", f"{config}: {CANARY_OPENSSL_KEY}"]


def test_all_role_runs_web_and_workers_and_sigterm_empties_the_dyno(
        tmp_path: Path, mariadb, redis_plain) -> None:
    port = free_port()
    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port(), PORT=str(port), APPWRITE_LITE_ALL_IN_WEB="true",
                   APPWRITE_LITE_QUEUE_MODE="always-on")  # every program up at SIGTERM
    launched = Launched("web", env)  # heroku.yml's web command, switched to `all` by config
    try:
        launched.wait_for_line("the web dyno runs the workers too")
        wait_for_port(port, timeout=20)
        launched.wait_for_line("worker-stats-usage: consuming")
        launched.wait_for_line("api listening")
        status, _, _ = get(port, "/v1/health/version")
        assert status == 200
        config = Path(launched.wait_for_line("supervisord config").split("config ")[-1])
        programs = stand_in_programs(config, tmp_path)
        assert len(programs) >= 10
        recorded = wait_until("every Appwrite program has started",
                              lambda: (found := recorded_pids(tmp_path / "records")).keys()
                              >= programs and found)
        children = [recorded[name] for name in programs]
        everyone = set(launched.session_pids()) - {launched.proc.pid}
        assert set(children) <= everyone
        started = time.monotonic()
        launched.terminate()
        assert launched.wait(timeout=30) == 0
        took = time.monotonic() - started
        print(f"all role, {len(children)} programs: SIGTERM → exit {took:.2f} s")
        assert took < 10  # every program signalled at once, not one after another
        assert pids_alive(everyone) == []
        launched.wait_for_line("[launcher] stopped")
    finally:
        launched.kill_session()
