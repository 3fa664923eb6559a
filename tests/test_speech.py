"""Speech: the chime and the real pyttsx3 + espeak-ng worker (no mocks)."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import signal
import sys
import wave
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.chime import SAMPLE_RATE, chime_wav
from server.config import load_demo
from server.phrasing import PhraseError
from server.speech import SpeechError, SpeechService, SpeechTimeout


def read_wav(data: bytes) -> tuple[wave._wave_params, array[int]]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        params = wav.getparams()
        samples = array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return params, samples


def rms(samples: array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def assert_speech_wav(path: Path) -> None:
    params, samples = read_wav(path.read_bytes())
    assert (params.nchannels, params.sampwidth, params.comptype) == (1, 2, "NONE")
    assert params.framerate == SAMPLE_RATE  # the chime is made at the same rate
    assert params.nframes / params.framerate > 1.0
    assert rms(samples) > 300, "speech should not be silent"


@pytest.fixture
async def speech(tmp_path: Path) -> AsyncIterator[SpeechService]:
    async with SpeechService(tmp_path / "cache") as service:
        yield service


def test_chime_is_a_soft_two_tone_wav() -> None:
    data = chime_wav()
    assert data is chime_wav()  # computed once
    params, samples = read_wav(data)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SAMPLE_RATE)
    assert 0.9 <= params.nframes / params.framerate <= 1.5
    assert rms(samples) > 1000
    assert max(abs(s) for s in samples) < 0.6 * 32767  # soft, never clipped
    # no click at either end: it starts from and fades to silence
    assert abs(samples[0]) < 100 and max(abs(s) for s in samples[-20:]) < 100
    # two tones: the second half ("dong") is still loud, not just a decaying "ding"
    half = len(samples) // 2
    assert rms(samples[half // 2 : half]) > 0.3 * rms(samples[:half])


async def test_call_audio_is_valid_non_silent_speech_in_both_languages(
    speech: SpeechService,
) -> None:
    hall = load_demo()
    zh = await speech.announcement_wav(hall, "zh", "A012", "3")
    en = await speech.announcement_wav(hall, "en", "A012", "3")
    assert zh != en
    assert_speech_wav(zh)
    assert_speech_wav(en)
    assert speech.syntheses == 2


async def test_worker_does_not_print_to_stdout(speech: SpeechService, capfd: pytest.CaptureFixture[str]) -> None:
    await speech.wav_path("en", "Number B0 0 1, please go to window 2")
    assert "Audio saved" not in capfd.readouterr().out


async def test_cached_phrase_is_not_synthesised_again(speech: SpeechService) -> None:
    first = await speech.wav_path("cmn", "请A零零一号到一号窗口办理")
    stamp = first.stat().st_mtime_ns
    again = await speech.wav_path("cmn", "请A零零一号到一号窗口办理")
    assert again == first
    assert speech.syntheses == 1
    assert first.stat().st_mtime_ns == stamp


async def test_cache_survives_a_new_service(tmp_path: Path) -> None:
    async with SpeechService(tmp_path) as one:
        path = await one.wav_path("en", "Number C0 0 9, please go to window 4")
    async with SpeechService(tmp_path) as two:
        assert await two.wav_path("en", "Number C0 0 9, please go to window 4") == path
        assert two.syntheses == 0


async def test_concurrent_requests_for_one_phrase_synthesise_once(speech: SpeechService) -> None:
    text = "请B零一五号到五号窗口办理"
    paths = await asyncio.gather(*(speech.wav_path("cmn", text) for _ in range(8)))
    assert len(set(paths)) == 1
    assert speech.syntheses == 1
    # different phrases at once are all served, one after the other
    texts = [f"Number D0 0 {i}, please go to window {i}" for i in range(1, 6)]
    paths = await asyncio.gather(*(speech.wav_path("en", t) for t in texts))
    assert len(set(paths)) == 5 and speech.syntheses == 6
    for path in paths:
        assert_speech_wav(path)


async def test_the_worker_starts_at_the_first_phrase_not_cached(tmp_path: Path) -> None:
    async with SpeechService(tmp_path / "cache") as first:
        assert first.worker_pid is None  # started, and no worker yet
        path = await first.wav_path("en", "Number A0 0 1, please go to window 1")
        assert first.worker_pid is not None and first.syntheses == 1
    # a restarted server whose phrases are all cached never runs a worker
    async with SpeechService(tmp_path / "cache") as again:
        assert await again.wav_path("en", "Number A0 0 1, please go to window 1") == path
        assert again.worker_pid is None and again.syntheses == 0


async def test_a_killed_worker_is_restarted_and_the_failure_logged(
    speech: SpeechService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hallq.speech")
    await speech.wav_path("en", "warm up")
    pid = speech.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while speech.worker_pid is not None:  # dead and reaped: found gone at the next request
        await asyncio.sleep(0.01)
    path = await speech.wav_path("cmn", "请C零二零号到二号窗口办理")
    assert_speech_wav(path)
    assert speech.worker_pid not in (None, pid)
    assert speech.restarts >= 1
    assert any(r.levelno == logging.WARNING and str(pid) in r.getMessage() for r in caplog.records)


async def test_worker_exit_returns_when_the_worker_dies_and_at_once_without_one(speech: SpeechService) -> None:
    """What the speech host's keeper waits on instead of polling the worker twice a second."""
    await asyncio.wait_for(speech.worker_exit(), 1)  # no worker yet
    assert not speech.worker_started.is_set()
    await speech.wav_path("en", "warm up")
    assert speech.worker_started.is_set()
    waiting = asyncio.ensure_future(speech.worker_exit())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # the worker runs: nothing to return yet
    pid = speech.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(waiting, 10)
    assert speech.worker_pid is None


