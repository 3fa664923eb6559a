"""``hallq pad``: a calling pad (叫号器) for one window in a terminal, or behind a USB numeric keypad.

    hallq pad --hall demo --window 3 --server http://127.0.0.1:8000 [--staff s03] [--pin 1234]
    python -m caller.keypad --hall demo --window 3 --server http://…

It logs in over HTTP, then drives the window over the pad socket
``/ws/halls/{hall}/windows/{window}`` (the token in its first message, never in the URL), printing
the current ticket, the waiting counts of the window's services and today's served count whenever
they change.

Input. On a terminal, single key presses act at once (cbreak mode) with the same mapping as the
pad page (``caller/static/keymap.json``; Enter or + calls the next visitor, . recalls, 0 marks a
no-show …; see docs/pages.md); a press while an action is unanswered is ignored, as a double tap
on a hardware pad must not call two visitors. From a pipe or file, each line is one command,
performed in order, each after the previous one is answered: a key (``+``, ``.``, ``0`` …), an
action name (``call_next``, ``call A012``, ``transfer photo``), or an empty line for Enter.
``q`` (or end of input) closes the window, logs out and exits.

Exactly once. Every action carries a ``request_id``. When the connection drops before the answer
arrives (or the answer is late), the client reconnects and sends the same message again; the server
performs an action once per request_id and answers a repeat with the first answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
import termios
import threading
import tty
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from server import words
from server.edge import final_close_codes

KEYMAP_PATH = Path(__file__).parent / "static" / "keymap.json"


def both(key: str) -> str:
    """A catalogue label in zh then en, for a terminal (it has no language switch): "叫号 call next"."""
    return f"{words.text('zh', key)} {words.text('en', key).lower()}"


#: Labels for the terminal, from the word catalogue the pad page uses (server/words).
LABELS: dict[str, str] = {
    a: both(f"a_{a}")
    for a in (
        "call_next",
        "recall",
        "no_show",
        "start",
        "complete",
        "transfer",
        "call",
        "suspend",
        "resume",
        "pause",
        "unpause",
        "open",
        "close",
    )
}
LABELS["help"] = "帮助 help"
STATUS_LABELS = {s: both(f"ws_{s}") for s in ("idle", "calling", "serving", "paused", "closed")}
ACTIONS = tuple(k for k in LABELS if k != "help")
#: Actions that need a ticket number, or a transfer target, typed after the key.
TICKET_ACTIONS = ("call", "resume")
#: Socket close codes meaning "not logged in / not allowed / no such window": retrying will not
#: help. The server's own table (server/edge.py), which the pad page reads too.
AUTH_CLOSE_CODES = final_close_codes()

# Handshake answers that mean "this session may not have this pad": retrying cannot help.
REFUSED_STATUSES = (401, 403, 404)
DROP_PAUSE_S = 0.5


def pad_reconnect_delays() -> Generator[float]:
    """Back-off between failed connection attempts: 0.5, 1, 2, 4, then 5 s."""
    delay = 0.5
    while True:
        yield delay
        delay = min(delay * 2, 5.0)


def retry_unless_refused(exc: Exception) -> Exception | None:
    """websockets' ``process_exception``: retry network failures and any other handshake
    answer (a restarting server or proxy), give up on a refused session."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code in REFUSED_STATUSES:
        return exc
    if isinstance(exc, (OSError, InvalidHandshake, TimeoutError)):
        return None
    return exc


ANSWER_TIMEOUT_S = 8.0
CLOSE_TIMEOUT_S = 3.0


class PadError(Exception):
    """A problem that ends the pad (bad login, unknown window): printed, exit status 1."""


# --- the shared rules (the same as caller/static/padlogic.js) -------------------------------


def load_keymap(path: Path = KEYMAP_PATH) -> dict[str, Any]:
    """The key mapping shared with the pad page."""
    keymap: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return keymap


def key_action(keymap: dict[str, Any], key: str) -> str | None:
    """The action bound to a key ("Enter", "+", "0" …), or None."""
    for binding in keymap["bindings"]:
        if key in binding["keys"]:
            return str(binding["action"])
    return None


