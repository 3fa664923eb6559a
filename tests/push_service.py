"""A stand-in Web Push service for tests: ``http.server`` in a thread on a loopback port.

:meth:`PushService.subscription` makes what a browser's ``PushManager.subscribe()`` would
give: an endpoint on this server and a fresh P-256 key pair and auth secret, whose private
half only the test holds. Every POST to an endpoint is checked as a real push service and
phone would: the VAPID JWT (RFC 8292) is verified with the key in its ``k=`` parameter, its
``aud`` must be this server's origin and ``exp`` in the future; the body is decrypted
(aes128gcm, RFC 8291/8188) with the subscription's private key. Each push is recorded with
its decrypted payload. ``status`` / ``delay_s`` per endpoint make it answer 410 or hang.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.stand_in import QuietHandler, StandIn


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_vapid(header: str, origin: str) -> str:
    """The VAPID public key (base64url) of a valid ``Authorization: vapid t=…,k=…``; raises otherwise."""
    scheme, _, params = header.partition(" ")
    assert scheme.lower() == "vapid", header
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    token, key = fields["t"], fields["k"]
    head, claims, signature = token.split(".")
    assert json.loads(unb64url(head)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    raw = unb64url(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # InvalidSignature if forged
    body = json.loads(unb64url(claims))
    assert body["aud"] == origin, body
    assert body["exp"] > time.time() and body["exp"] <= time.time() + 24 * 3600 + 60, body
    assert str(body["sub"]).startswith(("mailto:", "https:")), body
    return key


@dataclass
class Subscriber:
    """A phone's side of one subscription: the private key and auth secret only it knows."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    status: int = 201
    delay_s: float = 0.0

    def json(self) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url(point), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


@dataclass
class Push:
    subscriber: str
    payload: dict[str, Any] | None
    vapid_key: str | None
    error: str
    headers: dict[str, str] = field(default_factory=dict)
    received: float = 0.0


class PushService(StandIn):
    """Records the pushes hallq sends; thread-safe."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribers: dict[str, Subscriber] = {}
        self.pushes: list[Push] = []
        self.lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def subscription(self) -> Subscriber:
        sid = secrets.token_urlsafe(12)
        subscriber = Subscriber(
            sid, f"{self.origin}/push/{sid}", ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16)
        )
        self.subscribers[sid] = subscriber
        return subscriber

    def received(self, subscriber: Subscriber) -> list[Push]:
        with self.lock:
            return [p for p in self.pushes if p.subscriber == subscriber.id]

    def wait_for(self, subscriber: Subscriber, count: int, timeout: float = 15.0) -> list[Push]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(subscriber)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received(subscriber))} pushes, wanted {count}: {self.received(subscriber)}")

    def start(self) -> None:
        service = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sid = self.path.rsplit("/", 1)[-1]
                subscriber = service.subscribers.get(sid)
                if subscriber is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if subscriber.delay_s:
                    time.sleep(subscriber.delay_s)
                payload: dict[str, Any] | None = None
                key: str | None = None
                error = ""
                try:
                    key = verify_vapid(self.headers.get("Authorization", ""), service.origin)
                    assert self.headers.get("Content-Encoding") == "aes128gcm"
                    assert int(self.headers.get("TTL", "-1")) >= 0
                    plain = http_ece.decrypt(
                        raw, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm"
                    )
                    payload = json.loads(plain)
                except (AssertionError, InvalidSignature, ValueError, KeyError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                push = Push(sid, payload, key, error, dict(self.headers.items()), time.time())
                with service.lock:
                    service.pushes.append(push)
                status = subscriber.status if not error else 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.serve(Handler)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
