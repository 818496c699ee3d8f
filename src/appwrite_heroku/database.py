"""The database as the launcher sees it: reachable yet? which Appwrite version did we last release?

JawsDB hands out a placeholder URL for a few minutes after provisioning, and a database can be
briefly unreachable at boot; Appwrite itself then dies after 30 s of retries with an obscure
error. The launcher waits here first, bounded and logged, and fails with one clear line.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import NotReadyError

# A row the release role keeps beside Appwrite's tables: the Appwrite version last released
# successfully, so the next release knows whether it is an upgrade.
MARKER_TABLE = "appwrite_heroku_release"
_MYSQL_ADAPTERS = ("mariadb", "mysql", "")


@dataclass(frozen=True)
class DatabaseTarget:
    adapter: str
    host: str
    port: int
    user: str
    password: str  # secret
    schema: str

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
        )

    @property
    def speaks_mysql(self) -> bool:
        return self.adapter in _MYSQL_ADAPTERS


def connect(target: DatabaseTarget, timeout: float = 5.0) -> Any:
    """A PyMySQL connection (imported here: only the roles that need it pay for it)."""
    import pymysql

    return pymysql.connect(
        host=target.host, port=target.port, user=target.user, password=target.password,
        database=target.schema, connect_timeout=timeout, read_timeout=30, write_timeout=30,
        autocommit=True,
    )


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
        if target.speaks_mysql:
            connection = connect(target, timeout=3)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            finally:
                connection.close()
        else:
            with socket.create_connection((target.host, target.port), timeout=3):
                pass
    except Exception as error:  # any driver failure means "not yet"
        code = getattr(error, "args", ("",))[0]
        return f"{type(error).__name__} {code}".strip() if isinstance(code, int) else (
            type(error).__name__)
    return None


def wait_until_ready(
    target: DatabaseTarget,
    *,
    attempts: int,
    delay: float,
    log: Callable[[str], None],
    not_ready_vars: list[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log_in: bool = True,
) -> None:
    """Bounded, logged retries; raises NotReadyError with one line after the last attempt.

    A JawsDB placeholder cannot become real inside this dyno (config vars are fixed for its
    life), but Heroku restarts it as soon as the add-on writes the real URL; waiting a little
    first keeps the dyno out of Heroku's crash back-off meanwhile.
    """
    reason = ""
    for attempt in range(1, attempts + 1):
        if not_ready_vars:
            reason = f"{', '.join(not_ready_vars)} still holds the add-on's placeholder"
        else:
            found = probe(target, log_in=log_in)
            if found is None:
                if attempt > 1:
                    log(f"database: reachable after {attempt} attempts")
                return
            reason = f"database at {target.host}:{target.port} not reachable ({found})"
        if attempt < attempts:
            log(f"database: attempt {attempt}/{attempts}: {reason}; retrying in {delay:g} s")
            sleep(delay)
        else:
            log(f"database: attempt {attempt}/{attempts}: {reason}; giving up")
    hint = ("Heroku restarts the dyno when the add-on is ready" if not_ready_vars
            else "check the database add-on (heroku addons) and its URL config var")
    raise NotReadyError(f"database not ready after {attempts} attempts: {reason}; {hint}")


def appwrite_installed(connection: Any, schema: str) -> bool:
    """Appwrite keeps its console project's tables under the `_console` namespace."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE %s",
            (schema, r"\_console\_%"),
        )
        (count,) = cursor.fetchone()
    return bool(count)


def read_marker(connection: Any) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS `{MARKER_TABLE}` (id TINYINT PRIMARY KEY, "
            "appwrite_version VARCHAR(64) NOT NULL, released_at DATETIME NOT NULL)"
        )
        cursor.execute(f"SELECT appwrite_version FROM `{MARKER_TABLE}` WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    return str(row[0]) if row else None


def write_marker(connection: Any, version: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO `{MARKER_TABLE}` (id, appwrite_version, released_at) "  # noqa: S608
            "VALUES (1, %s, UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE "
            "appwrite_version = VALUES(appwrite_version), released_at = VALUES(released_at)",
            (version,),
        )