def is_cancel_key(keymap: dict[str, Any], key: str) -> bool:
    """Whether a key abandons a prompt (the keypad's "-", or Escape)."""
    return key in keymap["cancel"]["keys"]


def parse_ticket_code(text: str, prefixes: Sequence[str]) -> str | None:
    """A ticket number from what was typed: "A12" → "A012"; digits only (a numeric keypad has no
    letters) are service position then number: "1012" → first prefix + "012". None if invalid."""
    s = text.strip().upper()
    if len(s) >= 2 and s[0].isalpha() and s[1:].isdigit() and len(s) <= 4:
        return s[0] + s[1:].zfill(3) if s[0] in prefixes else None
    if s.isdigit() and 2 <= len(s) <= 4:
        position = int(s[0])
        if 1 <= position <= len(prefixes):
            return prefixes[position - 1] + s[1:].zfill(3)
    return None


def parse_transfer_code(text: str, service_ids: Sequence[str], window_ids: Sequence[str]) -> dict[str, str] | None:
    """A transfer target: a service id or its position "1".."9" → {"service"}; "0" + a window id
    ("05") → {"to_window"}. None if it names neither."""
    s = text.strip()
    if s in service_ids:
        return {"service": s}
    if len(s) > 1 and s[0] == "0" and s[1:] in window_ids:
        return {"to_window": s[1:]}
    if len(s) == 1 and s.isdigit() and 1 <= int(s) <= len(service_ids):
        return {"service": service_ids[int(s) - 1]}
    return None


# --- HTTP ---------------------------------------------------------------------------------------


