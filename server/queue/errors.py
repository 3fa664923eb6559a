"""Refusals: an action that is not possible, with a machine-readable code and its data.

A refusal knows nothing of transports: :mod:`server.edge` maps its code to the HTTP status
and the WebSocket close code the server answers with.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A refused request: nothing was changed. ``code`` is machine-readable, ``message`` human."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body of the contract, with any extra details (e.g. ``number``)."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}