async def test_a_worker_killed_mid_request_is_retried(speech: SpeechService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hallq.speech")
    await speech.wav_path("en", "warm up")
    pid = speech.worker_pid
    assert pid is not None
    request = asyncio.create_task(speech.wav_path("cmn", "请D零三三号到四号窗口办理"))
    await asyncio.sleep(0)  # the request is sent, or about to be
    os.kill(pid, signal.SIGKILL)
    assert_speech_wav(await request)
    assert speech.worker_pid not in (None, pid)
    assert [r for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_synthesis_timeout_kills_the_worker_and_is_reported(
    speech: SpeechService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hallq.speech")
    await speech.wav_path("en", "warm up")
    pid = speech.worker_pid
    assert pid is not None
    speech.timeout = 0.0005  # far less than any synthesis takes
    with pytest.raises(SpeechTimeout):
        await speech.wav_path("en", "a phrase too slow for the deadline")
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert not speech.is_cached("en", "a phrase too slow for the deadline")
    speech.timeout = 10.0
    path = await speech.wav_path("en", "a phrase too slow for the deadline")
    assert_speech_wav(path)
    assert speech.worker_pid != pid


async def test_unknown_voice_is_an_error_not_a_silent_fallback(speech: SpeechService) -> None:
    with pytest.raises(SpeechError, match="no-such-voice"):
        await speech.wav_path("no-such-voice", "hello")
    assert not speech.is_cached("no-such-voice", "hello")
    assert_speech_wav(await speech.wav_path("en", "Number A0 0 2, please go to window 1"))


async def test_announcement_wav_accepts_only_calls_the_hall_can_make(
    speech: SpeechService,
) -> None:
    hall = load_demo()
    for lang, number, window in [
        ("zh", "A12", "3"),  # malformed number
        ("zh", "Z001", "3"),  # no service with prefix Z
        ("zh", "A001", "9"),  # no window 9
        ("zh", "A001", "../3"),
        ("fr", "A001", "3"),  # not a hall language
    ]:
        with pytest.raises(PhraseError):
            await speech.announcement_wav(hall, lang, number, window)
    with pytest.raises(ValueError):
        await speech.wav_path("en", "   ")
    assert speech.syntheses == 0


async def test_prewarm_caches_a_ticket_calls_ahead_of_time(speech: SpeechService) -> None:
    hall = load_demo()
    assert speech.prewarm(hall, "B042", ["1", "5"]) == 4  # 2 windows x 2 languages
    for _ in range(600):  # up to 30 s on a loaded machine
        if speech.syntheses == 4 and all(
            speech.is_cached(v, t)
            for v, t in [
                ("cmn", "请B零四二号到一号窗口办理"),
                ("cmn", "请B零四二号到五号窗口办理"),
                ("en", "Number B0 4 2, please go to window 1"),
                ("en", "Number B0 4 2, please go to window 5"),
            ]
        ):
            break
        await asyncio.sleep(0.05)
    made = speech.syntheses
    assert made == 4
    await speech.announcement_wav(hall, "zh", "B042", "5")
    assert speech.syntheses == made  # a cache hit: ready the moment it is called
    assert speech.prewarm(hall, "B042", ["1", "5"]) == 0  # nothing left to do
    assert speech.prewarm(hall, "bad", None) == 0
    many = [hall.windows[0].id] * 13  # 13 windows x 2 languages: too many to be worth it
    assert speech.prewarm(hall, "B043", many) == 0


async def test_prune_keeps_the_cache_under_its_size_deleting_the_oldest(
    speech: SpeechService,
) -> None:
    texts = [f"Number A0 0 {i}, please go to window 1" for i in range(4)]
    paths = [await speech.wav_path("en", text) for text in texts]
    for i, path in enumerate(paths):  # paths[0] is the oldest
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    sizes = [p.stat().st_size for p in paths]
    assert speech.prune(sum(sizes)) == 0
    assert speech.prune(sum(sizes[2:])) == 2
    assert [p.exists() for p in paths] == [False, False, True, True]
    # a pruned phrase is simply made again when asked for
    assert await speech.wav_path("en", "Number A0 0 0, please go to window 1") == paths[0]
    assert paths[0].exists()
