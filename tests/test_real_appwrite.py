"""The REAL Appwrite 1.9.6 under the launcher, on Heroku-shaped add-ons (`pytest -m real_appwrite`).

Heroku's order: the release phase (`launch release`), then a web dyno (`launch web`: nginx on
`$PORT`, the API, realtime, PgBouncer, the Redis bridge) and a worker dyno (`launch worker`: the
queue workers and tasks), each a real launcher process around Appwrite's own code. The add-ons
are shaped like the Deploy button's: PostgreSQL 15 with TLS only and a 20-connection database
owner who is no superuser (Heroku Postgres essential-0), and Redis with TLS, an ACL user and
password and `maxclients 20` (Heroku Key-Value Store mini). Every request goes through nginx on
`$PORT` with the Host and `X-Forwarded-Proto` Heroku's router sends. A JawsDB-shaped MariaDB
(10 connections) gets a console sign-up of its own.

The steps run in order and share one app; a step whose predecessor failed is skipped naming it.
Skipped as a whole, with the reason, where the real tree is absent (a fresh CI machine): see
`real_lite.unavailable` and docs/real-appwrite.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appwrite_heroku.secrecy import Redactor
from helpers import CANARIES, CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from real_lite import (
    DB_CONNECTIONS,
    DYNO_SECRETS,
    REDIS_MAXCLIENTS,
    ROUTER_HEADERS,
    WEB_MEMORY,
    WORKER_MEMORY,
    Api,
    Dyno,
    cmdline,
    dyno_env,
    postgres_backends,
    prepare_tree,
    redis_clients,
    unavailable,
    wait_until,
)
from services import create_heroku_postgres_account, create_jawsdb_account, free_port, start_redis

REASON = unavailable()
pytestmark = [pytest.mark.real_appwrite,
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]

OWNER = "owner@lite-real.example"
INTRUDER = "first-comer@lite-real.example"
PASSWORD = "Console-pw-2f9a7c41"  # the test's own account, not a secret of the app
PROJECT = "lite-real"
DATABASE, COLLECTION, ATTRIBUTE = "main", "notes", "title"
BUCKET = "uploads"
UPLOAD_BYTES = 12 * 1024 * 1024 + 4321  # three 5 MB chunks from the SDK (its _chunk_size)
ALL_SECRETS = (*CANARIES, *DYNO_SECRETS)
_REDACTOR = Redactor(list(ALL_SECRETS))


def lite_env(tree: Any, work: Path, *, memory: int, addons: dict[str, str],
             **extra: str) -> dict[str, str]:
    return dyno_env(
        tree, work, memory=memory, addons=addons, bridge_port=free_port(),
        # The owner the Deploy button asks for (issue 19, item 11): Appwrite 1.9.6 refuses a
        # console sign-up from any other address (app/config/console.php:55,
        # app/controllers/api/account.php:275-279).
        _APP_CONSOLE_WHITELIST_EMAILS=OWNER,
        # No _APP_STORAGE_LIMIT here: the Lite's own default (settings.LITE_DEFAULTS, the
        # installer's 30000000) is what lets the upload step below work.
        **extra)


@dataclass
class App:
    """One Heroku app's dynos and what the steps created in it."""

    work: Path
    tree: Any
    redis: Any
    postgres: Any
    addons: dict[str, str]
    port: int
    dynos: dict[str, Dyno] = field(default_factory=dict)
    api: Api | None = None
    done: dict[str, Any] = field(default_factory=dict)
    peaks: dict[str, int] = field(default_factory=dict)
    probe: Any = None  # the tier's one client of the upstream Redis (see the fixture)

    def step(self, *needs: str) -> None:
        """Skips when an earlier step this one builds on did not complete."""
        for need in needs:
            if need not in self.done:
                pytest.skip(f"needs the step {need!r}, which did not complete")

    def dyno_list(self) -> tuple[Dyno, ...]:
        return tuple(self.dynos.values())

    def serving(self) -> tuple[Dyno, ...]:
        """The long-lived dynos (not the release phase, which exits when done)."""
        return tuple(d for name, d in self.dynos.items() if "release" not in name)


_APPS: list[App] = []


def failure_logs() -> str:
    """The tail of every dyno's log (conftest attaches it to a failing test), masked."""
    parts = []
    for app in _APPS:
        for name, dyno in app.dynos.items():
            parts.append(f"--- {name} dyno (last 60 lines) ---\n{dyno.tail(60)}")
    return _REDACTOR.redact("\n".join(parts))


