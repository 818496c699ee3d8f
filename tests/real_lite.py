"""Harness for the REAL Appwrite 1.9.6 under the launcher: what the real-Appwrite test tier
(tests/test_real_appwrite.py) and benchmarks/real_appwrite.py share.

The tree is built on the machine from Appwrite's own sources (`../shared/real-appwrite/`):
`/opt/appwrite` (code and vendor) and `/opt/aw-php/bin/php` (PHP 8.4 with Swoole 6.2.0). It is
never modified: `prepare_tree` copies it and applies the Lite image's patches to the copy, as
`Dockerfile.lite` does to the image's `/usr/src/code`. A dyno is the launcher
(`appwrite-heroku launch ROLE`, a real process: nginx, supervisord, PgBouncer, the bridge)
pointed at that copy with Heroku-shaped add-on URLs, as `lite.Launched` runs it for the stand-in.
"""

from __future__ import annotations

import contextlib
import http.cookies
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from appwrite_heroku.config.plans import dyno_size
from appwrite_heroku.dyno.patches import apply_patches
from lite import CANARY_EXECUTOR_SECRET, CANARY_OPENSSL_KEY, Launched, pids_alive

TREE = Path(os.environ.get("APPWRITE_REAL_TREE", "/opt/appwrite"))
PHP = Path(os.environ.get("APPWRITE_REAL_PHP", "/opt/aw-php/bin/php"))
# What Appwrite writes uploads and its cache to, whatever the launcher is told
# (app/init/constants.php:77-84 at 1.9.6: APP_STORAGE_UPLOADS = '/storage/uploads', …).
STORAGE = Path("/storage")
APPWRITE_VERSION = "1.9.6"
# The Host Heroku's router sends: Appwrite's router protection compares it with _APP_DOMAIN
# (app/controllers/general.php:132 at 1.9.6), so every request carries it, as on Heroku.
HOST = "lite-real.herokuapp.com"
# Heroku's router terminates TLS and says so; the Lite sets _APP_OPTIONS_FORCE_HTTPS=enabled,
# which redirects plain-HTTP requests (app/controllers/general.php:973-981).
ROUTER_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
MIB = 1024 * 1024


def button_memory(role: str) -> int:
    """Bytes of the dyno size the Deploy button's app.json gives `role`: what the launcher
    reads from the cgroup on the button's formation."""
    formation = json.loads((Path(__file__).resolve().parent.parent / "app.json").read_text())
    return dyno_size(formation["formation"][role]["size"]).memory_mib * MIB


WEB_MEMORY = button_memory("web")
WORKER_MEMORY = button_memory("worker")
# Appwrite's Redis clients bound by Heroku Key-Value Store mini; Postgres essential-0's 20.
REDIS_MAXCLIENTS = 20
DB_CONNECTIONS = 20
# Strings that are secrets in these dynos' environment; none may reach output or argv.
DYNO_SECRETS = (CANARY_OPENSSL_KEY, CANARY_EXECUTOR_SECRET)


def unavailable() -> str | None:
    """Why the real Appwrite cannot run here (a fresh CI machine), or None when it can."""
    checks = [
        (TREE / "app" / "http.php", "Appwrite 1.9.6's tree (build it with "
                                    "../shared/real-appwrite/build.sh)"),
        (TREE / "vendor" / "autoload.php", "its vendor/ (build.sh assembles it)"),
        (PHP, "PHP 8.4 with Swoole (/opt/aw-php/bin/php, from build.sh)"),
        (Path("/usr/share/postgresql/15/extension/vector.control"),
         "pgvector in PostgreSQL 15 (Appwrite's first boot creates the extension)"),
    ]
    for path, what in checks:
        if not path.exists():
            return f"the real Appwrite cannot run here: {path} is missing ({what})"
    if not os.access(PHP, os.X_OK):
        return f"the real Appwrite cannot run here: {PHP} is not executable"
    if not (STORAGE.is_dir() and os.access(STORAGE, os.W_OK)):
        return f"the real Appwrite cannot run here: {STORAGE} (Appwrite's fixed storage) is " \
               "not a writable directory"
    for tool in ("nginx", "supervisord", "pgbouncer", "redis-server", "mariadbd"):
        if shutil.which(tool) is None:
            return f"the real Appwrite cannot run here: {tool} is not installed (.ci/run)"
    return None


