"""``hallq pad`` (caller/keypad.py): a terminal calling pad driven through a pipe against a real server.

The keypad runs as a real subprocess (the ``hallq`` console script, and ``python -m caller.keypad``)
talking to a real ``hallq serve`` on a real Redis. A small real TCP proxy (:class:`CutProxy`) sits
in front of the server when a test needs to lose an answer: it delivers the clerk's action, drops
the server's reply and cuts the connection, so the client must reconnect and resend the same
``request_id`` — and the server must act only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caller.padlogic import (
    ACTIONS,
    key_action,
    load_keymap,
    parse_ticket_code,
    parse_transfer_code,
)
from server.embedded import free_port
from tests.live import LiveServer

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ["A", "B", "C", "D"]
SERVICES = ["register", "transfer", "pension", "photo"]


# --- a proxy that loses one answer --------------------------------------------------------------


class CutProxy:
    """A real TCP proxy to a live server, in a thread of its own.

    After :meth:`arm`, the next frame a client sends on a WebSocket is delivered to the server,
    then everything the server answers on that connection is dropped and the connection is cut
    (as when a tablet's Wi-Fi drops right after a press). Every JSON text frame clients send on
    WebSockets is recorded in :attr:`sent` (unmasked, inflated when permessage-deflate is on).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.sent: list[dict[str, Any]] = []
        self.cuts = 0
        self._armed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cut-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def arm(self) -> None:
        self._armed.set()

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("action") == action]

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, server_writer))
        state = {"ws": False, "upgraded": False, "blackhole": False}
        inflate = zlib.decompressobj(wbits=-15)

        def cut() -> None:
            client_writer.close()
            server_writer.close()

        async def upstream() -> None:
            buffer = b""
            first = True
            while data := await client_reader.read(65536):
                if first:
                    state["ws"] = data.startswith(b"GET /ws/")
                    first = False
                elif state["ws"] and state["upgraded"]:
                    buffer = self._record(buffer + data, inflate)
                    if self._armed.is_set():
                        self._armed.clear()
                        state["blackhole"] = True
                        server_writer.write(data)
                        await server_writer.drain()
                        await asyncio.sleep(0.3)  # the server acts; its answer goes nowhere
                        self.cuts += 1
                        cut()
                        return
                server_writer.write(data)
                await server_writer.drain()
            cut()

        async def downstream() -> None:
            while data := await server_reader.read(65536):
                if state["ws"]:
                    state["upgraded"] = True
                if state["blackhole"]:
                    continue
                client_writer.write(data)
                await client_writer.drain()
            cut()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)
        self._writers.difference_update((client_writer, server_writer))

    def _record(self, buffer: bytes, inflate: Any) -> bytes:
        """Decode complete client frames at the front of ``buffer``; answer the rest."""
        while len(buffer) >= 2:
            b0, b1 = buffer[0], buffer[1]
            length, i = b1 & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, i = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, i = int.from_bytes(buffer[2:10], "big"), 10
            mask = buffer[i : i + 4] if b1 & 0x80 else b"\0\0\0\0"
            i += 4 if b1 & 0x80 else 0
            if len(buffer) < i + length:
                break
            payload = bytes(b ^ mask[j % 4] for j, b in enumerate(buffer[i : i + length]))
            if b0 & 0x40:  # RSV1: a permessage-deflate message
                payload = inflate.decompress(payload + b"\x00\x00\xff\xff")
            if b0 & 0x0F == 1:
                with contextlib.suppress(ValueError):
                    self.sent.append(json.loads(payload))
            buffer = buffer[i + length :]
        return buffer


@pytest.fixture
def cut_proxy(live_server: LiveServer) -> Iterator[CutProxy]:
    proxy = CutProxy(live_server.port)
    proxy.start()
    yield proxy
    proxy.stop()


# --- the keypad as a subprocess -------------------------------------------------------------------


