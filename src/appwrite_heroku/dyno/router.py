"""The proxy on `$PORT`: nginx's configuration for a dyno, rendered from a packaged template.

nginx (from the image's package manager) rather than a proxy of our own: it is the one process
every request crosses, so it should be a well-kept, memory-frugal tool. Pure rendering here; the
launcher writes the file and supervisord runs `nginx -c`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# Longer than Heroku's 55 s websocket idle cut and the SDKs' 20 s ping, so the proxy never closes
# a quiet-but-pinged realtime socket first.
DEFAULT_REALTIME_IDLE = 3600
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


@dataclass(frozen=True)
class RouterConfig:
    port: int  # Heroku's $PORT
    api_port: int
    realtime_port: int
    console_root: Path  # holds `console/index.html`
    runtime_dir: Path  # writable: pid file and nginx's temp paths
    listen_hosts: tuple[str, ...] = ("0.0.0.0", "[::]")
    realtime_idle_seconds: int = DEFAULT_REALTIME_IDLE
    run_as: str | None = None  # `user` directive; only meaningful when nginx starts as root
    mime_types: str = "/etc/nginx/mime.types"


def render_template(name: str, values: dict[str, str]) -> str:
    """Fill `@NAME@` placeholders (nginx's own `$var`s and braces stay untouched)."""
    text = resources.files("appwrite_heroku.dyno").joinpath("data", name).read_text()
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"template {name} needs {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def listen_lines(port: int, hosts: tuple[str, ...]) -> str:
    lines = []
    for host in hosts:
        extra = " ipv6only=on" if host.startswith("[") else ""
        lines.append(f"        listen {host}:{port}{extra};")
    return "\n".join(lines)


def render_nginx(config: RouterConfig) -> str:
    if not config.listen_hosts:
        raise ValueError("the proxy needs at least one listen address")
    return render_template("nginx.conf.tmpl", {
        "USER_LINE": f"user {config.run_as};" if config.run_as else "",
        "RUNTIME": str(config.runtime_dir),
        "MIME_TYPES": config.mime_types,
        "API_PORT": str(config.api_port),
        "REALTIME_PORT": str(config.realtime_port),
        "REALTIME_IDLE": str(config.realtime_idle_seconds),
        "CONSOLE_ROOT": str(config.console_root),
        "LISTEN_LINES": listen_lines(config.port, config.listen_hosts),
    })


def nginx_command(nginx: str, config_path: Path, runtime_dir: Path) -> tuple[str, ...]:
    """`-p` and `-e` keep nginx's compiled-in prefix and log (often root-owned) out of the way."""
    return (nginx, "-e", "stderr", "-p", str(runtime_dir), "-c", str(config_path))


def write_nginx(config: RouterConfig) -> Path:
    """Writes the config and nginx's temp directories under the runtime directory."""
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (config.runtime_dir / sub).mkdir(parents=True, exist_ok=True)
    path = config.runtime_dir / "nginx.conf"
    path.write_text(render_nginx(config))
    os.chmod(path, 0o644)
    return path