@dataclass(frozen=True)
class Tree:
    """A patched copy of the real Appwrite, laid out as the launcher finds the image."""

    code_dir: Path
    bin_dir: Path
    console_root: Path

    def layout_env(self) -> dict[str, str]:
        return {
            "APPWRITE_LITE_PHP": str(PHP),
            "APPWRITE_LITE_CODE_DIR": str(self.code_dir),
            "APPWRITE_LITE_BIN_DIR": str(self.bin_dir),
            "APPWRITE_LITE_CONSOLE_ROOT": str(self.console_root),
            "APPWRITE_LITE_STORAGE_DIR": str(STORAGE),
            "APPWRITE_LITE_LISTEN": "127.0.0.1",
            "APPWRITE_LITE_APPWRITE_VERSION": APPWRITE_VERSION,
        }


# Where the tree built here differs from the image in a way a test would trip over, and the
# copy is brought back to what Appwrite 1.9.6's composer.lock gives the image. Each entry: file,
# the text the build left there, what the locked library does instead, why.
# - utopia-php/websocket: the lock pins 1.0.0 (d230de8d, 2026-02-05); the build had no snapshot
#   of it and took bc82978 (2025-07-15, vendor/SUBSTITUTES.tsv). That older adapter pushes every
#   realtime message with SWOOLE_WEBSOCKET_FLAG_COMPRESS, and Swoole >= 6.1 then deflates it and
#   sets RSV1 although no permessage-deflate was negotiated (Appwrite never enables
#   websocket_compression: app/realtime.php:364-367), so every RFC 6455 client (browsers, the
#   `websockets` package) fails the connection ("reserved bits must be 0"). 1.0.0 sets the flag
#   only when compression is enabled (utopia-php/websocket#28), i.e. never for Appwrite.
TREE_FIXES = (
    ("vendor/utopia-php/websocket/src/WebSocket/Adapter/Swoole.php",
     "SWOOLE_WEBSOCKET_FLAG_FIN | SWOOLE_WEBSOCKET_FLAG_COMPRESS",
     "SWOOLE_WEBSOCKET_FLAG_FIN"),
)


def prepare_tree(work: Path) -> Tree:
    """Copies the tree, patches the copy with the Lite's own patches (and TREE_FIXES), and
    points the copy's entry points at it: Appwrite's `bin/*` scripts hard-code `/usr/src/code`
    (the image's code dir, patched in place there), here a symlink to the unpatched tree."""
    code = work / "appwrite"
    shutil.copytree(TREE, code, symlinks=True)
    apply_patches(code)
    for relative, built, locked in TREE_FIXES:
        path = code / relative
        text = path.read_text()
        if built in text:
            path.write_text(text.replace(built, locked))
    bin_dir = code / "bin"
    for script in bin_dir.iterdir():
        if script.is_file():
            text = script.read_text(errors="surrogateescape")
            if "/usr/src/code" in text:
                script.write_text(text.replace("/usr/src/code", str(code)),
                                  errors="surrogateescape")
    console = work / "html" / "console"
    console.mkdir(parents=True)
    (console / "index.html").write_text("<!doctype html><title>Appwrite console</title>")
    return Tree(code, bin_dir, work / "html")


