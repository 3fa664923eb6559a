"""Outgoing HTTP clients are made at their first request, not with their sender."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest

from server.outbound import Outbound, tls


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"got " + body + b" from " + self.headers.get("User-Agent", "").encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_no_client_until_the_first_request_then_one_that_keeps_its_options(receiver: str) -> None:
    never_sent = Outbound()
    await never_sent.aclose()  # closing a sender that never sent makes nothing
    assert not never_sent.made
    with pytest.raises(RuntimeError, match="closed"):
        await never_sent.post(receiver, content=b"late")
    assert not never_sent.made

    outbound = Outbound(headers={"User-Agent": "hallq-test"}, follow_redirects=False)
    assert not outbound.made

    answer = await outbound.post(receiver, content=b"one")
    assert (answer.status_code, answer.text) == (200, "got one from hallq-test")
    assert outbound.made
    client = outbound._client
    assert client is not None
    answer = await outbound.request("POST", receiver, content=b"two")
    assert answer.text == "got two from hallq-test"
    assert outbound._client is client  # one client, its connections reused

    await outbound.aclose()
    assert client.is_closed
    with pytest.raises(RuntimeError, match="closed"):  # as httpx's closed client: no new one
        await outbound.post(receiver, content=b"late")
    assert outbound._client is client


async def test_a_refused_connection_is_httpx_s_error_as_before() -> None:
    # Senders catch httpx.HTTPError: a failed first request must raise it, not something new.
    outbound = Outbound()
    with pytest.raises(httpx.ConnectError):
        await outbound.post("http://127.0.0.1:9/")
    await outbound.aclose()


def test_https_verifies_with_the_process_s_one_context() -> None:
    assert tls() is tls()
    assert tls().verify_mode.name == "CERT_REQUIRED" and tls().check_hostname
