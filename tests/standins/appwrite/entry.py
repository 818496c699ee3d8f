"""Stand-in for Appwrite's entry points: the API, the realtime server, workers and tasks.

Invoked as `entry.py NAME [ARGS...]` by small wrappers the tests place where the launcher
discovers Appwrite (a bin dir and a `php` interpreter). Each one behaves like the real process
in what the launcher depends on: servers listen on `$PORT`, workers run until signalled, tasks
exit with a status. Each records its pid in `$STANDIN_RECORD_DIR` so tests can check what ran.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SETTINGS_SHOWN = (
    "_APP_CPU_NUM", "_APP_WORKER_PER_CORE", "_APP_WORKERS_NUM", "_APP_REDIS_HOST",
    "_APP_REDIS_PORT", "_APP_DB_HOST", "_APP_DB_PORT", "_APP_DOMAIN", "_APP_CONNECTIONS_MAX",
    "_APP_WORKER_MAX_COROUTINES", "_APP_POOL_ADAPTER",
)


def record(name: str) -> None:
    directory = os.environ.get("STANDIN_RECORD_DIR")
    if directory:
        Path(directory, f"{name}.pid").write_text(str(os.getpid()))


def postgres_check() -> str:
    """Two transactions through PHP's PDO, opened as Appwrite opens it, to wherever the
    `_APP_DB_*` settings point (the pooler on loopback, or the add-on)."""
    host, port = os.environ["_APP_DB_HOST"], os.environ["_APP_DB_PORT"]
    done = subprocess.run(
        ["php", str(Path(__file__).with_name("pdo_clients.php")), "--host", host, "--port", port,
         "--dbname", os.environ["_APP_DB_SCHEMA"], "--user", os.environ["_APP_DB_USER"],
         "--clients", "1", "--transactions", "2", "--hold-ms", "0", "--setup"],
        env={**os.environ, "PDO_PASS": os.environ.get("_APP_DB_PASS", "")},
        capture_output=True, text=True, timeout=60,
    )
    if done.returncode != 0:
        return f"postgres check failed: {done.stderr.strip()}"
    data = json.loads(done.stdout)
    return (f"reached postgres at {host}:{port}: committed {data['committed']}, "
            f"refused {len(data['refused'])}, errors {len(data['errors'])}")


class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/v1/health/version":
            body = {"version": "stand-in"}
        elif self.path == "/v1/standin/postgres":
            body = {"postgres": postgres_check()}
        else:
            body = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "settings": {k: os.environ.get(k) for k in SETTINGS_SHOWN},
                "sees_addon_urls": sorted(k for k in os.environ if k.endswith("_URL")),
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print("api:", format % args, flush=True)


def api() -> None:
    port = int(os.environ["PORT"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Api)
    print(f"api listening on {port}", flush=True)
    server.serve_forever()


async def realtime_handler(websocket) -> None:  # type: ignore[no-untyped-def]
    path = websocket.request.path
    if not path.startswith("/v1/realtime"):
        await websocket.close(code=1008, reason="unknown path")
        return
    async for message in websocket:
        if json.loads(message).get("type") == "ping":
            await websocket.send(json.dumps({"type": "pong"}))
        else:
            await websocket.send(message)


async def realtime_main() -> None:
    import websockets

    port = int(os.environ["PORT"])
    # No protocol-level pings from the stand-in: only the client's messages keep it busy.
    async with websockets.serve(realtime_handler, "127.0.0.1", port, ping_interval=None):
        sizing = " ".join(f"{k}={os.environ.get(k)}" for k in (
            "_APP_POOL_ADAPTER", "_APP_WORKERS_NUM", "_APP_CONNECTIONS_MAX"))
        print(f"realtime listening on {port} with {sizing}", flush=True)
        await asyncio.Future()


def worker(name: str) -> None:
    if name in os.environ.get("STANDIN_CRASH", "").split(","):
        time.sleep(float(os.environ.get("STANDIN_CRASH_AFTER", "0")))
        print(f"{name}: crashing on purpose", flush=True)
        sys.exit(3)
    if name == "worker-stats-usage" and os.environ.get("STANDIN_REDIS_CHECK"):
        import redis

        # Like Appwrite 1.9.6: plain TCP, no AUTH, whatever _APP_REDIS_HOST/PORT say.
        client = redis.Redis(host=os.environ["_APP_REDIS_HOST"],
                             port=int(os.environ["_APP_REDIS_PORT"]))
        client.rpush("v1-stats-usage-standin", "drained")
        print(f"{name}: reached redis without a password", flush=True)
    if name in os.environ.get("STANDIN_PG_CHECK", "").split(","):
        print(f"{name}: {postgres_check()}", flush=True)
    if name.startswith("worker-"):
        consume(name)
        return
    print(f"{name}: consuming", flush=True)
    while True:
        time.sleep(3600)


def queue_of(name: str) -> str:
    """The queue app/worker.php:62-66 (Appwrite 1.9.6) gives `bin/worker-NAME`."""
    worker = name.removeprefix("worker-")
    override = os.environ.get("_APP_QUEUE_NAME", "")
    if override:
        return override
    return "database_db_main" if worker.startswith("databases") else f"v1-{worker.lower()}"


def consume(name: str) -> None:
    """What a utopia-php/queue 0.21.1 consumer does (src/Queue/Broker/Redis.php:50-111,
    Adapter/Swoole.php:67-120): BRPOP the queue with a 2 s timeout, store the job and push its
    pid to the processing list, run it, then drop both; on SIGTERM finish the job in hand and
    leave after the pop in progress returns. A job's payload may ask it to work `seconds`.
    Every job done and every start and exit are recorded in Redis for the tests."""
    import signal

    import redis

    queue = queue_of(name)
    client = redis.Redis(host=os.environ["_APP_REDIS_HOST"],
                         port=int(os.environ["_APP_REDIS_PORT"]))
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    client.rpush("standin.events", json.dumps({"event": "start", "worker": name,
                                               "at": time.time()}))
    print(f"{name}: consuming {queue}", flush=True)
    while not stopping:
        item = client.brpop([f"utopia-queue.queue.{queue}"], timeout=2)
        if item is None:
            continue
        job = json.loads(item[1])
        pid = job["pid"]
        client.set(f"utopia-queue.jobs.{queue}.{pid}", item[1])
        client.lpush(f"utopia-queue.processing.{queue}", pid)
        time.sleep(float(job.get("payload", {}).get("seconds", 0)))  # the job's own work
        client.rpush("standin.done", json.dumps({"pid": pid, "queue": queue, "worker": name,
                                                 "at": time.time()}))
        client.delete(f"utopia-queue.jobs.{queue}.{pid}")
        client.lrem(f"utopia-queue.processing.{queue}", 1, pid)
        print(f"{name}: done {pid}", flush=True)
    client.rpush("standin.events", json.dumps({"event": "exit", "worker": name,
                                               "at": time.time()}))
    print(f"{name}: stopped", flush=True)


def task(name: str) -> None:
    directory = os.environ.get("STANDIN_RECORD_DIR")
    if directory:
        with Path(directory, f"{name}.log").open("a") as log:
            log.write(f"{name} ran with _APP_DB_HOST={os.environ.get('_APP_DB_HOST')}\n")
    status = int(os.environ.get("STANDIN_MIGRATE_STATUS", "0"))
    print(f"{name}: done with status {status}", flush=True)
    sys.exit(status)


def main() -> None:
    name, args = sys.argv[1], sys.argv[2:]
    if name == "php":
        name = {"app/http.php": "api", "app/realtime.php": "realtime"}.get(args[0], args[0])
    record(name)
    if name == "api":
        api()
    elif name == "realtime":
        asyncio.run(realtime_main())
    elif name in ("migrate", "app/cli.php"):
        task("migrate")
    else:
        worker(name)


if __name__ == "__main__":
    main()
