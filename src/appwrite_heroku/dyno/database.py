"""The database as the launcher sees it: reachable yet? which Appwrite version did we last release?

JawsDB hands out a placeholder URL for a few minutes after provisioning, and a database can be
briefly unreachable at boot; Appwrite itself then dies after 30 s of retries with an obscure
error. The launcher waits here first, bounded and logged, and fails with one clear line.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..clock import SYSTEM, Clock, poll
from ..config.database import APPWRITE_DEFAULT_DATABASE, appwrite_database
from ..errors import NotReadyError

# A row the release role keeps beside Appwrite's tables: the Appwrite version last released
# successfully, so the next release knows whether it is an upgrade.
MARKER_TABLE = "appwrite_heroku_release"
# On PostgreSQL the marker lives in `public`, never in Appwrite's schema: the release phase runs
# before Appwrite's first boot, and a schema that already exists makes the adapter's create()
# return early (utopia-php/database 6.0.0 Postgres.php:158-160) without the extensions and the
# utf8_ci_ai collation its tables need (Postgres.php:169-181).
POSTGRES_MARKER_SCHEMA = "public"
_MYSQL_ADAPTERS = ("mariadb", "mysql", "")


@dataclass(frozen=True)
class DatabaseTarget:
    adapter: str
    host: str
    port: int
    user: str
    password: str  # secret
    schema: str  # what the client connects to (PDO's dbname=): the add-on's database
    app_database: str = APPWRITE_DEFAULT_DATABASE  # where Appwrite's tables are (see above)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> DatabaseTarget:
        adapter = settings.get("_APP_DB_ADAPTER", "").strip().lower()
        default_port = 5432 if adapter == "postgresql" else 3306
        return cls(
            adapter=adapter,
            host=settings.get("_APP_DB_HOST", "").strip(),
            port=int(settings.get("_APP_DB_PORT", "") or default_port),
            user=settings.get("_APP_DB_USER", ""),
            password=settings.get("_APP_DB_PASS", ""),
            schema=settings.get("_APP_DB_SCHEMA", ""),
            app_database=appwrite_database(settings),
        )

    @property
    def speaks_mysql(self) -> bool:
        return self.adapter in _MYSQL_ADAPTERS

    @property
    def speaks_postgres(self) -> bool:
        return self.adapter == "postgresql"


def connect(target: DatabaseTarget, timeout: float = 5.0) -> Any:
    """A DB-API connection in autocommit mode: PyMySQL, or pg8000 for PostgreSQL (imported
    here: only the release role pays for a driver; the long-lived roles never log in)."""
    if target.speaks_postgres:
        return _connect_postgres(target, timeout)
    import pymysql

    return pymysql.connect(
        host=target.host, port=target.port, user=target.user, password=target.password,
        database=target.schema or None, connect_timeout=timeout, read_timeout=30,
        write_timeout=30, autocommit=True,
    )


def _connect_postgres(target: DatabaseTarget, timeout: float) -> Any:
    """libpq's default `sslmode=prefer`, which is what Appwrite's PDO uses (its DSN sets no
    sslmode: app/init/registers.php:313): TLS without certificate checks when the server
    offers it (Heroku Postgres requires TLS), plain otherwise. pg8000's `ssl_context=None`
    is exactly that (pg8000 1.31 core.py: SSLRequest, wrap on 'S', carry on plain on 'N')."""
    import pg8000.dbapi

    connection = pg8000.dbapi.connect(
        host=target.host, port=target.port, user=target.user, password=target.password,
        database=target.schema or target.user, timeout=timeout, ssl_context=None,
        application_name="appwrite-heroku release",
    )
    connection.autocommit = True
    return connection


def greeting(host: str, port: int, timeout: float = 3.0) -> str | None:
    """None when a MySQL/MariaDB server greets us, else why not.

    Written here rather than using PyMySQL because the long-lived launcher should not carry
    PyMySQL and `cryptography` for its whole life just to ask "is the server up?": reading the
    server's first packet (protocol 10 handshake, or an error packet such as "too many
    connections") answers that with the standard library. The release role does log in.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            header = _read_exactly(conn, 4)
            length = int.from_bytes(header[:3], "little")
            payload = _read_exactly(conn, min(length, 512))
    except OSError as error:
        return type(error).__name__
    if payload[:1] == b"\x0a":
        return None
    if payload[:1] == b"\xff" and len(payload) >= 3:
        return f"server error {int.from_bytes(payload[1:3], 'little')}"
    return "not a MySQL/MariaDB server"


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionAbortedError("closed by the server")
        data += chunk
    return data


