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
import os
import sys
import termios
import threading
import tty
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from caller.padlogic import (
    ACTIONS,
    LABELS,
    TICKET_ACTIONS,
    error_message,
    is_cancel_key,
    key_action,
    load_keymap,
    parse_ticket_code,
    parse_transfer_code,
)
from caller.padsocket import Pad, PadError, http_json

CLOSE_TIMEOUT_S = 3.0


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
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await pad.act("close")
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
