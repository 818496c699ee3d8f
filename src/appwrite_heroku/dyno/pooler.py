"""PgBouncer inside each dyno, between Appwrite and Heroku Postgres, in transaction mode.

Every Appwrite PHP process keeps its database pools for its whole life: a web and a worker dyno
hold about 34 connections at the smallest settings, and Heroku Postgres essential-0 admits 20.
Most of them sit idle, so a transaction-mode pooler lets them share a few server connections.

Why transaction mode is safe for Appwrite 1.9.6 with utopia-php/database 6.0.0:
- app/init/registers.php:312-320 (1.9.6) opens every pooled connection with
  `ATTR_EMULATE_PREPARES => true` (line 318) and `ATTR_PERSISTENT => false` (line 316): PDO
  interpolates parameters itself and sends plain queries, so no named server-side prepared
  statement has to survive from one transaction to the next. The `db` register used by
  `migrate` (registers.php:405-433) takes `SQL::getPDOAttributes()` (src/Database/Adapter/
  SQL.php:2285-2294 at 6.0.0): emulated prepares too, persistent only on the PHP side.
- src/Database/Adapter/Postgres.php at 6.0.0 uses no advisory lock, LISTEN/NOTIFY, temporary
  table, cursor or `search_path`; tables are always schema-qualified (`getSQLTable`, lines
  2844-2850). Transactions are BEGIN / SAVEPOINT / ROLLBACK TO / COMMIT on one connection
  (lines 37-101, SQL.php:114-142), which transaction pooling keeps on one server connection.
- The one session-level state is the statement timeout: `execute()` (lines 103-123) runs
  `SET statement_timeout = '<n>ms'` before a statement outside a transaction and
  `RESET statement_timeout` after it (inside a transaction it uses `SET LOCAL`, line 110, which
  is safe); `find`, `count`, `sum` and the writes go through it (SQL.php:3261, 3383, 3478).
  Through a transaction pooler those three autocommit statements may land on different server
  connections, so a statement can run under the value another client set last: 0, 15 s (API,
  app/init/constants.php:67) or 300 s (workers and tasks, lines 68-69), until the next SET or
  RESET on that server connection. Statements run without their own SET (`getDocument`,
  SQL.php:382-414, schema changes) can meet such a stray value too, where directly they run
  unbounded. The effect is a statement cancelled by a timeout meant for another request, or
  not cancelled when it should be; both need statements slower than 15 s. Forcing
  `server_reset_query_always` would instead make the timeout never apply, at the price of an
  extra round trip to Heroku per transaction. docs/troubleshooting.md (Postgres connections)
  says what to do if it bites. (`migrate`'s raw statements through the `db` register are
  MySQL-only and go to the add-on directly.)
- `getConnectionId()` (`pg_backend_pid()`, line 1498) names whichever server connection ran it;
  Appwrite 1.9.6 does not call it.

TLS: `server_tls_sslmode = require` encrypts the link to the add-on without verifying its
certificate. Heroku Postgres requires SSL and documents `sslmode=require`; its certificates are
not meant to be verified by clients by default (no CA to verify against ships with the add-on's
URL), so `verify-ca`/`verify-full` would refuse every connection, and `prefer` could fall back
to plain text. To Appwrite, PgBouncer listens on loopback only, without TLS (nothing leaves the
dyno), and still checks the password.

Pure rendering and sizing here; `for_dyno` is the launcher's one call (it writes the two files,
mode 0600, in the dyno's runtime directory). The password is only ever in the auth file.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import inputs
from ..config.processes import Program
from ..config.wiring import (
    DEFAULT_HEADROOM,
    DEFAULT_PLAN_LIMIT,
    POOL_SIZE_VAR,
    SWITCH_VAR,
    PoolSize,
    pool_size_for,
    pooler_enabled,
)
from ..errors import InputError

PROGRAM_NAME = "pgbouncer"
BINARY_VAR = "APPWRITE_LITE_PGBOUNCER"
# Appwrite's client connections per dyno (37 DB connections on a 512 MB web dyno, 75 on a worker
# dyno, by the worst-case count from 1.9.6's sources) stay far below this; file descriptors on a
# dyno (10000) are not the limit.
MAX_CLIENT_CONN = 500
# Characters a host or database name may have in the rendered ini without quoting rules.
_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Upstream:
    """The add-on as Appwrite's settings name it. Holds a secret: never print it."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Upstream:
        host = settings.get("_APP_DB_HOST", "").strip()
        dbname = settings.get("_APP_DB_SCHEMA", "").strip()
        raw_port = settings.get("_APP_DB_PORT", "").strip() or "5432"
        for name, value in (("_APP_DB_HOST", host), ("_APP_DB_SCHEMA", dbname)):
            if not _PLAIN.match(value):
                raise InputError(
                    f"{name} is empty or has characters the pooler's configuration cannot carry "
                    f"(letters, digits, _ . - only); fix it or set {SWITCH_VAR}=off")
        try:
            port = inputs.port(raw_port, "_APP_DB_PORT")
        except InputError as error:
            raise InputError(f"{error}; fix it or set {SWITCH_VAR}=off") from None
        user = settings.get("_APP_DB_USER", "")
        if not user or any(ord(char) < 32 for char in user):
            raise InputError(f"_APP_DB_USER is empty or unprintable; fix it or set "
                             f"{SWITCH_VAR}=off")
        return cls(host, port, dbname, user, settings.get("_APP_DB_PASS", ""))


