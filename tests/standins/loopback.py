"""How every stand-in serves HTTP: on loopback at a free port, from a daemon thread that polls
every 50 ms, so that stopping (which waits for the next poll) is quick."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def listen(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


def serve(server: ThreadingHTTPServer) -> str:
    """Serves `server` in the background; its URL."""
    threading.Thread(target=server.serve_forever, daemon=True,
                     kwargs={"poll_interval": 0.05}).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def close(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
