"""The nginx configuration: rendered, then checked by the real nginx (`nginx -t`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from appwrite_heroku.dyno.router import RouterConfig, nginx_command, render_nginx, write_nginx


def config(tmp_path: Path, **overrides: object) -> RouterConfig:
    values: dict[str, object] = dict(port=5000, api_port=9501, realtime_port=9502,
                                      console_root=tmp_path / "html",
                                      runtime_dir=tmp_path / "nginx")
    values.update(overrides)
    return RouterConfig(**values)  # type: ignore[arg-type]


def test_heroku_listens_on_ipv4_and_ipv6(tmp_path: Path) -> None:
    text = render_nginx(config(tmp_path))
    assert "listen 0.0.0.0:5000;" in text
    assert "listen [::]:5000 ipv6only=on;" in text
    assert re.search(r"@[A-Z_]+@", text) is None  # every placeholder filled


def test_routes_and_timeouts(tmp_path: Path) -> None:
    text = render_nginx(config(tmp_path, realtime_idle_seconds=3600))
    realtime = text.split("location /v1/realtime")[1].split("location /console")[0]
    assert "proxy_pass http://127.0.0.1:9502;" in realtime
    assert "proxy_set_header Upgrade $http_upgrade;" in realtime
    assert "proxy_read_timeout 3600s;" in realtime
    assert "proxy_set_header Host $http_host;" in realtime
    api = text.split("location / {")[1]
    assert "proxy_pass http://appwrite_api;" in api
    assert "proxy_set_header X-Forwarded-Proto $lite_forwarded_proto;" in api
    assert "server 127.0.0.1:9501;" in text
    assert "try_files $uri $uri/ /console/index.html;" in text


def test_user_line_only_when_asked(tmp_path: Path) -> None:
    assert "\nuser " not in render_nginx(config(tmp_path))
    assert "user root;" in render_nginx(config(tmp_path, run_as="root"))


def test_needs_a_listen_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_nginx(config(tmp_path, listen_hosts=()))


@pytest.mark.services
def test_real_nginx_accepts_the_config(tmp_path: Path) -> None:
    rendered = config(tmp_path, listen_hosts=("127.0.0.1",), run_as="root")
    path = write_nginx(rendered)
    done = subprocess.run([*nginx_command("nginx", path, rendered.runtime_dir), "-t"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