class KeypadProcess:
    """``hallq pad`` with piped stdin/stdout; lines are read by a thread so waits can time out."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.mark = 0  # output index at the last send: expect() looks from here
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.mark = len(self.output)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 10.0) -> str:
        """The first output line since the last send matching ``pattern`` (a regex), waiting for
        more output as needed; fails on timeout or exit. (A result and the window's new state may
        arrive in either order, so lines already seen since the send count.)"""
        for seen in self.output[self.mark :]:
            if re.search(pattern, seen):
                return seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if line is None:
                break  # the process exited
            self.output.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.output))

    def finish(self, timeout: float = 15.0) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        finally:
            while (line := self.lines.get(timeout=5)) is not None:
                self.output.append(line)
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()


def hallq_pad(server: str, window: str, staff: str, *, module: bool = False) -> list[str]:
    args = ["--hall", "demo", "--window", window, "--server", server, "--staff", staff, "--pin", "1234"]
    if module:
        return [sys.executable, "-m", "caller.keypad", *args]
    return [str(Path(sys.executable).parent / "hallq"), "pad", *args]


def window_of(live_server: LiveServer, window: str) -> dict[str, Any]:
    status, state = live_server.request("GET", "/api/halls/demo/state")
    assert status == 200
    return next(w for w in state["windows"] if w["id"] == window)


def calls_of(live_server: LiveServer, number: str) -> int:
    """How many ticket.called events the hall recorded for ``number``."""
    _, state = live_server.request("GET", "/api/halls/demo/state")
    return sum(1 for e in state["recent"] if e["type"] == "ticket.called" and e["ticket"]["number"] == number)


# --- pure rules ------------------------------------------------------------------------------------


def test_keymap_is_complete_and_unambiguous() -> None:
    keymap = load_keymap()
    bound = [b["action"] for b in keymap["bindings"]]
    pad_actions = {"call_next", "recall", "no_show", "start", "complete", "transfer", "call", "suspend", "resume"}
    assert pad_actions | {"pause", "unpause"} <= set(bound)
    assert set(bound) - {"help"} <= set(ACTIONS)
    keys = [k for b in keymap["bindings"] for k in b["keys"]] + keymap["cancel"]["keys"]
    assert len(keys) == len(set(keys)), "a key is bound twice"
    assert key_action(keymap, "Enter") == key_action(keymap, "+") == "call_next"
    assert key_action(keymap, ".") == "recall"
    assert key_action(keymap, "0") == "no_show"
    assert key_action(keymap, "x") is None


def test_ticket_numbers_from_a_numeric_keypad() -> None:
    assert parse_ticket_code("A12", PREFIXES) == "A012"
    assert parse_ticket_code(" d007 ", PREFIXES) == "D007"
    assert parse_ticket_code("1012", PREFIXES) == "A012"
    assert parse_ticket_code("45", PREFIXES) == "D005"
    assert parse_ticket_code("5012", PREFIXES) is None  # only four services
    assert parse_ticket_code("Z001", PREFIXES) is None
    assert parse_ticket_code("A0123", PREFIXES) is None
    assert parse_ticket_code("", PREFIXES) is None


def test_transfer_targets_from_a_numeric_keypad() -> None:
    windows = ["2", "3", "5"]
    assert parse_transfer_code("photo", SERVICES, windows) == {"service": "photo"}
    assert parse_transfer_code("2", SERVICES, windows) == {"service": "transfer"}
    assert parse_transfer_code("05", SERVICES, windows) == {"to_window": "5"}
    assert parse_transfer_code("01", SERVICES, windows) is None  # not another window
    assert parse_transfer_code("9", SERVICES, windows) is None


# --- against a real server ---------------------------------------------------------------------------


def test_hallq_pad_drives_a_window_through_a_pipe(live_server: LiveServer) -> None:
    first = live_server.issue(["register"])["ticket"]["number"]
    second = live_server.issue(["register"])["ticket"]["number"]
    pad = KeypadProcess(hallq_pad(live_server.url, "2", "s02"))
    try:
        pad.expect(r"开窗 open")
        assert window_of(live_server, "2")["status"] == "idle"
        pad.send("call_next")
        pad.expect(rf"叫号 call next: {first}")
        assert window_of(live_server, "2")["ticket"]["number"] == first
        pad.expect(r"等候 waiting 1 ")
        live_server.issue(["photo"])  # the waiting count follows the hall live
        pad.expect(r"等候 waiting 2 ")
        pad.send("1")  # start
        pad.expect(rf"开始 start: {first}")
        pad.send("2")  # complete
        pad.expect(rf"办结 complete: {first}")
        pad.expect(r"今日已办 served 1")
        pad.send("+")  # call next
        pad.expect(rf"叫号 call next: {second}")
        pad.send(".")  # recall
        pad.expect(rf"重呼 recall: {second}")
        pad.send("0")  # no-show is refused this soon after the call: the server's message shows
        pad.expect(r"✗ 过号 no-show: ")
        pad.send("4")  # call a number, typed on the next line as the keypad spells it
        pad.send("4001")
        pad.expect(r"特呼 call number: D001")
        pad.send("2")  # a window with a ticket in hand cannot close: finish it first
        pad.expect(r"办结 complete: D001")
        pad.send("q")
        pad.expect(r"已退出 logged out")
        assert pad.finish() == 0
    finally:
        pad.kill()
    assert window_of(live_server, "2")["status"] == "closed"


def test_keypad_resends_the_same_request_after_a_dropped_connection(
    live_server: LiveServer, cut_proxy: CutProxy
) -> None:
    first = live_server.issue(["register"])["ticket"]["number"]
    second = live_server.issue(["register"])["ticket"]["number"]
    pad = KeypadProcess(hallq_pad(cut_proxy.url, "1", "s01", module=True))
    try:
        pad.expect(r"开窗 open")
        cut_proxy.arm()
        pad.send("call_next")
        pad.expect(r"reconnecting")
        pad.expect(rf"叫号 call next: {first}", timeout=15)
        assert cut_proxy.cuts == 1
        sent = cut_proxy.actions("call_next")
        assert len(sent) == 2, sent
        assert sent[0]["request_id"] == sent[1]["request_id"]
        # Acted once: the first ticket is at window 1, the second still waits.
        assert window_of(live_server, "1")["ticket"]["number"] == first
        assert calls_of(live_server, first) == 1
        assert calls_of(live_server, second) == 0
        _, state = live_server.request("GET", "/api/halls/demo/state")
        assert state["waiting"]["register"] == 1
        pad.send("q")
        assert pad.finish() == 0
    finally:
        pad.kill()


def test_keypad_refuses_a_wrong_pin(live_server: LiveServer) -> None:
    command = hallq_pad(live_server.url, "1", "s01", module=True)
    command[command.index("1234")] = "0000"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "login failed" in done.stderr


def test_keypad_needs_credentials_when_not_on_a_terminal() -> None:
    command = [sys.executable, "-m", "caller.keypad", "--hall", "demo", "--window", "1", "--server", "http://x"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "--staff and --pin" in done.stderr


def test_terminal_words_come_from_the_catalogue() -> None:
    """The terminal pad says what the pad page and the manager page say (server/words)."""
    from caller.padlogic import STATUS_LABELS, error_message
    from server import words

    for status in ("idle", "calling", "serving", "paused", "closed"):
        assert STATUS_LABELS[status].startswith(words.text("zh", f"ws_{status}") + " ")
    refused = {"ok": False, "error": {"code": "too_early", "message": "a no-show can be marked 15 s after the call"}}
    said = error_message(refused)
    assert words.text("zh", "err_too_early") in said and "15 s after" not in said
    unknown = {"ok": False, "error": {"code": "brand_new_code", "message": "the server's own words"}}
    assert error_message(unknown) == "the server's own words"
