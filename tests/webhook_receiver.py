"""A real webhook receiver for tests: ``http.server`` in a thread on a loopback port.

It checks every request's signature against its secret, and records each delivery as
(seq header, body, signature valid, time received). ``status`` sets what it answers
(503 while "failing"); :meth:`stop` closes the port for real (connections refused) and
:meth:`start` opens the same port again.
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
class Delivery:
    seq: int
    event: dict[str, Any]
    raw: bytes
    valid: bool
    received: float  # time.time()


class Receiver(StandIn):
    """Records what hallq posts to ``url``; thread-safe."""

    def __init__(self, secret: str = "test-webhook-secret", path: str = "/hook") -> None:
        super().__init__()
        self.secret = secret
        self.path = path
        self.status = 200
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> None:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                # Counted out before the answer is sent, not after: the sender may start its
                # next request as soon as it has the answer, while this thread still runs (seen
                # as 2 "in flight" from one sequential sender on a loaded machine).
                counted = True
                try:
                    raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    valid = verify(receiver.secret, raw, self.headers.get("X-Hallq-Signature", ""))
                    status = receiver.status
                    if status < 300:
                        with receiver.lock:
                            receiver.deliveries.append(
                                Delivery(
                                    int(self.headers.get("X-Hallq-Seq", "0")),
                                    json.loads(raw),
                                    raw,
                                    valid,
                                    time.time(),
                                )
                            )
                    with receiver.lock:
                        receiver.in_flight -= 1
                    counted = False
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    if counted:
                        with receiver.lock:
                            receiver.in_flight -= 1

        self.serve(Handler)

    def seqs(self) -> list[int]:
        with self.lock:
            return [d.seq for d in self.deliveries]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Delivery]:
        """Wait until ``count`` deliveries arrived (distinct seqs); all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len({d.seq for d in self.deliveries}) >= count:
                    return list(self.deliveries)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"{len(self.deliveries)} deliveries of {count}: {[d.seq for d in self.deliveries]}")