@dataclass(frozen=True)
class PoolerConfig:
    upstream: Upstream
    listen_port: int
    pool: PoolSize
    directory: Path  # the pooler's own part of the runtime directory (mode 0700)
    run_as: str | None = None  # PgBouncer refuses to run as root; only set when started as root
    server_sslmode: str = "require"

    @property
    def ini_path(self) -> Path:
        return self.directory / "pgbouncer.ini"

    @property
    def auth_path(self) -> Path:
        return self.directory / "userlist.txt"


def _quote_auth(value: str) -> str:
    """PgBouncer's auth-file field: double quotes, an inner `"` written twice."""
    return '"' + value.replace('"', '""') + '"'


def render_auth_file(upstream: Upstream) -> str:
    """The one user PgBouncer knows, with the add-on's password in clear: PgBouncer checks
    Appwrite's login against it (SCRAM) and uses it to log in to the add-on (SCRAM needs the
    clear password, a hash cannot answer the server's challenge)."""
    return f"{_quote_auth(upstream.user)} {_quote_auth(upstream.password)}\n"


def render_ini(config: PoolerConfig) -> str:
    """pgbouncer.ini: no secret in it (the password stays in the auth file)."""
    upstream = config.upstream
    lines = [
        "[databases]",
        # Appwrite connects with dbname=_APP_DB_SCHEMA (registers.php:313); the same name here.
        f"{upstream.dbname} = host={upstream.host} port={upstream.port} "
        f"dbname={upstream.dbname}",
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {config.listen_port}",
        "unix_socket_dir =",
        "pool_mode = transaction",
        "auth_type = scram-sha-256",
        f"auth_file = {config.auth_path}",
        f"default_pool_size = {config.pool.default_pool_size}",
        f"reserve_pool_size = {config.pool.reserve_pool_size}",
        "reserve_pool_timeout = 3",
        f"max_db_connections = {config.pool.max_db_connections}",
        f"max_user_connections = {config.pool.max_db_connections}",
        f"max_client_conn = {MAX_CLIENT_CONN}",
        f"server_tls_sslmode = {config.server_sslmode}",
        "client_tls_sslmode = disable",
        # Appwrite's pools open their connections once and keep them; a line per login would
        # only repeat that in Heroku's log. Errors are still logged.
        "log_connections = 0",
        "log_disconnections = 0",
        "log_stats = 0",
        "logfile =",
        "pidfile =",
    ]
    if config.run_as:
        lines.append(f"user = {config.run_as}")
    return "\n".join(lines) + "\n"


