"""Benchmark: Appwrite-shaped PDO clients straight to PostgreSQL vs through the pooler's PgBouncer.

    python3 benchmarks/pgbouncer.py [--clients 16] [--worst-case 34] [--transactions 100]
                                    [--rounds 3]

One Heroku-shaped PostgreSQL 15 (TLS only, a database owner limited to 20 connections, like
essential-0) and PgBouncer configured by `appwrite_heroku.dyno.pooler` exactly as a dyno gets it (7
server connections: a web + worker formation's share of 20 with 5 kept free). The clients are
PHP processes opening PDO as Appwrite 1.9.6 does (emulated prepares), each keeping its connection
and running the Postgres adapter's transaction shape (ROLLBACK cleanup, BEGIN, SET LOCAL
statement_timeout, INSERT … RETURNING, SELECT, COMMIT) back to back.

Printed per target: clients connected / refused, transactions per second over the window from
the first transaction begun to the last ended, p50 transaction latency, and the most server
connections the role held (sampled from pg_stat_activity). `--clients` stays under the plan's
limit so both targets can serve it; `--worst-case` is the modelled web + worker dyno count,
which only the pooler can serve; its clients connect all at once, as a booting dyno's processes
do. Figures are medians over `--rounds`, targets interleaved; each PgBouncer run gets a fresh
PgBouncer and every run starts with no backend of the role left.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)

from appwrite_heroku.config import wiring
from appwrite_heroku.dyno import pooler
from pdo import Load, ServerWatch, run_pdo_clients
from services import (
    PostgresAccount,
    _stop,
    create_heroku_postgres_account,
    free_port,
    start_postgresql,
    wait_for_port,
)

PLAN_LIMIT = 20


@dataclass
class Row:
    name: str
    clients: int
    connected: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    peak: list[int] = field(default_factory=list)

    def add(self, load: Load, peak: int) -> None:
        self.connected.append(load.connected)
        self.refused.append(len(load.refused))
        if load.window and load.committed:
            self.tps.append(load.committed / load.window)
        if load.p50 is not None:
            self.p50_ms.append(load.p50 * 1000)
        self.peak.append(peak)

    def line(self) -> str:
        def med(values: list[float] | list[int], fmt: str) -> str:
            return format(statistics.median(values), fmt) if values else "—"

        return (f"| {self.name} | {self.clients} | {med(self.connected, '.0f')} | "
                f"{med(self.refused, '.0f')} | {med(self.tps, '.0f')} | "
                f"{med(self.p50_ms, '.2f')} | {max(self.peak)} |")


def watch(account: PostgresAccount) -> ServerWatch:
    return ServerWatch(account.superuser_psql(), account.user)


@contextlib.contextmanager
def bouncer(config: pooler.PoolerConfig, log_path: Path) -> Iterator[None]:
    """A fresh PgBouncer per measurement: its idle server connections must not take the
    direct runs' slots (it keeps them for server_idle_timeout)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(pooler.command("pgbouncer", config), stdout=log, stderr=log)
        try:
            wait_for_port(config.listen_port)
            yield
        finally:
            _stop(proc)


def wait_for_no_backends(account: PostgresAccount, timeout: float = 30) -> None:
    with watch(account) as seen:
        deadline = time.monotonic() + timeout
        while seen.count() and time.monotonic() < deadline:
            time.sleep(0.05)


def measure(account: PostgresAccount, port: int, clients: int, transactions: int) -> Row:
    row = Row("", clients)
    wait_for_no_backends(account)
    with watch(account) as seen:
        load = run_pdo_clients(host="127.0.0.1", port=port, dbname=account.database,
                               user=account.user, password=account.password, clients=clients,
                               transactions=transactions, hold_ms=0)
    if load.errors:
        print(f"  {len(load.errors)} transaction errors, e.g. {load.errors[0]}", file=sys.stderr)
    row.add(load, seen.peak)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--worst-case", type=int, default=34)
    parser.add_argument("--transactions", type=int, default=100, help="per client")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("pgbouncer") is None or shutil.which("php") is None:
        print("needs pgbouncer and php-cli with php-pgsql", file=sys.stderr)
        return 2

    server = start_postgresql()
    work = Path(tempfile.mkdtemp(prefix="pgb-bench-"))
    try:
        account = create_heroku_postgres_account(
            server, password=os.urandom(12).hex(), connection_limit=PLAN_LIMIT,
            allow_listed=None)
        config = pooler.PoolerConfig(
            upstream=pooler.Upstream(host="127.0.0.1", port=server.port,
                                     dbname=account.database, user=account.user,
                                     password=account.password),
            listen_port=free_port(), pool=wiring.server_pool_size(PLAN_LIMIT, 2, 5),
            directory=work / "pgbouncer", run_as=pooler.unprivileged_user())
        pooler.write_files(config)
        run_pdo_clients(host="127.0.0.1", port=server.port, dbname=account.database,
                        user=account.user, password=account.password, clients=1,
                        transactions=1, setup=True)

        targets = [
            ("direct", server.port, args.clients),
            ("PgBouncer", config.listen_port, args.clients),
            ("direct", server.port, args.worst_case),
            ("PgBouncer", config.listen_port, args.worst_case),
        ]
        rows = {(name, clients): Row(name, clients) for name, _, clients in targets}
        for round_number in range(1, args.rounds + 1):
            for name, port, clients in targets:
                print(f"round {round_number}: {name}, {clients} clients", file=sys.stderr)
                with bouncer(config, work / "pgbouncer.log") if port == config.listen_port \
                        else contextlib.nullcontext():
                    one = measure(account, port, clients, args.transactions)
                row = rows[(name, clients)]
                row.connected += one.connected
                row.refused += one.refused
                row.tps += one.tps
                row.p50_ms += one.p50_ms
                row.peak += one.peak

        print(f"PostgreSQL 15, TLS, role limited to {PLAN_LIMIT} connections; PgBouncer "
              f"{config.pool.max_db_connections} server connections; {args.transactions} "
              f"transactions per client, medians of {args.rounds} rounds")
        print("| target | clients | connected | refused | transactions/s | p50 ms | "
              "max server connections |")
        print("|---|---|---|---|---|---|---|")
        for row in rows.values():
            print(row.line())
        return 0
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
