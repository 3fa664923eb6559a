"""The announcer: its queue rules (pure), its audio, and `--out` against a live server."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from display.announcer import (
    GAP_S,
    AnnounceQueue,
    Call,
    HallVoice,
    call_from_event,
    main,
    render_round,
)
from server.chime import SAMPLE_RATE, chime_frames
from server.config import load_demo
from server.speech import SpeechService

NOW = 1_800_000_000_000  # epoch ms


def called(
    seq: int, number: str, window: str, *, at: int = NOW, recall: bool = False
) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": "ticket.recalled" if recall else "ticket.called",
        "at": at,
        "hall": "demo",
        "window": window,
        "ticket": {"number": number, "status": "called", "window": window},
        "announce": {"zh": {"text": f"请{number}号到{window}号窗口办理", "audio": "/a.wav"}},
    }


def other(seq: int, kind: str = "ticket.issued") -> dict[str, Any]:
    return {"seq": seq, "type": kind, "at": NOW, "hall": "demo", "ticket": {"number": "A050"}}


def drain(queue: AnnounceQueue, now: int = NOW) -> list[tuple[str, str, int]]:
    out = []
    while (plan := queue.take(now)) is not None:
        out.append((plan.call.number, plan.call.window, plan.rounds))
    return out


# --- queue rules ---------------------------------------------------------------------


def test_calls_are_spoken_in_event_order_each_with_its_own_text() -> None:
    queue = AnnounceQueue(repeat=2)
    for seq, (number, window) in enumerate([("A001", "1"), ("B001", "2"), ("A002", "3")], 1):
        assert queue.offer(called(seq, number, window), NOW)
    plans = []
    while (plan := queue.take(NOW)) is not None:
        plans.append(plan)
    assert [(p.call.number, p.call.window) for p in plans] == [
        ("A001", "1"), ("B001", "2"), ("A002", "3"),
    ]
    assert plans[0].call.texts == {"zh": "请A001号到1号窗口办理"}


def test_one_call_at_a_time_and_repeats_only_without_a_backlog() -> None:
    queue = AnnounceQueue(repeat=2)
    queue.offer(called(1, "A001", "1"), NOW)
    plan = queue.take(NOW)
    assert plan is not None and plan.rounds == 2  # nothing else waits: full repeat
    assert queue.take(NOW) is None  # the next waits until this one is done
    assert queue.keep_repeating()
    queue.offer(called(2, "A002", "2"), NOW)  # arrives while A001 is being spoken
    assert not queue.keep_repeating()  # so A001's second round is dropped


def test_a_backlog_is_caught_up_by_dropping_repeats() -> None:
    queue = AnnounceQueue(repeat=3)
    for seq, window in enumerate(["1", "2", "3", "4"], 1):
        queue.offer(called(seq, f"A00{seq}", window), NOW)
    assert drain(queue) == [("A001", "1", 1), ("A002", "2", 1), ("A003", "3", 1), ("A004", "4", 3)]


def test_a_newer_call_at_a_window_replaces_its_pending_one() -> None:
    queue = AnnounceQueue(repeat=2)
    queue.offer(called(1, "A001", "1"), NOW)
    queue.offer(called(2, "B001", "2"), NOW)
    queue.offer(called(3, "A002", "1"), NOW)  # window 1 has moved on: A001 is done
    assert drain(queue) == [("B001", "2", 1), ("A002", "1", 2)]


def test_a_recall_is_spoken_again() -> None:
    queue = AnnounceQueue(repeat=2)
    queue.offer(called(1, "A001", "1"), NOW)
    assert drain(queue) == [("A001", "1", 2)]
    assert queue.offer(called(2, "A001", "1", recall=True), NOW)
    plan = queue.take(NOW)
    assert plan is not None and plan.call.recall and plan.call.number == "A001"


def test_events_seen_already_are_not_spoken_again() -> None:
    queue = AnnounceQueue(repeat=2)
    assert queue.offer(called(5, "A001", "1"), NOW)
    assert not queue.offer(called(5, "A001", "1"), NOW)  # same seq, replayed
    assert not queue.offer(called(4, "A009", "2"), NOW)  # older seq
    assert not queue.offer(other(6), NOW)  # not a call, but it moves the resume point
    assert queue.last_seq == 6
    assert drain(queue) == [("A001", "1", 2)]


def test_calls_older_than_30_s_are_not_spoken() -> None:
    queue = AnnounceQueue(repeat=2)
    # replayed after a reconnect: one stale, one fresh
    assert not queue.offer(called(1, "A001", "1", at=NOW - 31_000), NOW)
    assert queue.offer(called(2, "A002", "2", at=NOW - 29_000), NOW)
    assert queue.last_seq == 2
    # a call that waited in a long backlog goes stale too
    assert drain(queue, now=NOW + 2_000) == []


def test_malformed_calls_are_ignored() -> None:
    queue = AnnounceQueue(repeat=2)
    bad_number = called(1, "A01", "1")
    bad_window = called(2, "A001", "../1")
    no_ticket = {"seq": 3, "type": "ticket.called", "at": NOW, "window": "1"}
    for event in (bad_number, bad_window, no_ticket, {"type": "status", "redis": "down"}):
        assert not queue.offer(event, NOW)
        assert call_from_event(event) is None
    assert queue.pending == 0 and queue.last_seq == 3


def test_snapshot_on_first_connect_speaks_nothing() -> None:
    queue = AnnounceQueue(repeat=2)
    assert queue.snapshot(40, [called(39, "A010", "1")], NOW) == 0
    assert queue.last_seq == 40 and queue.pending == 0


def test_snapshot_after_a_reconnect_speaks_the_fresh_missed_calls_in_order() -> None:
    queue = AnnounceQueue(repeat=2)
    queue.offer(called(10, "A001", "1"), NOW)
    drain(queue)
    recent = [  # newest first, as the state's "recent" lists them
        called(14, "A004", "4"),
        called(13, "A003", "3", at=NOW - 60_000),  # too old
        called(12, "A002", "2"),
        called(10, "A001", "1"),  # spoken already
    ]
    assert queue.snapshot(15, recent, NOW) == 2
    assert queue.last_seq == 15
    assert drain(queue) == [("A002", "2", 1), ("A004", "4", 2)]


def test_a_restarted_event_stream_is_followed() -> None:
    queue = AnnounceQueue(repeat=2)
    queue.offer(called(500, "A001", "1"), NOW)
    drain(queue)
    # The server's Redis was emptied: seq starts again and the snapshot says so.
    assert queue.snapshot(3, [called(2, "A001", "2")], NOW) == 0
    assert queue.last_seq == 3
    assert queue.offer(called(4, "A002", "3"), NOW)
    assert drain(queue) == [("A002", "3", 2)]


# --- audio ---------------------------------------------------------------------------


def frames_of(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        return wav.readframes(wav.getnframes())


def rms(frames: bytes) -> float:
    samples = array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


async def test_a_round_is_chime_then_each_language(tmp_path: Path) -> None:
    voice = HallVoice.from_public(load_demo().public())
    call = Call(1, NOW, "A012", "3")
    gap = bytes(2 * round(SAMPLE_RATE * GAP_S))
    async with SpeechService(tmp_path) as speech:
        first = await render_round(speech, voice, call, chime=True)
        again = await render_round(speech, voice, call, chime=False)
        zh = frames_of(await speech.wav_path("cmn", "请A零一二号到三号窗口办理"))
        en = frames_of(await speech.wav_path("en", "Number A0 1 2, please go to window 3"))
    assert first.rate == SAMPLE_RATE
    assert bytes(first.frames) == chime_frames() + gap + zh + gap + en + gap
    assert bytes(again.frames) == zh + gap + en + gap
    out = tmp_path / "round.wav"
    first.write(out)
    assert frames_of(out) == bytes(first.frames)


def test_an_unreachable_server_fails_fast(tmp_path: Path) -> None:
    # Nothing listens on port 9 (discard): the announcer says so and exits non-zero.
    args = ["--hall", "demo", "--server", "http://127.0.0.1:9", "--out", str(tmp_path / "o"),
            "--cache", str(tmp_path / "c")]
    assert main(args) == 1


# --- end to end: `hallq announce --out` against a live server -------------------------------


@pytest.fixture
def live_url(request: pytest.FixtureRequest) -> str:
    """The lead's ``live_server`` fixture (tests/conftest.py): a real `hallq serve`."""
    try:
        return str(request.getfixturevalue("live_server")).rstrip("/")
    except pytest.FixtureLookupError:
        pytest.skip("needs the live_server fixture from tests/conftest.py")