def command(binary: str, config: PoolerConfig) -> tuple[str, ...]:
    """Only the ini's path on the command line: nothing secret in argv."""
    return (binary, str(config.ini_path))


def program(binary: str, config: PoolerConfig) -> Program:
    # Before Appwrite's processes (priority 200/300): they connect through it at boot; and
    # stopped after them, so a job a queue worker finishes at shutdown still reaches the database.
    return Program(name=PROGRAM_NAME, command=command(binary, config),
                   directory=str(config.directory), startsecs=1, priority=50, stops_last=True)


def appwrite_settings(listen_port: int) -> dict[str, str]:
    """What Appwrite's processes are told instead of the add-on's host and port."""
    return {"_APP_DB_HOST": "127.0.0.1", "_APP_DB_PORT": str(listen_port)}


def write_files(config: PoolerConfig) -> None:
    """The ini and the auth file, both 0600, created with that mode (never briefly wider)."""
    config.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path, text in ((config.ini_path, render_ini(config)),
                       (config.auth_path, render_auth_file(config.upstream))):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
    if config.run_as:
        # Started as root, PgBouncer drops to this user: let it read its own files.
        entry = pwd.getpwnam(config.run_as)
        for path in (config.directory, config.ini_path, config.auth_path):
            os.chown(path, entry.pw_uid, entry.pw_gid)


def unprivileged_user() -> str | None:
    """None unless we are root (a plain `docker run`, CI); then a user PgBouncer may drop to."""
    if os.geteuid() != 0:
        return None
    for name in ("pgbouncer", "postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise InputError("running as root and no unprivileged user (pgbouncer, postgres, nobody) "
                     f"exists for PgBouncer to run as; run as a non-root user or set "
                     f"{SWITCH_VAR}=off")


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now, for a program that only this dyno's processes reach
    (PgBouncer here, Appwrite's HTTP servers behind nginx in the launcher)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class DynoPooler:
    """What the launcher adds: programs to supervise first, settings for Appwrite's processes."""

    programs: list[Program] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def for_dyno(role: str, settings: Mapping[str, str], environ: Mapping[str, str],
             runtime_dir: Path, log: Callable[[str], None], *,
             plan_limit: int = DEFAULT_PLAN_LIMIT, dynos: int | None = None,
             headroom: int = DEFAULT_HEADROOM) -> DynoPooler:
    """The pooler for a serving role (web, worker, all), or nothing for MySQL or when off."""
    if not pooler_enabled(settings, environ):
        if settings.get("_APP_DB_ADAPTER", "").strip().lower() == "postgresql":
            log(f"postgres pooler: off ({SWITCH_VAR}); Appwrite connects to the add-on directly")
        return DynoPooler()
    binary = environ.get(BINARY_VAR, "pgbouncer")
    if shutil.which(binary) is None:
        raise InputError(f"{binary} not found: build the image from Dockerfile.lite (it "
                         f"installs pgbouncer) or set {SWITCH_VAR}=off")
    pool = pool_size_for(role, environ, plan_limit=plan_limit, dynos=dynos, headroom=headroom)
    config = PoolerConfig(
        upstream=Upstream.from_settings(settings), listen_port=free_loopback_port(), pool=pool,
        directory=runtime_dir / PROGRAM_NAME, run_as=unprivileged_user(),
    )
    write_files(config)
    source = "set by " + POOL_SIZE_VAR if environ.get(POOL_SIZE_VAR, "").strip() else (
        f"this dyno's share of {plan_limit}, {headroom} kept free")
    log(f"postgres pooler: pgbouncer on 127.0.0.1:{config.listen_port} → "
        f"{config.upstream.host}:{config.upstream.port} (TLS required), transaction pooling, "
        f"at most {pool.max_db_connections} server connections ({source})")
    return DynoPooler([program(binary, config)], appwrite_settings(config.listen_port))