def dyno_env(tree: Tree, work: Path, *, memory: int, addons: Mapping[str, str],
             bridge_port: int, **extra: str) -> dict[str, str]:
    """A dyno's environment: Heroku's config vars (add-on URLs, the app's secrets, the
    domain) and the tree's layout; `/opt/aw-php/bin` first on PATH because Appwrite's scripts
    call `php`."""
    cgroup = work / f"cgroup-{memory // MIB}"
    cgroup.mkdir(parents=True, exist_ok=True)
    (cgroup / "memory.max").write_text(f"{memory}\n")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("_APP_", "APPWRITE_LITE_", "STANDIN_"))}
    env.update(tree.layout_env())
    env.update(addons)
    env.update({
        "PATH": f"{PHP.parent}:{env.get('PATH', '/usr/bin:/bin')}",
        "APPWRITE_LITE_CGROUP_ROOT": str(cgroup),
        # Short: supervisord's socket lives there, and an AF_UNIX path stops at 107 bytes,
        # which pytest's own temp dirs (pytest-of-root/pytest-NNN/test_…) can pass.
        "APPWRITE_LITE_RUNTIME_DIR": tempfile.gettempdir(),
        "APPWRITE_LITE_BRIDGE_PORT": str(bridge_port),
        "_APP_OPENSSL_KEY_V1": CANARY_OPENSSL_KEY,
        "_APP_EXECUTOR_SECRET": CANARY_EXECUTOR_SECRET,
        "_APP_DOMAIN": HOST,
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class Dyno(Launched):
    """`appwrite-heroku launch ROLE` around the real Appwrite; `name` labels its log."""

    def __init__(self, role: str, env: dict[str, str], name: str | None = None) -> None:
        super().__init__(role, env)
        self.role, self.name = role, name or role

    def programs(self) -> dict[int, str]:
        """pid → supervisord program name, from `supervisorctl status` (what a dyno's user
        would run). Needed where a program wipes its environment (nginx) or writes its process
        title over it (Appwrite's tasks), hiding SUPERVISOR_PROCESS_NAME."""
        line = next((ln for ln in self.lines if "[launcher] supervisord config " in ln), None)
        if line is None:
            return {}
        done = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c",
             line.split("supervisord config ", 1)[1].strip(), "status"],
            capture_output=True, text=True, timeout=20)
        found = {}
        for row in done.stdout.splitlines():
            match = re.match(r"(\S+)\s+RUNNING\s+pid (\d+),", row)
            if match:  # `group:name` when the programs are in a group
                found[int(match.group(2))] = match.group(1).rsplit(":", 1)[-1]
        return found

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.lines[-lines:])

    def stop_timed(self, timeout: float = 40) -> tuple[int | None, float, list[int]]:
        """SIGTERM as Heroku sends it: (exit status or None, seconds to exit, pids of the
        dyno's session still alive afterwards)."""
        everyone = set(self.session_pids())
        started = time.monotonic()
        self.terminate()
        try:
            status: int | None = self.wait(timeout=timeout)
        except Exception:
            status = None
        took = time.monotonic() - started
        left = pids_alive(everyone)
        self.kill_session()
        return status, took, left


def wait_until(what: str, check: Callable[[], Any], timeout: float,
               every: float = 0.2, dynos: tuple[Dyno, ...] = ()) -> Any:
    """Polls `check` until it returns something truthy; fails naming `what` after `timeout`
    (or as soon as one of `dynos` exits)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, OSError) as error:
            result, last = None, error
        if result:
            return result
        for dyno in dynos:
            if dyno.proc.poll() is not None:
                raise AssertionError(f"{what}: the {dyno.name} dyno exited with status "
                                     f"{dyno.proc.returncode}")
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last error: {last})")


@dataclass
class Api:
    """Requests to Appwrite through the web dyno's `$PORT`, shaped as Heroku's router sends
    them, as the console (session in the `a_session_console` cookie) or a server (API key)."""

    port: int
    project: str = "console"
    key: str | None = None
    cookie: str | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # no proxies, no CA bundle from the environment

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def headers(self) -> dict[str, str]:
        headers = {**ROUTER_HEADERS, "X-Appwrite-Project": self.project,
                   "Content-Type": "application/json"}
        if self.key:
            headers["X-Appwrite-Key"] = self.key
        if self.cookie:
            headers["Cookie"] = self.cookie
        return headers

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             timeout: float = 30) -> requests.Response:
        return self.session.request(method, self.endpoint + path, headers=self.headers(),
                                    data=None if body is None else json.dumps(body),
                                    timeout=timeout, allow_redirects=False)

    def expect(self, status: int, method: str, path: str,
               body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self.call(method, path, body)
        assert response.status_code == status, (
            f"{method} {path}: expected {status}, got {response.status_code}: "
            f"{response.text[:500]}")
        return response.json() if response.content else {}

    def keep_session(self, response: requests.Response) -> None:
        """Keeps the console session cookie. Appwrite scopes it to its domain and marks it
        Secure (Heroku serves HTTPS), so a cookie jar would never send it to 127.0.0.1: it is
        sent by hand, as a browser on the app's https URL would."""
        for header in response.raw.headers.getlist("Set-Cookie"):
            cookie = http.cookies.SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if name == f"a_session_{self.project}" and morsel.value:
                    self.cookie = f"{name}={morsel.value}"
        assert self.cookie, "no session cookie in the answer"


# --- measuring a dyno ----------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in task.read_text().split()]
    return sorted(set(found))


def tree_pids(root: int) -> list[int]:
    """The process tree under `root`, root first, parents before children."""
    order, queue = [], [root]
    while queue:
        pid = queue.pop(0)
        if _stat(pid) is None:
            continue
        order.append(pid)
        queue += children(pid)
    return order


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    except OSError:
        return ""


