"""Logging set-up: every record with an ISO time and offset, every token redacted, every
mobile number masked.

Session tokens travel in ``?token=`` of pad sockets and ticket tokens in paths
(``/t/…``, ``/api/tickets/…``, ``/ws/tickets/…``); none of them may reach a log file.
Redaction happens twice: :class:`RedactTokens` cleans a record's message and
arguments, and both formatters redact the finished line (tracebacks and ``extra``
fields included), so a record from any logger, configured or not, comes out clean.

Two formats: ``plain`` (``2026-12-01T14:03:07.123+08:00 INFO hallq: …``) and ``json``
(one object a line: ``time``, ``level``, ``logger``, ``message``, ``process`` and any
``extra``), chosen by ``hallq serve --log-format`` or ``HALLQ_LOG_FORMAT``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from server.sms_rules import mask_text

_PATTERNS = (
    (re.compile(r"token=[^&\s\"']+"), "token=***"),
    (re.compile(r"(/(?:api/tickets|ws/tickets|t))/[^/\s\"'?]+"), r"\1/***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_.\-]+"), r"\1***"),
    (re.compile(r"(hallq_session=)[^;\s\"']+"), r"\1***"),
)
FORMATS = ("plain", "json")


def redact(text: str) -> str:
    """``text`` with every token replaced by ``***`` and every mobile number masked
    (``138****5678``: a number left for text messages must never reach a log file whole)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return mask_text(text)


def iso_time(created: float) -> str:
    """Epoch seconds as local ISO-8601 with milliseconds and the UTC offset."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class RedactTokens(logging.Filter):
    """A filter that redacts tokens in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Merge the arguments first: redacting the format string alone would eat a
        # placeholder ("token=%s" -> "token=***") and break the record's formatting.
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


class PlainFormatter(logging.Formatter):
    """``TIME LEVEL logger: message`` with an ISO time and offset; the whole line redacted."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record (python-json-logger), ISO time with offset, redacted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(process)d", *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_config(level: str = "INFO", fmt: str = "plain") -> dict[str, Any]:
    """A ``logging.dictConfig`` for uvicorn, hallq and every other logger, tokens redacted everywhere."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    handler = {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["redact"]}
    own = {"handlers": ["default"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "server.logs.RedactTokens"}},
        "formatters": {
            "plain": {"()": "server.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": "server.logs.JsonLineFormatter"},
        },
        "handlers": {"default": {**handler, "stream": "ext://sys.stderr"}},
        "loggers": {name: dict(own) for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "hallq")},
        # Any other logger (a library's, a module logging under its own name) propagates
        # here and goes through the same redacting handler.
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