def http_json(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    """One JSON request with the standard library; answers (status, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None


def error_message(answer: Any) -> str:
    """A refusal in words, by its code (the server's English message only for an unknown code)."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        err = answer["error"]
        code, message = str(err.get("code") or ""), str(err.get("message") or err.get("code"))
        if f"err_{code}" in words.catalogue("zh"):
            return f"{words.error_text('zh', code)} {words.error_text('en', code)}"
        return message
    return str(answer)


# --- the pad ------------------------------------------------------------------------------------


@dataclass
class Pad:
    """One window's pad: the socket, the unanswered action, the window as last seen."""

    server: str
    hall_id: str
    window: str
    token: str
    out: TextIO
    hall: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    sent_at: float = 0.0
    answer: asyncio.Future[dict[str, Any]] | None = None
    ws: ClientConnection | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    first_state: asyncio.Event = field(default_factory=asyncio.Event)
    fatal: str | None = None
    stopping: bool = False
    last_line: str = ""

    @property
    def ws_url(self) -> str:
        base = urllib.parse.urlsplit(self.server)
        scheme = "wss" if base.scheme == "https" else "ws"
        path = f"/ws/halls/{urllib.parse.quote(self.hall_id)}/windows/{urllib.parse.quote(self.window)}"
        # no token here: it goes in the first message, as URLs end up in proxy logs
        return f"{scheme}://{base.netloc}{path}"

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- connection --

    async def run_connection(self) -> None:
        """Keep the pad socket open until stopped; after each (re)connect resend what is pending.

        websockets' reconnecting ``connect()`` retries network failures and 5xx answers with
        back-off (0.5 s doubling to 5 s: a clerk should not wait long once the server is back);
        a refusal of the session (401/403/404 or an auth close code) ends it for good.
        """
        connector = connect(
            self.ws_url,
            open_timeout=5,
            close_timeout=1,
            reconnect_delays=pad_reconnect_delays,
            process_exception=retry_unless_refused,
        )
        try:
            async for ws in connector:
                try:
                    await self.serve(ws)
                except ConnectionClosed:
                    pass  # a drop: reconnect below
                finally:
                    self.ws = None
                    self.connected.clear()
                if ws.close_code in AUTH_CLOSE_CODES:
                    self.fatal = f"the server closed the pad ({ws.close_reason or ws.close_code}); log in again"
                if self.fatal or self.stopping:
                    break
                self.say("! 连接中断，正在重连… connection lost, reconnecting…")
                # websockets reconnects at once after a connection that worked; a server that
                # accepts and drops again at once must not be hammered.
                await asyncio.sleep(DROP_PAUSE_S)
        except InvalidStatus as exc:  # what retry_unless_refused did not retry
            self.fatal = f"the server refused the pad socket ({exc.response.status_code})"
        if self.fatal:
            self.say(f"! {self.fatal}")
            if self.answer is not None and not self.answer.done():
                self.answer.set_exception(PadError(self.fatal))

    async def serve(self, ws: ClientConnection) -> None:
        """Authenticate, resend the unanswered action (same request_id), read until the socket closes."""
        await ws.send(json.dumps({"type": "auth", "token": self.token}))
        self.ws = ws
        self.connected.set()
        if self.pending is not None:  # unanswered before the drop: same request_id
            self.sent_at = asyncio.get_running_loop().time()
            await ws.send(json.dumps(self.pending))
        watchdog = asyncio.create_task(self._watchdog(ws))
        try:
            async for frame in ws:
                self.on_frame(json.loads(frame))
        finally:
            watchdog.cancel()

    async def _watchdog(self, ws: ClientConnection) -> None:
        """Close a connection that leaves an action unanswered: the reconnect resends it."""
        while True:
            await asyncio.sleep(1)
            if self.pending and asyncio.get_running_loop().time() - self.sent_at > ANSWER_TIMEOUT_S:
                await ws.close(4000, "no answer")
                return

    def on_frame(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "window_state":
            self.state = msg
            self.first_state.set()
            self.show_state()
        elif kind == "result":
            if self.pending and msg.get("request_id") == self.pending["request_id"]:
                self.pending = None
                if self.answer is not None and not self.answer.done():
                    self.answer.set_result(msg)
        elif kind == "status":
            if msg.get("redis") == "down":
                self.say("! 服务器存储暂不可用 server storage unavailable")
        elif kind == "error":
            err = msg.get("error") or {}
            self.fatal = str(err.get("message") or err.get("code"))

    def show_state(self) -> None:
        """Print the window's line when it changed: status, ticket, waiting, served today."""
        if not self.state:
            return
        w = self.state.get("window") or {}
        ticket = w.get("ticket")
        waiting = self.state.get("waiting") or {}
        current = "—"
        if ticket:
            names = "、".join(self.service_name(s) for s in ticket.get("services", []))
            current = f"{ticket['number']} {names} ({ticket.get('status')})"
        counts = ", ".join(f"{self.service_name(s)} {n}" for s, n in waiting.items())
        line = (
            f"[{self.window}] {STATUS_LABELS.get(w.get('status', ''), w.get('status'))} | "
            f"当前 now: {current} | 等候 waiting {self.state.get('queue_total', sum(waiting.values()))} ({counts}) | "
            f"今日已办 served {self.state.get('served_today', 0)}"
        )
        if line != self.last_line:
            self.last_line = line
            self.say(line)

    def service_name(self, service_id: str) -> str:
        for s in self.hall.get("services", []):
            if s["id"] == service_id:
                return str(s["name"].get("zh") or service_id)
        return service_id

    # -- actions --

    async def act(self, action: str, **extra: str) -> dict[str, Any] | None:
        """Send one action and wait for its answer, resending over reconnects; None if busy."""
        if self.pending is not None:
            self.say("… 处理中，忽略 busy, ignored")
            return None
        loop = asyncio.get_running_loop()
        self.pending = {"action": action, "request_id": str(uuid.uuid4()), **extra}
        self.answer = loop.create_future()
        self.sent_at = loop.time()
        if self.ws is not None:
            # If this send is lost with the connection, run_connection resends after reconnecting.
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(self.pending))
        result = await self.answer
        self.report(action, result)
        return result

    def report(self, action: str, result: dict[str, Any]) -> None:
        label = LABELS.get(action, action)
        if result.get("ok"):
            ticket = result.get("ticket") or {}
            number = ticket.get("number") if isinstance(ticket, dict) else None
            if action == "call_next" and not number:
                self.say(f"✓ {label}: 没有等候的号 nobody is waiting")
            else:
                self.say(f"✓ {label}{': ' + number if number else ''}")
        else:
            self.say(f"✗ {label}: {error_message(result)}")


# --- input ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def cbreak(stream: TextIO) -> Iterator[bool]:
    """Single-key input on a terminal (restored afterwards); yields whether it is one."""
    if not stream.isatty():
        yield False
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def start_reader(stream: TextIO, keys: bool, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Read stdin in a thread (it blocks) into a queue: single characters in key mode, else lines.
    None marks the end of input."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            if keys:
                fd = stream.fileno()
                while True:
                    ch = os.read(fd, 1)
                    if not ch:
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, ch.decode("utf-8", "replace"))
            else:
                for line in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="pad-input", daemon=True).start()
    return queue


class Commands:
    """Turns key presses or lines into (action, extra) pairs, prompting for arguments."""

    def __init__(self, pad: Pad, keymap: dict[str, Any], queue: asyncio.Queue[str | None], keys: bool):
        self.pad = pad
        self.keymap = keymap
        self.queue = queue
        self.keys = keys

    async def read_line(self, prompt: str) -> str | None:
        """A typed argument: in key mode collect characters up to Enter (the keypad's "-" or
        Escape cancels); in line mode the next line."""
        self.pad.out.write(prompt)
        self.pad.out.flush()
        if not self.keys:
            line = await self.queue.get()
            self.pad.out.write("\n")
            return line
        text = ""
        while True:
            ch = await self.queue.get()
            if ch is None:
                return None
            if ch in ("\n", "\r"):
                self.pad.out.write("\n")
                return text
            if is_cancel_key(self.keymap, ch) or ch == "\x1b":
                self.pad.out.write(" ✗\n")
                return None
            if ch in ("\x7f", "\b"):
                text = text[:-1]
                self.pad.out.write("\b \b")
            else:
                text += ch
                self.pad.out.write(ch)
            self.pad.out.flush()

    async def argument(self, action: str, given: str) -> dict[str, str] | None:
        """The extra fields an action needs, from ``given`` or a prompt; None to skip."""
        hall = self.pad.hall
        if action in TICKET_ACTIONS:
            text = given or await self.read_line("号码 number (A012 / 1012): ")
            if text is None:
                return None
            number = parse_ticket_code(text, [s["prefix"] for s in hall.get("services", [])])
            if number is None:
                self.pad.say(f"✗ 号码格式不对 not a ticket number: {text!r}")
                return None
            return {"ticket": number}
        if action == "transfer":
            services = [s["id"] for s in hall.get("services", [])]
            windows = [str(w["id"]) for w in hall.get("windows", []) if str(w["id"]) != self.pad.window]
            choices = " ".join(f"{i}={s}" for i, s in enumerate(services, 1))
            text = given or await self.read_line(f"转移到 transfer to ({choices}, 0+window): ")
            if text is None:
                return None
            target = parse_transfer_code(text, services, windows)
            if target is None:
                self.pad.say(f"✗ 没有这个业务或窗口 no such service or window: {text!r}")
            return target
        return {}

    def parse(self, item: str) -> tuple[str | None, str]:
        """(action or "quit" or None, argument typed on the same line)."""
        if self.keys:
            if item in ("\n", "\r"):
                return key_action(self.keymap, "Enter"), ""
            if item in ("q", "Q"):
                return "quit", ""
            return key_action(self.keymap, item), ""
        line = item.strip()
        if not line:
            return key_action(self.keymap, "Enter"), ""
        if line.lower() in ("q", "quit", "exit"):
            return "quit", ""
        word, _, rest = line.partition(" ")
        if word in ACTIONS:
            return word, rest.strip()
        return key_action(self.keymap, line[0]), line[1:].strip()


def print_help(pad: Pad, keymap: dict[str, Any]) -> None:
    pad.say("按键 keys:")
    for binding in keymap["bindings"]:
        keys = " / ".join(binding["keys"])
        pad.say(f"  {keys:<12} {LABELS.get(binding['action'], binding['action'])}")
    pad.say("  q            退出 quit (closes the window, logs out)")


async def run(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    server = args.server.rstrip("/")
    loop = asyncio.get_running_loop()
    status, hall = await asyncio.to_thread(http_json, "GET", f"{server}/api/halls/{urllib.parse.quote(args.hall)}")
    if status != 200:
        raise PadError(f"hall {args.hall!r}: {error_message(hall)}")
    if args.window not in {str(w["id"]) for w in hall["windows"]}:
        raise PadError(f"hall {args.hall!r} has no window {args.window!r}")
    status, login = await asyncio.to_thread(
        http_json,
        "POST",
        f"{server}/api/auth/login",
        {"hall": args.hall, "staff": args.staff, "pin": args.pin},
    )
    if status != 200:
        raise PadError(f"login failed: {error_message(login)}")
    token = str(login["token"])
    pad = Pad(server, args.hall, args.window, token, out, hall=hall)
    staff = login.get("staff") or {}
    pad.say(
        f"{hall['name']['zh']} / {hall['name']['en']} · 窗口 window {args.window} · {staff.get('name', args.staff)}"
    )
    keymap = load_keymap()
    connection = asyncio.create_task(pad.run_connection())
    try:
        with cbreak(stdin) as keys:
            print_help(pad, keymap)
            queue = start_reader(stdin, keys, loop)
            commands = Commands(pad, keymap, queue, keys)
            waiter = asyncio.create_task(pad.first_state.wait())
            done, _ = await asyncio.wait({waiter, connection}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:
                waiter.cancel()
                raise PadError(pad.fatal or "could not reach the pad socket")
            if (pad.state or {}).get("window", {}).get("status") == "closed":
                await pad.act("open")
            await interact(pad, commands, keymap, keys)
        return 0
    finally:
        await leave(pad, server, token, connection)


async def interact(pad: Pad, commands: Commands, keymap: dict[str, Any], keys: bool) -> None:
    """Process input until quit or end of input. Key mode: a press during an unanswered action is
    ignored (a double tap acts once). Line mode: commands run one after another."""
    running: asyncio.Task[Any] | None = None
    while pad.fatal is None:
        item = await commands.queue.get()
        if item is None:
            break
        action, given = commands.parse(item)
        if action == "quit":
            break
        if action is None:
            continue
        if action == "help":
            print_help(pad, keymap)
            continue
        if keys and running is not None and not running.done():
            pad.say("… 处理中，忽略 busy, ignored")
            continue
        extra = await commands.argument(action, given)
        if extra is None:
            continue
        if keys:
            running = asyncio.create_task(pad.act(action, **extra))
        else:
            await pad.act(action, **extra)
    if running is not None:
        await running


async def leave(pad: Pad, server: str, token: str, connection: asyncio.Task[None]) -> None:
    """Close the window (so the lobby shows it closed), log out, stop the socket."""
    if pad.fatal is None and pad.ws is not None and pad.pending is None:
        with contextlib.suppress(TimeoutError, PadError):
            await asyncio.wait_for(pad.act("close"), CLOSE_TIMEOUT_S)
    pad.stopping = True
    if pad.ws is not None:
        await pad.ws.close()
    connection.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await connection
    await asyncio.to_thread(http_json, "POST", f"{server}/api/auth/logout", {}, token)
    pad.say("已退出 logged out")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hallq pad", description="a calling pad (叫号器) for one window, in a terminal"
    )
    parser.add_argument("--hall", required=True, help="hall id, e.g. demo")
    parser.add_argument("--window", required=True, help="window id, e.g. 3")
    parser.add_argument("--server", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--staff", help="staff id (asked when missing)")
    parser.add_argument("--pin", help="PIN (asked when missing, without echo)")
    return parser.parse_args(list(argv))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hallq pad``; answers the exit status (0 ok, 1 refused, 2 usage)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.staff is None or args.pin is None:
        if not sys.stdin.isatty():
            print("hallq pad: give --staff and --pin when input is not a terminal", file=sys.stderr)
            return 2
        args.staff = args.staff or input("工号 staff ID: ").strip()
        args.pin = args.pin or getpass.getpass("密码 PIN: ")
    try:
        return asyncio.run(run(args, sys.stdin, sys.stdout))
    except PadError as exc:
        print(f"hallq pad: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
