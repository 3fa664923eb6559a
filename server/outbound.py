"""Outgoing HTTP (web push, SMS gateways, webhooks): the TLS settings they share, and clients
made at their first request."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def tls() -> ssl.SSLContext:
    """The process's one TLS context for outgoing HTTPS, verifying as httpx does by default
    (certifi's CAs, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set).

    Each ``httpx.AsyncClient`` would otherwise load the CA bundle into a context of its own:
    ~0.8 MB of native memory per client, and a hall has one per sender (push, SMS, each
    webhook receiver), which made most of a hall's 3.7 MB.
    """
    return httpx.create_ssl_context()


class Outbound:
    """An ``httpx.AsyncClient`` (verifying with :func:`tls`) made at its first request.

    Every hall has a push sender, an SMS sender and a task per webhook receiver, and most of
    them never send: made at start, their clients cost each server start 40 % of its CPU
    (0.10 → 0.06 CPU-s: loading the CA bundle, ~20 ms, and importing httpcore) for nothing.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    @property
    def made(self) -> bool:
        """Whether the client has been made (by a first request)."""
        return self._client is not None

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """As ``httpx.AsyncClient.request``; after :meth:`aclose`, a RuntimeError as httpx's own
        closed client raises (never a new client that nobody would close)."""
        if self._client is None:
            if self._closed:
                raise RuntimeError("Cannot send a request, as the client has been closed.")
            self._client = httpx.AsyncClient(verify=tls(), **self._options)
        return await self._client.request(method, url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            await self._client.aclose()
