"""Logging set-up: uvicorn's logs with every token redacted.

Session tokens travel in ``?token=`` of pad sockets and ticket tokens in paths
(``/t/…``, ``/api/tickets/…``, ``/ws/tickets/…``); none of them may reach a log file.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS = (
    (re.compile(r"token=[^&\s\"]+"), "token=***"),
    (re.compile(r"(/(?:api/tickets|ws/tickets|t))/[^/\s\"?]+"), r"\1/***"),
)


def redact(text: str) -> str:
    """``text`` with every token replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """A filter that redacts tokens in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.dictConfig`` for uvicorn and hallq, tokens redacted everywhere."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "server.logs.RedactTokens"}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"default": {**handler, "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            "hallq": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
