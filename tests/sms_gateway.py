"""A stand-in SMS gateway for tests: ``http.server`` in a thread on a loopback port.

It records every message hallq sends (method, parsed JSON body, raw body, whether the
signature header is valid for its secret). ``status`` sets what it answers; :meth:`stop`
closes the port for real (connections refused).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from server.embedded import free_port
from server.webhook_rules import verify


@dataclass
class Message:
    method: str
    body: dict[str, Any]
    raw: bytes
    valid: bool
    received: float


class Gateway:
    """Records what hallq sends to ``url``; thread-safe."""

    HEADER = "X-Sms-Signature"

    def __init__(self, secret: str = "test-sms-secret") -> None:
        self.secret = secret
        self.port = free_port()
        self.status = 200
        #: seconds to wait before answering (a gateway that hangs)
        self.delay = 0.0
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms/send"

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _receive(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if gateway.delay:
                    time.sleep(gateway.delay)
                valid = verify(gateway.secret, raw, self.headers.get(gateway.HEADER, ""))
                if gateway.status < 300:
                    with gateway.lock:
                        gateway.messages.append(Message(self.command, json.loads(raw), raw, valid, time.time()))
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _receive

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Message]:
        """Wait until ``count`` messages arrived; all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} messages of {count}: {[m.body for m in self.received()]}")
