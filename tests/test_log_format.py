"""Logs: plain or JSON, ISO times with their offset, and no token in any record from any logger."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import logging.config
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from server.logs import log_config
from tests.live import LiveServer

SECRET = "demo.Zx9SeCrEtT0kEnZx9SeCrEtT0kEn"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


@pytest.fixture
def configured() -> Iterator[Any]:
    """Configure logging as ``hallq serve`` does, into a buffer; restore the test's logging after."""
    root = logging.getLogger()
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name, lg in [
            ("", root),
            *((n, logging.getLogger(n)) for n in ("uvicorn", "uvicorn.error", "uvicorn.access", "hallq")),
        ]
    }
    buffers: list[io.StringIO] = []

    def configure(fmt: str) -> io.StringIO:
        config = log_config("INFO", fmt)
        buffer = io.StringIO()
        config["handlers"]["default"]["stream"] = buffer
        logging.config.dictConfig(config)
        buffers.append(buffer)
        return buffer

    yield configure
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name) if name else root
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def emit_everything() -> None:
    """Records from every kind of logger, each carrying a token somewhere."""
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.1", "GET", f"/ws/halls/demo/windows/1?token={SECRET}", "1.1", 101
    )
    logging.getLogger("uvicorn.error").warning(f"connection from /t/{SECRET} closed")
    logging.getLogger("hallq.api").info("visitor page %s", f"/api/tickets/{SECRET}")
    logging.getLogger("other.module").warning("unconfigured logger saw token=%s", SECRET)
    logging.getLogger("some.library").error("Authorization: Bearer %s", SECRET)
    logging.getLogger("hallq").warning("cookie hallq_session=%s; Path=/", SECRET)
    logging.getLogger("hallq.x").info("with extra", extra={"url": f"/ws/tickets/{SECRET}"})
    try:
        raise RuntimeError(f"failed for /api/tickets/{SECRET}")
    except RuntimeError:
        logging.getLogger("hallq.events").exception("listener failed")


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_no_record_escapes_redaction(configured: Any, fmt: str) -> None:
    buffer = configured(fmt)
    emit_everything()
    text = buffer.getvalue()
    assert SECRET not in text and "SeCrEt" not in text, text
    assert text.count("\n") >= 8 and "***" in text
    assert "listener failed" in text and "RuntimeError" in text


def test_json_lines_carry_an_iso_time_with_offset(configured: Any) -> None:
    buffer = configured("json")
    logging.getLogger("hallq.engine").info("hall %s: new business day", "demo")
    line = json.loads(buffer.getvalue().splitlines()[0])
    assert line["message"] == "hall demo: new business day"
    assert line["level"] == "INFO" and line["logger"] == "hallq.engine" and isinstance(line["process"], int)
    assert ISO.match(line["time"]), line["time"]


def test_plain_lines_start_with_an_iso_time_with_offset(configured: Any) -> None:
    buffer = configured("plain")
    logging.getLogger("hallq").warning("hello")
    first = buffer.getvalue().split(" ", 1)[0]
    assert ISO.match(first), first


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        log_config("INFO", "xml")


async def test_a_live_server_logs_json_without_tokens(
    live_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALLQ_LOG_FORMAT", "json")
    server: LiveServer = live_server_factory()
    ticket = await asyncio.to_thread(server.issue)
    token = ticket["ticket"]["token"]
    await asyncio.to_thread(server.request, "GET", f"/api/tickets/{token}")
    server.stop()
    lines = [line for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    assert lines, server.log_path.read_text()[-2000:]
    records = [json.loads(line) for line in lines]
    assert all(ISO.match(r["time"]) for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert token not in server.log_path.read_text()


OUR_PACKAGES = ("server", "display", "caller", "kiosk", "admin")
ROOT = Path(__file__).resolve().parent.parent


def our_modules() -> list[ModuleType]:
    """Every module of hallq's packages, imported."""
    modules = []
    for package in OUR_PACKAGES:
        path = importlib.import_module(package).__path__
        modules += [importlib.import_module(m.name) for m in pkgutil.walk_packages(path, f"{package}.")]
    return modules


def test_our_code_names_only_hallq_loggers() -> None:
    """A logger named otherwise (``__name__`` gives ``server.speech``) is not configured by
    :func:`log_config`: its INFO is dropped and it bypasses the hallq handler."""
    call = re.compile(r"getLogger\(([^)]*)\)")
    root_call = re.compile(r"\blogging\.(?:debug|info|warning|error|exception|critical|log)\(")
    files = [p for package in OUR_PACKAGES for p in ROOT.joinpath(package).rglob("*.py")]
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        for name in call.findall(text):
            # getLogger() reads the root logger's set-up (a CLI's basicConfig), it logs nothing
            assert name == "" or re.fullmatch(r"\"hallq(\.[a-z_]+)*\"", name), f"{path}: getLogger({name})"
        assert not root_call.search(text), f"{path} logs through the root logger"


def test_every_module_logger_reaches_the_redacting_handler_at_info(configured: Any) -> None:
    buffer = configured("plain")
    loggers = {
        (module.__name__, value.name)
        for module in our_modules()
        for value in vars(module).values()
        if isinstance(value, logging.Logger)
    }
    assert ("server.speech", "hallq.speech") in loggers and len(loggers) >= 10
    for module_name, logger_name in sorted(loggers):
        assert logger_name == "hallq" or logger_name.startswith("hallq."), f"{module_name} logs as {logger_name}"
        logging.getLogger(logger_name).info("from %s with token=%s", module_name, SECRET)
    text = buffer.getvalue()
    assert SECRET not in text and "SeCrEt" not in text, text
    for module_name, logger_name in loggers:
        # not dropped: INFO of every module reaches the log, under its hallq name
        assert f"INFO {logger_name}: from {module_name} with token=***" in text, (module_name, text)
