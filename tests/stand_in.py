"""What the tests' local stand-ins (webhook receiver, SMS gateway, push service) share: an
HTTP server on a free loopback port, in threads of its own, that a test starts and stops."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from server.embedded import free_port


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean (no access log)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StandIn:
    """A local server standing in for a service hallq calls; subclasses give its handler."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        """Start answering with ``handler`` on ``self.port``."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
