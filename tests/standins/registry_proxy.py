"""A registry that does not mount: the real local registry behind a pass-through proxy that
drops the `mount`/`from` parameters of a blob upload, as a registry without cross-repository
mounts ignores them (distribution spec: it then answers 202 and opens an ordinary upload).
Everything else — auth, uploads, manifests, digests — is the real registry's own answer, and
every request is recorded, so a test sees which way each blob travelled.

    with RegistryProxy(registry) as proxy:   # proxy.url instead of registry.url
        ...
"""

from __future__ import annotations

import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Protocol

import requests

from standins import loopback


class RegistryLike(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def api_key(self) -> str: ...

    def auth_header(self) -> dict[str, str]: ...


class Seen(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    status: int


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
        "host"}


class RegistryProxy:
    def __init__(self, registry: RegistryLike, *, mounts: bool = False) -> None:
        self.registry = registry
        self.mounts = mounts  # True: pass mount requests on (then it is a plain proxy)
        self.requests: list[Seen] = []
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # what the engine's tests and the stand-in need of a registry
    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def api_key(self) -> str:
        return self.registry.api_key

    def auth_header(self) -> dict[str, str]:
        return self.registry.auth_header()

    def start(self) -> RegistryProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                proxy._forward(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self._server = loopback.listen(Handler)
        self.url = loopback.serve(self._server)
        return self

    def stop(self) -> None:
        if self._server is not None:
            loopback.close(self._server)
            self._server = None

    def __enter__(self) -> RegistryProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if not self.mounts and handler.command == "POST" and "mount" in query:
            query = {k: v for k, v in query.items() if k not in ("mount", "from")}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        # The registry builds upload locations from the Host it was asked on: keep ours.
        headers["Host"] = self.host
        session = requests.Session()
        session.trust_env = False
        answer = session.request(
            handler.command, self.registry.url + parts.path, params=query, data=body,
            headers=headers, allow_redirects=False, timeout=30)
        self.requests.append(Seen(handler.command, parts.path, query, answer.status_code))
        handler.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in _HOP:
                handler.send_header(key, value)
        payload = b"" if handler.command == "HEAD" else answer.content
        handler.send_header("Content-Length", str(len(payload) if handler.command != "HEAD"
                                                  else answer.headers.get("Content-Length",
                                                                          "0")))
        handler.end_headers()
        handler.wfile.write(payload)
