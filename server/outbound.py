"""Outgoing HTTP (web push, SMS gateways, webhooks): the TLS settings they share."""

from __future__ import annotations

import functools
import ssl

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