class ConnectionWatch(threading.Thread):
    """Samples the add-ons' own view while the steps run: clients of the upstream Redis
    (CLIENT LIST) and the role's PostgreSQL backends (pg_stat_activity); keeps the peaks."""

    def __init__(self, app: App, account: Any) -> None:
        super().__init__(daemon=True)
        self.app, self.account = app, account
        self.stopping = threading.Event()
        self.client = app.probe

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            try:
                redis = sum(redis_clients(self.client).values())
                pg = sum(postgres_backends(self.app.postgres.sql, self.account.user).values())
            except Exception:
                continue
            self.app.peaks["redis"] = max(self.app.peaks.get("redis", 0), redis)
            self.app.peaks["postgres"] = max(self.app.peaks.get("postgres", 0), pg)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, postgresql: Any) -> Iterator[App]:
    work = tmp_path_factory.mktemp("real-appwrite")
    tree = prepare_tree(work)
    account = create_heroku_postgres_account(postgresql, password=CANARY_DB_PASSWORD,
                                             connection_limit=DB_CONNECTIONS)
    # Heroku mini's 20 clients for the dynos, plus one for this tier's own probe (CLIENT LIST,
    # INFO): a 21st client of the dynos would be refused, and `rejected_connections` says so.
    redis = start_redis(work / "redis", tls=True, username="h",
                        password=CANARY_REDIS_PASSWORD, maxclients=REDIS_MAXCLIENTS + 1)
    addons = {"DATABASE_URL": account.url, "REDIS_URL": redis.url}
    the_app = App(work, tree, redis, postgresql, addons, free_port())
    the_app.probe = redis.client(single_connection_client=True)  # one, shared by threads
    the_app.done["account"] = account
    _APPS.append(the_app)
    watch = ConnectionWatch(the_app, account)
    watch.start()
    try:
        yield the_app
    finally:
        watch.stop()
        for dyno in the_app.dyno_list():
            if dyno.proc.poll() is None:
                dyno.terminate()
        for dyno in the_app.dyno_list():
            try:
                dyno.wait(timeout=40)
            except Exception:
                pass
            dyno.kill_session()
        redis.stop()
        shutil.rmtree(tree.code_dir, ignore_errors=True)  # 180 MB per copy


def test_release_phase_on_a_first_deploy(app: App) -> None:
    release = Dyno("release", lite_env(app.tree, app.work, memory=WEB_MEMORY,
                                       addons=app.addons), name="release")
    app.dynos["release"] = release
    status = release.wait(timeout=180)
    assert status == 0, release.output
    release.wait_for_line("release: first deploy of Appwrite 1.9.6")
    # Heroku's extension allow list admits all three, so no refusal is foreseen.
    assert "cannot create the extension" not in release.output
    app.done["release"] = True


def test_web_dyno_healthy_through_port(app: App) -> None:
    app.step("release")
    web = Dyno("web", lite_env(app.tree, app.work, memory=WEB_MEMORY, addons=app.addons,
                               PORT=str(app.port)))
    app.dynos["web"] = web
    # Heroku starts the worker dyno together with the web dyno; on a first deploy its programs
    # wait (or restart) until the API has created Appwrite's schema.
    app.dynos["worker"] = Dyno("worker", lite_env(app.tree, app.work, memory=WORKER_MEMORY,
                                                  addons=app.addons))
    app.api = Api(app.port)
    api = app.api
    answer = wait_until("GET /v1/health/version through $PORT",
                        lambda: (lambda r: r.status_code == 200 and r.json())(
                            api.call("GET", "/health/version")),
                        timeout=90, dynos=(web,))
    assert answer == {"version": "1.9.6"}
    app.done["healthy_after"] = round(time.monotonic() - web.started, 1)
    web.wait_for_line("[launcher] postgres pooler: pgbouncer")
    web.wait_for_line("[launcher] redis bridge: 127.0.0.1:")
    app.done["web"] = True