def memory_kib(pid: int) -> dict[str, int]:
    """Rss, Pss and USS (private clean + dirty) of one process, KiB, from smaps_rollup."""
    values = {"rss": 0, "pss": 0, "uss": 0}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        amount = int(rest.split()[0]) if rest.split() and rest.split()[0].isdigit() else 0
        if name == "Rss":
            values["rss"] = amount
        elif name == "Pss":
            values["pss"] = amount
        elif name in ("Private_Clean", "Private_Dirty"):
            values["uss"] += amount
    return values


def program_of(pid: int) -> str | None:
    """The supervisord program a process belongs to: supervisord puts SUPERVISOR_PROCESS_NAME
    in each program's environment, and its forks inherit it."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(b"SUPERVISOR_PROCESS_NAME="):
            return item.split(b"=", 1)[1].decode()
    return None


_SWOOLE_ROLES = ("master", "manager", "worker")


def classify(root: int, known: Mapping[int, str] | None = None) -> list[tuple[str, int]]:
    """Each process of a dyno (the launcher's tree) with its kind.

    The launcher (with the in-process Redis bridge) is the root, supervisord its child, every
    program a child of supervisord. Appwrite's API runs Swoole in process mode: a master,
    which forks a manager, which forks the task worker first and then the event workers
    (swoole-src v6.2.0 src/server/manager.cc:68-84), so among the manager's children the first
    `task_worker_num` (1: app/http.php:71) are task workers. Realtime's server is Swoole's
    default base mode: with one worker (`_APP_WORKERS_NUM=1`) that is one process. A queue
    worker (`worker.php NAME`) is a parent and a forked child; a task (`cli.php NAME`) one
    process. `known`: pid → program for processes whose environment does not say (see
    `Dyno.programs`); their forks inherit it."""
    pids = tree_pids(root)
    parent_of = {pid: (_stat(pid) or (0, ""))[0] for pid in pids}
    program: dict[int, str | None] = {}
    for pid in pids:  # parents come first
        program[pid] = (known or {}).get(pid) or program_of(pid) or program.get(parent_of[pid])
    kinds: list[tuple[str, int]] = []
    for pid in pids:
        name = program[pid]
        if pid == root:
            kind = "launcher+bridge"
        elif name is None:
            kind = "supervisord" if "supervisord" in cmdline(pid) else f"other: {cmdline(pid)}"
        elif name in ("api", "realtime"):
            depth, up = 0, parent_of.get(pid, 0)
            while program.get(up) == name:
                depth, up = depth + 1, parent_of.get(up, 0)
            kind = f"{name} {_SWOOLE_ROLES[min(depth, 2)]}"
            if name == "api" and depth == 2 and children(parent_of[pid])[:1] == [pid]:
                kind = "api task worker"
        elif name.startswith("worker-"):
            kind = f"queue {name.removeprefix('worker-')}"
        elif name in ("nginx", "pgbouncer"):
            kind = name
        else:
            kind = f"task {name}"
        kinds.append((kind, pid))
    return kinds


def memory_by_kind(root: int, known: Mapping[int, str] | None = None,
                   ) -> dict[str, dict[str, int]]:
    """KiB of Rss/Pss/USS and the process count per kind, for a dyno's tree."""
    table: dict[str, dict[str, int]] = {}
    for kind, pid in classify(root, known):
        row = table.setdefault(kind, {"procs": 0, "rss": 0, "pss": 0, "uss": 0})
        row["procs"] += 1
        for key, value in memory_kib(pid).items():
            row[key] += value
    return table


def redis_clients(client: Any) -> dict[str, int]:
    """Clients of the upstream Redis (Heroku's side of the bridge) by last command, excluding
    the one asking."""
    counts: dict[str, int] = {}
    for entry in client.client_list():
        if entry.get("cmd") in ("client|list", "client"):
            continue
        counts[entry.get("cmd", "?")] = counts.get(entry.get("cmd", "?"), 0) + 1
    return counts


def postgres_backends(superuser_sql: Callable[[str], str], role: str) -> dict[str, int]:
    """The add-on role's server connections (pg_stat_activity) by state."""
    rows = superuser_sql(f"SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity "
                         f"WHERE usename = '{role}' GROUP BY 1")
    counts: dict[str, int] = {}
    for line in rows.splitlines():
        state, _, number = line.partition("|")
        if number.strip().isdigit():
            counts[state] = int(number)
    return counts
