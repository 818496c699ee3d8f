"""Real local services for the tests: redis-server (plain, password, TLS + ACL), MariaDB,
PostgreSQL (TLS only, like Heroku Postgres) and a Docker registry with Heroku-style auth. Each
binds 127.0.0.1 on a free port, lives in a temp dir, and is stopped by its fixture. `.ci/run`
installs the Debian packages.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_self_signed_cert(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate like Heroku Key-Value Store's (clients must not verify it)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class RedisServer:
    """A running redis-server. `url` is what a Heroku add-on would put in REDIS_URL."""

    port: int
    tls: bool
    username: str | None
    password: str | None
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        auth = ""
        if self.password is not None:
            user = urllib.parse.quote(self.username or "", safe="")
            auth = f"{user}:{urllib.parse.quote(self.password, safe='')}@"
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.directory / f"redis-{self.port}.log", "ab")
        self.proc = subprocess.Popen(["redis-server", *self.args], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, **kwargs: object) -> object:
        """A redis-py client straight to this server (certificate not verified)."""
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, username=self.username, password=self.password,
            ssl=self.tls, ssl_cert_reqs="none", **kwargs,  # type: ignore[arg-type]
        )


def start_redis(
    directory: Path,
    *,
    tls: bool = False,
    password: str | None = None,
    username: str | None = None,
    port: int | None = None,
    extra: list[str] | None = None,
    maxclients: int = 10000,
) -> RedisServer:
    """Start redis-server. With `username`, an ACL file defines that user (and disables
    `default`); with only `password`, `requirepass` is set, like Heroku's plans. `maxclients`:
    Heroku's plans cap clients (mini: 20); Redis refuses the next with `ERR max number of
    clients reached`."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory), "--maxclients", str(maxclients)]
    if tls:
        cert, key = make_self_signed_cert(directory)
        args += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert),
                 "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                 "--tls-auth-clients", "no"]
    else:
        args += ["--port", str(port)]
    if username is not None:
        if password is None:
            raise ValueError("an ACL user needs a password")
        acl = directory / f"users-{port}.acl"
        digest = __import__("hashlib").sha256(password.encode()).hexdigest()
        acl.write_text(f"user default off\nuser {username} on #{digest} ~* &* +@all\n")
        args += ["--aclfile", str(acl)]
    elif password is not None:
        args += ["--requirepass", password]
    args += extra or []
    server = RedisServer(port, tls, username, password, directory, args=args)
    server.start()
    return server


@dataclass
class MariaDB:
    """A running mariadbd with one user, password and schema, as JawsDB would give."""

    port: int
    user: str
    password: str
    schema: str
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        user = urllib.parse.quote(self.user, safe="")
        password = urllib.parse.quote(self.password, safe="")
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}/{self.schema}"

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, timeout=30)
            self.proc = None

    def root_sql(self, sql: str) -> str:
        """Runs SQL as root over the socket (an administrator's connection, which counts
        toward no application user's limit); returns the tab-separated result."""
        done = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.directory / 's.sock'}", "-uroot",
             "--batch", "--skip-column-names", "-e", sql],
            capture_output=True, text=True, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout


def start_mariadb(directory: Path, *, user: str, password: str, schema: str) -> MariaDB:
    directory.mkdir(parents=True, exist_ok=True)
    datadir = directory / "data"
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True,
    )
    port = free_port()
    sock = directory / "s.sock"
    log = open(directory / "mariadb.log", "ab")
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve",
         "--skip-log-bin", "--innodb-buffer-pool-size=32M"],
        stdout=log, stderr=log,
    )
    wait_for_port(port, timeout=60)
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    sql = (
        f"CREATE DATABASE `{schema}`;"
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{quoted}';"
        f"GRANT ALL ON `{schema}`.* TO '{user}'@'%';FLUSH PRIVILEGES;"
    )
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql],
            capture_output=True,
        )
        if done.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(done.stderr.decode())
        time.sleep(0.2)
    return MariaDB(port, user, password, schema, directory, proc)


def mariadb_root_sql(server: MariaDB, sql: str) -> None:
    """Runs SQL as MariaDB's root over the server's socket (account set-up only)."""
    subprocess.run(["mariadb", "--no-defaults", f"--socket={server.directory / 's.sock'}",
                    "-uroot", "-e", sql], check=True, capture_output=True)


@dataclass
class MariaDBAccount:
    """What JawsDB hands out: a user with every privilege on one generated-name database and
    nothing else, and a cap on its connections."""

    server: MariaDB
    user: str
    password: str
    database: str
    max_connections: int

    @property
    def url(self) -> str:
        return (f"mysql://{self.user}:{urllib.parse.quote(self.password, safe='')}"
                f"@127.0.0.1:{self.server.port}/{self.database}")


def create_jawsdb_account(server: MariaDB, *, password: str,
                          max_connections: int = 10) -> MariaDBAccount:
    suffix = os.urandom(6).hex()
    user, database = f"u{suffix[:11]}", f"d{suffix}"  # JawsDB's names: generated, alphanumeric
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    mariadb_root_sql(server, (
        f"CREATE DATABASE `{database}`;"
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{quoted}' "
        f"WITH MAX_USER_CONNECTIONS {max_connections};"
        f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%';"
    ))
    return MariaDBAccount(server, user, password, database, max_connections)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: CI runs as root, so its tools run as `postgres`."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgreSQL:
    """A postgres server like Heroku Postgres: TLS required (self-signed), password logins."""

    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Runs SQL as the superuser over the server's socket (set-up and inspection only)."""
        done = subprocess.run(
            _as_postgres([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-h", str(self.directory), "-p", str(self.port), "-U", "postgres",
                          "-d", database, "-c", statement]),
            capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout.strip()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, timeout=30)
            self.proc = None
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class PostgresAccount:
    """What Heroku Postgres (Essential) hands out: one database and its owner, who is neither
    superuser nor allowed to create databases or roles, with a connection limit."""

    server: PostgreSQL
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return (f"postgres://{self.user}:{urllib.parse.quote(self.password, safe='')}"
                f"@127.0.0.1:{self.server.port}/{self.database}")

    def superuser_psql(self) -> list[str]:
        """argv of a superuser psql over the server's socket (it takes none of the account's
        slots) that reads SQL on stdin and prints unaligned tuples only: for watching it."""
        return _as_postgres([
            str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-h", str(self.server.directory),
            "-p", str(self.server.port), "-U", "postgres", "-d", "postgres"])


def start_postgresql() -> PostgreSQL:
    """initdb and start a server in a fresh directory under /tmp that `postgres` owns (pytest's
    own temp dirs are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-U", "postgres",
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync"]),
        check=True, capture_output=True)
    cert, key = make_self_signed_cert(directory, "postgres")
    key.chmod(0o600)
    if os.geteuid() == 0:
        for path in (cert, key):
            shutil.chown(path, "postgres", "postgres")
    (directory / "data" / "pg_hba.conf").write_text(
        "local all postgres trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"  # no plain `host`: TLS or nothing
    )
    proc = subprocess.Popen(
        _as_postgres([str(PG_BIN / "postgres"), "-D", str(directory / "data"),
                      "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1",
                      "-c", f"unix_socket_directories={directory}", "-c", "ssl=on",
                      "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}",
                      "-c", "fsync=off", "-c", "shared_buffers=16MB",
                      "-c", "max_connections=60"]),
        stdout=open(directory / "postgres.log", "ab"), stderr=subprocess.STDOUT,
    )
    wait_for_port(port, timeout=60)
    server = PostgreSQL(port, directory, proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            server.sql("SELECT 1")
            return server
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# What Appwrite 1.9.6's PostgreSQL adapter creates (utopia-php/database 6.0.0 Postgres.php:170-172).
APPWRITE_EXTENSIONS = ("postgis", "vector", "pg_trgm")


def create_heroku_postgres_account(
    server: PostgreSQL, *, password: str, connection_limit: int = 20,
    allow_listed: tuple[str, ...] | None = APPWRITE_EXTENSIONS,
) -> PostgresAccount:
    """`allow_listed`: extensions the owner may create although PostgreSQL would require a
    superuser for them (postgis is not marked trusted), the way Heroku lets a database's owner
    install the extensions on its list. Modelled with pgextwlist (Debian's
    postgresql-15-pgextwlist), loaded for this role only. None: stock PostgreSQL rules."""
    suffix = os.urandom(6).hex()
    user, database = f"u{suffix}", f"d{suffix}"  # Heroku's names: generated, lowercase
    quoted = password.replace("'", "''")
    server.sql(f"CREATE ROLE {user} LOGIN PASSWORD '{quoted}' NOSUPERUSER NOCREATEDB "
               f"NOCREATEROLE CONNECTION LIMIT {connection_limit}")
    server.sql(f"CREATE DATABASE {database} OWNER {user}")
    server.sql(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    if allow_listed is not None:
        server.sql(f"ALTER ROLE {user} SET session_preload_libraries = 'pgextwlist'")
        server.sql(f"ALTER ROLE {user} SET extwlist.extensions = '{','.join(allow_listed)}'")
    return PostgresAccount(server, user, password, database)


@dataclass
class Registry:
    """A Docker registry (distribution) that authenticates like registry.heroku.com:
    user `_` or the empty user, password = the Heroku API key."""

    port: int
    api_key: str
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def auth_header(self) -> dict[str, str]:
        token = base64.b64encode(f":{self.api_key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


def start_registry(directory: Path, *, api_key: str) -> Registry:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    hashed = subprocess.run(
        ["htpasswd", "-nbB", "-C", "5", "_", api_key], check=True, capture_output=True, text=True
    ).stdout.strip().split(":", 1)[1]
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(f"_:{hashed}\n:{hashed}\n")
    storage = directory / "storage"
    storage.mkdir(exist_ok=True)
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: heroku, path: {htpasswd}}}}}\n"
    )
    log = open(directory / "registry.log", "ab")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    wait_for_port(port)
    return Registry(port, api_key, directory, proc)


@contextlib.contextmanager
def buildah_storage(directory: Path) -> Iterator[list[str]]:
    """Global buildah flags that keep images in a temp dir (vfs, no daemon, no root needed
    beyond what we have)."""
    root, runroot = directory / "root", directory / "runroot"
    root.mkdir(parents=True, exist_ok=True)
    runroot.mkdir(parents=True, exist_ok=True)
    try:
        yield ["--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def have(command: str) -> bool:
    return shutil.which(command) is not None


def isolated_env(tmp: Path) -> dict[str, str]:
    """Environment for subprocesses under test: no login lands in the home directory."""
    env = dict(os.environ)
    env["DOCKER_CONFIG"] = str(tmp / "docker-config")
    env["REGISTRY_AUTH_FILE"] = str(tmp / "auth.json")
    return env
