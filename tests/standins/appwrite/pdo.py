"""Appwrite-shaped PostgreSQL load (PHP PDO clients, `pdo_clients.php`) and a watch on what the
server sees meanwhile (its backends for one role, sampled every few milliseconds)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PDO_CLIENTS = Path(__file__).with_name("pdo_clients.php")


@dataclass
class Load:
    clients: int
    connected: int
    refused: list[str]
    committed: int
    errors: list[str]
    latencies: list[float]
    p50: float | None
    elapsed: float
    window: float | None  # first transaction begun → last ended, all clients together


def run_pdo_clients(*, host: str, port: int, dbname: str, user: str, password: str,
                    clients: int = 34, transactions: int = 5, hold_ms: int = 50,
                    stagger_ms: int = 0, setup: bool = False, timeout: float = 180) -> Load:
    """`clients` PHP processes, each holding one PDO connection opened as Appwrite opens it.
    The password goes through the environment, never the command line."""
    argv = ["php", str(PDO_CLIENTS), "--host", host, "--port", str(port), "--dbname", dbname,
            "--user", user, "--clients", str(clients), "--transactions", str(transactions),
            "--hold-ms", str(hold_ms), "--stagger-ms", str(stagger_ms)]
    if setup:
        argv.append("--setup")
    done = subprocess.run(argv, env={**os.environ, "PDO_PASS": password}, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"pdo_clients.php exited {done.returncode}: {done.stderr.strip()}")
    data = json.loads(done.stdout)
    return Load(data["clients"], data["connected"], data["refused"], data["committed"],
                data["errors"], data["latencies"], data["p50"], data["elapsed"], data["window"])


@dataclass
class ServerWatch:
    """Counts the server's backends logged in as `user`, from one superuser psql session kept
    open for the whole watch (over the server's socket: it takes none of the role's slots)."""

    psql: list[str]  # argv of a psql that reads SQL on stdin, prints unaligned tuples only
    user: str
    interval: float = 0.005
    samples: list[int] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one psql session: one question at a time
        self._proc = subprocess.Popen(self.psql, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def query(self, sql: str) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._proc.stdin.write(sql.rstrip(";") + ";\n")
            self._proc.stdin.flush()
            return self._proc.stdout.readline().strip()

    def count(self) -> int:
        return int(self.query(
            f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{self.user}'"))

    def all_tls(self) -> bool:
        """Every backend of the role came over TLS (PgBouncer's server_tls_sslmode=require)."""
        return self.query(
            "SELECT coalesce(bool_and(s.ssl), true) FROM pg_stat_activity a "
            f"JOIN pg_stat_ssl s USING (pid) WHERE a.usename = '{self.user}'") == "t"

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.count())
            self.tls.append(self.all_tls())
            time.sleep(self.interval)

    def __enter__(self) -> ServerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)