def test_an_unknown_hall_fails_fast(live_url: str, tmp_path: Path) -> None:
    args = ["--hall", "no-such-hall", "--server", live_url, "--out", str(tmp_path / "o"),
            "--cache", str(tmp_path / "c")]
    assert main(args) == 2


@pytest.fixture
def announcer_process(
    live_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    command = [
        sys.executable, "-m", "display.announcer", "--hall", "demo", "--server", live_url,
        "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--limit", "3",
    ]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        reader.join(5)
        process.stderr.close()


def test_out_writes_one_file_per_call_in_order(
    announcer_process: tuple[subprocess.Popen[str], list[str]], live_url: str, tmp_path: Path
) -> None:
    process, log_lines = announcer_process
    deadline = time.monotonic() + 30
    while not any("following" in line for line in log_lines):
        assert process.poll() is None, "".join(log_lines)
        assert time.monotonic() < deadline, "announcer never connected:\n" + "".join(log_lines)
        time.sleep(0.05)

    calls: list[tuple[str, str]] = []
    with httpx.Client(base_url=live_url, timeout=10) as http:
        for _ in range(3):
            issued = http.post("/api/halls/demo/tickets", json={"services": ["register"]})
            assert issued.status_code == 201, issued.text
        # three clerks at three windows call one visitor each, in quick succession
        for staff, window in [("s01", "1"), ("s02", "2"), ("s03", "3")]:
            credentials = {"hall": "demo", "staff": staff, "pin": "1234"}
            login = http.post("/api/auth/login", json=credentials)
            assert login.status_code == 200, login.text
            answer = http.post(
                f"/api/halls/demo/windows/{window}/actions",
                json={"action": "call_next"},
                headers={"Authorization": f"Bearer {login.json()['token']}"},
            )
            assert answer.status_code == 200, answer.text
            calls.append((answer.json()["ticket"]["number"], window))

    assert process.wait(60) == 0, "".join(log_lines)
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    expected = [f"{i:04d}-{number}-{window}.wav" for i, (number, window) in enumerate(calls, 1)]
    assert names == expected

    hall = load_demo()
    voice = HallVoice.from_public(hall.public())
    cache = SpeechService(tmp_path / "cache")
    gap = bytes(2 * round(SAMPLE_RATE * GAP_S))
    for name, (number, window) in zip(names, calls, strict=True):
        frames = frames_of(out / name)
        phrases = b"".join(
            frames_of(cache.cache_path(v, text)) + gap
            for _, v, text in voice.phrases(Call(0, 0, number, window))
        )
        one_round = chime_frames() + gap + phrases
        # The chime, then each language; repeated unless a backlog was being caught up.
        assert frames in (one_round, one_round + phrases), name
        assert rms(frames[len(chime_frames()):]) > 300
    # The last call had nothing behind it: spoken the hall's repeat count (2).
    assert frames_of(out / names[-1]) == one_round + phrases