def probe(target: DatabaseTarget, *, log_in: bool = True) -> str | None:
    """None when the database answers, else a short reason (never a secret).

    `log_in=False` only checks that the server greets (see `greeting`)."""
    if not target.host:
        return "no database host is configured"
    if target.speaks_mysql and not log_in:
        return greeting(target.host, target.port)
    try:
        if target.speaks_mysql or (target.speaks_postgres and log_in):
            connection = connect(target, timeout=3)
            try:
                connection.cursor().execute("SELECT 1")  # pg8000 cursors are no context managers
            finally:
                connection.close()
        else:
            with socket.create_connection((target.host, target.port), timeout=3):
                pass
    except Exception as error:  # any driver failure means "not yet"
        return _failure(error)
    return None


def _failure(error: Exception) -> str:
    """The error's class and code only: driver messages can quote user or database names."""
    code = (getattr(error, "args", None) or ("",))[0]
    if isinstance(code, dict):  # pg8000: the server's error fields; C is the SQLSTATE
        code = code.get("C", "")
    if isinstance(code, int) or (isinstance(code, str) and re.fullmatch(r"[0-9A-Z]{5}", code)):
        return f"{type(error).__name__} {code}"
    return type(error).__name__


def wait_until_ready(
    target: DatabaseTarget,
    *,
    attempts: int,
    delay: float,
    log: Callable[[str], None],
    not_ready_vars: list[str] | None = None,
    clock: Clock = SYSTEM,
    log_in: bool = True,
) -> None:
    """Bounded, logged retries; raises NotReadyError with one line after the last attempt.

    A JawsDB placeholder cannot become real inside this dyno (config vars are fixed for its
    life), but Heroku restarts it as soon as the add-on writes the real URL; waiting a little
    first keeps the dyno out of Heroku's crash back-off meanwhile.
    """
    attempt = 0

    def ask() -> str | None:
        """The reason it is not ready, logged with what happens next; None when it is."""
        nonlocal attempt
        attempt += 1
        if not_ready_vars:
            reason = f"{', '.join(not_ready_vars)} still holds the add-on's placeholder"
        else:
            found = probe(target, log_in=log_in)
            if found is None:
                if attempt > 1:
                    log(f"database: reachable after {attempt} attempts")
                return None
            reason = f"database at {target.host}:{target.port} not reachable ({found})"
        then = f"retrying in {delay:g} s" if attempt < attempts else "giving up"
        log(f"database: attempt {attempt}/{attempts}: {reason}; {then}")
        return reason

    reason = poll(ask, lambda answer: answer is None, clock=clock, delay=delay, factor=1.0,
                  max_delay=delay, attempts=attempts)
    if reason is None:
        return
    hint = ("Heroku restarts the dyno when the add-on is ready" if not_ready_vars
            else "check the database add-on (heroku addons) and its URL config var")
    raise NotReadyError(f"database not ready after {attempts} attempts: {reason}; {hint}")