def test_console_sign_up_is_the_owners_alone(app: App) -> None:
    """Issue 19, item 11: with _APP_CONSOLE_WHITELIST_EMAILS the first comer is refused."""
    app.step("web")
    assert app.api is not None
    refused = app.api.call("POST", "/account", {"userId": "unique()", "email": INTRUDER,
                                                "password": PASSWORD, "name": "First comer"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["type"] == "user_email_not_whitelisted"
    owner = app.api.expect(201, "POST", "/account", {"userId": "unique()", "email": OWNER,
                                                     "password": PASSWORD, "name": "Owner"})
    assert owner["email"] == OWNER
    app.done["signed_up"] = owner["$id"]


def test_console_login(app: App) -> None:
    app.step("signed_up")
    assert app.api is not None
    session = app.api.call("POST", "/account/sessions/email",
                           {"email": OWNER, "password": PASSWORD})
    assert session.status_code == 201, session.text
    app.api.keep_session(session)
    me = app.api.expect(200, "GET", "/account")
    assert me["$id"] == app.done["signed_up"] and me["email"] == OWNER
    app.done["session"] = True


def test_project_and_api_key_as_the_console_creates_them(app: App) -> None:
    app.step("session")
    assert app.api is not None
    team = app.api.expect(201, "POST", "/teams", {"teamId": "unique()",
                                                  "name": "Personal projects"})
    project = app.api.expect(201, "POST", "/projects", {"projectId": PROJECT, "name": "Lite",
                                                        "teamId": team["$id"]})
    assert project["$id"] == PROJECT and project["teamId"] == team["$id"]
    scopes = ["databases.read", "databases.write", "collections.read", "collections.write",
              "attributes.read", "attributes.write", "documents.read", "documents.write",
              "buckets.read", "buckets.write", "files.read", "files.write"]
    key = app.api.expect(201, "POST", f"/projects/{PROJECT}/keys",
                         {"keyId": "unique()", "name": "real-appwrite tier", "scopes": scopes})
    server = Api(app.port, project=PROJECT, key=key["secret"])
    assert server.call("GET", "/databases").status_code == 200
    _REDACTOR.add(key["secret"])
    app.done["key"] = key["secret"]


def sdk_client(app: App) -> Any:
    """Appwrite's own Python SDK (22.2.0, see docs/real-appwrite.md) pointed at `$PORT` with
    the router's headers and the project's API key."""
    from appwrite.client import Client

    client = Client().set_endpoint(f"http://127.0.0.1:{app.port}/v1")
    client.set_project(PROJECT).set_key(app.done["key"])
    for name, value in ROUTER_HEADERS.items():
        client.add_header(name, value)
    return client


def test_collection_attribute_made_available_by_the_worker_dyno(app: App) -> None:
    """The API only queues an attribute (`processing`); the worker dyno's worker-databases
    creates the column and marks it `available`."""
    app.step("key")
    server = Api(app.port, project=PROJECT, key=app.done["key"])
    server.expect(201, "POST", "/databases", {"databaseId": DATABASE, "name": "Main"})
    server.expect(201, "POST", f"/databases/{DATABASE}/collections",
                  {"collectionId": COLLECTION, "name": "Notes",
                   "permissions": ['read("any")']})
    queued = server.expect(202, "POST",
                           f"/databases/{DATABASE}/collections/{COLLECTION}/attributes/string",
                           {"key": ATTRIBUTE, "size": 64, "required": True})
    assert queued["status"] == "processing"
    path = f"/databases/{DATABASE}/collections/{COLLECTION}/attributes/{ATTRIBUTE}"
    started = time.monotonic()
    wait_until("the attribute `available`",
               lambda: server.expect(200, "GET", path)["status"] == "available",
               timeout=120, every=0.5, dynos=app.serving())
    app.done["attribute_after"] = round(time.monotonic() - started, 1)
    worker = app.dynos["worker"]
    worker.wait_for_line("createAttribute", timeout=10)
    assert "[worker-" not in app.dynos["web"].output  # the web dyno runs no queue worker
    app.done["attribute"] = True


def test_realtime_subscription_receives_the_document_event(app: App) -> None:
    """A websocket through `$PORT` `/v1/realtime` (nginx → realtime), as a browser opens it
    (offering permessage-deflate), receives the create event of a document made by the API."""
    app.step("attribute")
    import websockets

    server = Api(app.port, project=PROJECT, key=app.done["key"])
    channel = f"databases.{DATABASE}.collections.{COLLECTION}.documents"
    uri = (f"ws://127.0.0.1:{app.port}/v1/realtime?project={PROJECT}"
           f"&channels%5B%5D={channel}")

    async def scenario() -> tuple[dict[str, Any], str]:
        async with websockets.connect(uri, proxy=None, ping_interval=None,
                                      additional_headers={"X-Forwarded-Proto": "https"}) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert hello["type"] == "connected", hello
            assert hello["data"]["channels"] == [channel]
            document = await asyncio.to_thread(
                server.expect, 201, "POST",
                f"/databases/{DATABASE}/collections/{COLLECTION}/documents",
                {"documentId": "unique()", "data": {ATTRIBUTE: "hello from the tier"}})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message.get("type") == "event":
                    return message, document["$id"]
            raise AssertionError("no event within 30 s")

    event, document_id = asyncio.run(scenario())
    assert event["data"]["payload"]["$id"] == document_id
    assert event["data"]["payload"][ATTRIBUTE] == "hello from the tier"
    assert (f"databases.{DATABASE}.collections.{COLLECTION}.documents.{document_id}.create"
            in event["data"]["events"])
    app.done["realtime"] = True


def test_chunked_upload_download_delete_through_port(app: App) -> None:
    """Issue 17, §6: a file of several MB, uploaded in chunks by Appwrite's own SDK through
    `$PORT`, comes back byte-identical and is deleted."""
    app.step("key")
    from appwrite.id import ID
    from appwrite.input_file import InputFile
    from appwrite.services.storage import Storage

    storage = Storage(sdk_client(app))
    storage.create_bucket(BUCKET, "Uploads")
    data = os.urandom(UPLOAD_BYTES)
    file_id = ID.unique()
    storage.create_file(BUCKET, file_id, InputFile.from_bytes(data, "blob.bin"))
    server = Api(app.port, project=PROJECT, key=app.done["key"])
    meta = server.expect(200, "GET", f"/storage/buckets/{BUCKET}/files/{file_id}")
    assert meta["sizeOriginal"] == UPLOAD_BYTES
    assert meta["chunksTotal"] == meta["chunksUploaded"] == 3  # 5 MB chunks: really chunked
    downloaded = storage.get_file_download(BUCKET, file_id)
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(data).hexdigest()
    storage.delete_file(BUCKET, file_id)
    gone = server.call("GET", f"/storage/buckets/{BUCKET}/files/{file_id}")
    assert gone.status_code == 404 and gone.json()["type"] == "storage_file_not_found"
    app.done["upload"] = True


def test_every_request_answered_once_the_apps_domain_is_synced(app: App) -> None:
    """Issue 18: the first request to the app's domain creates its `api` rule
    (app/controllers/general.php:1027-1118); within 30 s the API's task worker copies every
    rule's domain into `riskyDomains` (app/http.php:640-702), after which every request through
    nginx is "risky" to Appwrite's dispatcher (:116-128). With every worker safe
    (`_APP_RISKY_WORKERS_PERCENT=100`) and all of them busy, 1.9.6 then picks
    `rand(N, N - 1)` (:154): worker N half the time, which does not exist, and nginx answers
    502. More requests at once than the dyno has API workers, after that sync: all answered."""
    app.step("attribute")
    web = app.dynos["web"]
    web.wait_for_line("Sync domains tick:", timeout=90)  # the task worker's 30 s timer
    local = threading.local()

    def get(index: int) -> int:
        if not hasattr(local, "api"):
            local.api = Api(app.port, project=PROJECT, key=app.done["key"])
        path = f"/databases/{DATABASE}/collections/{COLLECTION}"
        return local.api.call("GET", path if index % 2 else f"{path}/documents").status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(get, range(160)))
    assert codes == [200] * len(codes), {code: codes.count(code) for code in set(codes)}
    assert "invalid target worker-id" not in web.output


def test_connections_stayed_within_the_plans(app: App) -> None:
    """Neither add-on refused a connection, and the peaks stayed under the plans' limits."""
    app.step("web")
    info = app.probe.info("stats")
    assert info["rejected_connections"] == 0
    assert 0 < app.peaks.get("redis", 0) <= REDIS_MAXCLIENTS
    assert 0 < app.peaks.get("postgres", 0) <= DB_CONNECTIONS
    log = (Path(app.postgres.directory) / "postgres.log").read_text(errors="replace")
    account = app.done["account"]
    assert f"too many connections for role \"{account.user}\"" not in log


def test_no_secret_in_any_output_or_command_line(app: App) -> None:
    app.step("web")
    for name, dyno in app.dynos.items():
        for secret in ALL_SECRETS:
            assert secret not in dyno.output, f"a secret in the {name} dyno's output"
        for pid in dyno.session_pids():
            argv = cmdline(pid)
            for secret in ALL_SECRETS:
                assert secret not in argv, f"a secret in the argv of {argv[:60]!r}"


def test_sigterm_stops_every_dyno_within_herokus_30_seconds(app: App) -> None:
    app.step("web")
    results: dict[str, tuple[int | None, float, list[int]]] = {}

    def stop(name: str, dyno: Dyno) -> None:
        results[name] = dyno.stop_timed(timeout=40)

    threads = [threading.Thread(target=stop, args=(name, dyno))
               for name, dyno in app.dynos.items() if name != "release"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for name, (status, took, left) in results.items():
        app.done[f"sigterm_{name}"] = round(took, 1)
        assert status == 0, f"{name} dyno exited {status}"
        assert left == [], f"{name} dyno left processes behind: {left}"
        assert took < 30, f"{name} dyno took {took:.1f} s after SIGTERM (Heroku: 30 s)"


def test_figures(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a check: prints what the run measured (shown with `-s` or `-rA`)."""
    app.step("web")
    figures = {key: value for key, value in app.done.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    with capsys.disabled():
        print(f"\nreal-appwrite figures (seconds): {json.dumps(figures)}; add-on connections at "
              f"peak: {app.peaks}")


# --- JawsDB-shaped MariaDB -----------------------------------------------------------------------


def test_jawsdb_release_and_console_sign_up(tmp_path: Path, mariadb: Any, postgresql: Any) -> None:
    """The same image on a JawsDB Maria add-on (one generated-name database, 10 connections):
    the release phase and a web dyno boot, the console owner signs up and logs in."""
    work = tmp_path
    tree = prepare_tree(work)
    account = create_jawsdb_account(mariadb, password=CANARY_DB_PASSWORD, max_connections=10)
    redis = start_redis(work / "redis", tls=True, username="h", password=CANARY_REDIS_PASSWORD,
                        maxclients=REDIS_MAXCLIENTS)
    addons = {"JAWSDB_MARIA_URL": account.url, "REDIS_URL": redis.url,
              # what `deploy` records for such an app: the launcher sizes against kitefin
              "APPWRITE_LITE_PLANS": "redis=heroku-redis:mini,db=jawsdb-maria:kitefin,"
                                     "web=basic,worker=standard-2x"}
    jaws = App(work, tree, redis, postgresql, addons, free_port())
    _APPS.append(jaws)
    try:
        release = Dyno("release", lite_env(tree, work, memory=WEB_MEMORY, addons=addons),
                       name="jawsdb release")
        jaws.dynos["jawsdb release"] = release
        assert release.wait(timeout=180) == 0, release.output
        web = Dyno("web", lite_env(tree, work, memory=WEB_MEMORY, addons=addons,
                                   PORT=str(jaws.port)), name="jawsdb web")
        jaws.dynos["jawsdb web"] = web
        api = Api(jaws.port)
        wait_until("GET /v1/health/version through $PORT",
                   lambda: api.call("GET", "/health/version").status_code == 200,
                   timeout=90, dynos=(web,))
        owner = api.expect(201, "POST", "/account", {"userId": "unique()", "email": OWNER,
                                                     "password": PASSWORD, "name": "Owner"})
        session = api.call("POST", "/account/sessions/email",
                           {"email": OWNER, "password": PASSWORD})
        assert session.status_code == 201, session.text
        api.keep_session(session)
        assert api.expect(200, "GET", "/account")["$id"] == owner["$id"]
        # Requests at once, as a console page makes them: on this plan the sizing gives the API
        # few workers (one on kitefin), and none may be dropped while they are all busy.
        sizing = web.wait_for_line("[launcher] sizing:")
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: Api(jaws.port, cookie=api.cookie).call(
                "GET", "/account").status_code, range(24)))
        assert codes == [200] * 24, f"{codes} with {sizing}"
        # Appwrite's tables are in the add-on's own database, the only one the user may use.
        tables = mariadb.root_sql(
            "SELECT count(*) FROM information_schema.tables "
            f"WHERE table_schema = '{account.database}' AND table_name LIKE '\\_console\\_%'")
        assert int(tables.strip()) > 10
        status, took, left = web.stop_timed(timeout=40)
        assert status == 0 and left == [] and took < 30
        for secret in ALL_SECRETS:
            assert secret not in web.output and secret not in release.output
    finally:
        for dyno in jaws.dyno_list():
            dyno.kill_session()
        redis.stop()
        shutil.rmtree(tree.code_dir, ignore_errors=True)
