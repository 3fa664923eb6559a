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
from typing import Any

from server.webhook_rules import verify
from tests.stand_in import QuietHandler, StandIn


@dataclass
class Message:
    method: str
    body: dict[str, Any]
    raw: bytes
    valid: bool
    received: float


class Gateway(StandIn):
    """Records what hallq sends to ``url``; thread-safe."""

    HEADER = "X-Sms-Signature"

    def __init__(self, secret: str = "test-sms-secret") -> None:
        super().__init__()
        self.secret = secret
        self.status = 200
        #: seconds to wait before answering (a gateway that hangs)
        self.delay = 0.0
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms/send"

    def start(self) -> None:
        gateway = self

        class Handler(QuietHandler):
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

        self.serve(Handler)

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