def appwrite_installed(connection: Any, target: DatabaseTarget) -> bool:
    """Appwrite keeps its console project's tables under the `_console` namespace, in the
    database (MySQL family) or schema (PostgreSQL) `appwrite_database` names: the adapters
    look there themselves (utopia-php/database 6.0.0 SQL.php:202-211, TABLE_SCHEMA = the
    database, TABLE_NAME = namespace_collection; both engines have information_schema)."""
    cursor = connection.cursor()
    try:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE %s",
            (target.app_database, r"\_console\_%"),
        )
        (count,) = cursor.fetchone()
    finally:
        cursor.close()
    return bool(int(count))


# What Appwrite 1.9.6's first boot creates on PostgreSQL, in this order (utopia-php/database
# 6.0.0 Postgres.php:170-172), into the first schema of the search path (`public`).
POSTGRES_EXTENSIONS = ("postgis", "vector", "pg_trgm")


def postgres_extension_problems(connection: Any) -> list[str]:
    """Why the owner could not create each extension Appwrite needs, tried inside a
    transaction that is rolled back (CREATE EXTENSION is transactional): nothing is left
    behind, and Appwrite's first boot, which stops at the first refusal and then never tries
    again (the schema it made first already exists), is told about in advance."""
    problems: list[str] = []
    cursor = connection.cursor()
    try:
        for extension in POSTGRES_EXTENSIONS:
            cursor.execute("BEGIN")
            try:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS "
                               + identifier(extension, postgres=True))
            except Exception as error:  # the server's refusal, reported below
                fields: object = (getattr(error, "args", None) or ({},))[0]
                message = fields.get("M", "") if isinstance(fields, dict) else ""
                problems.append(f"{extension}: {message or type(error).__name__}")
            finally:
                cursor.execute("ROLLBACK")
    finally:
        cursor.close()
    return problems


def identifier(name: str, *, postgres: bool) -> str:
    """An SQL identifier quoted for its engine, the one way every statement here names a
    database, schema, table or extension: MySQL/MariaDB between backticks, PostgreSQL between
    double quotes, the quote character itself doubled (both engines' own rule), so no name
    can end the quoting and be read as syntax. Names that hold a quote are also refused where
    they enter (config.database.parse_database_url); this is the second wall."""
    if "\0" in name:
        raise ValueError("an SQL identifier cannot hold a NUL character")
    quote = '"' if postgres else "`"
    return quote + name.replace(quote, quote * 2) + quote


def _marker_table(target: DatabaseTarget) -> str:
    postgres = target.speaks_postgres
    schema = POSTGRES_MARKER_SCHEMA if postgres else target.app_database
    return (f"{identifier(schema, postgres=postgres)}."
            f"{identifier(MARKER_TABLE, postgres=postgres)}")


def read_marker(connection: Any, target: DatabaseTarget) -> str | None:
    table = _marker_table(target)
    timestamp = "TIMESTAMP" if target.speaks_postgres else "DATETIME"
    cursor = connection.cursor()
    try:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id SMALLINT PRIMARY KEY, "
            f"appwrite_version VARCHAR(64) NOT NULL, released_at {timestamp} NOT NULL)"
        )
        cursor.execute(f"SELECT appwrite_version FROM {table} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    finally:
        cursor.close()
    return str(row[0]) if row else None


def write_marker(connection: Any, target: DatabaseTarget, version: str) -> None:
    table = _marker_table(target)
    if target.speaks_postgres:
        statement = (
            f"INSERT INTO {table} (id, appwrite_version, released_at) "  # noqa: S608
            "VALUES (1, %s, timezone('utc', now())) ON CONFLICT (id) DO UPDATE SET "
            "appwrite_version = EXCLUDED.appwrite_version, released_at = EXCLUDED.released_at"
        )
    else:
        statement = (
            f"INSERT INTO {table} (id, appwrite_version, released_at) "  # noqa: S608
            "VALUES (1, %s, UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE "
            "appwrite_version = VALUES(appwrite_version), released_at = VALUES(released_at)"
        )
    cursor = connection.cursor()
    try:
        cursor.execute(statement, (version,))
    finally:
        cursor.close()
