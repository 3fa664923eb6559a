"""One speech process per ``hallq serve``, whatever ``--workers``: real processes, real audio."""

from __future__ import annotations

import asyncio
import http.client
import io
import os
import signal
import time
import wave
from pathlib import Path

import psutil
import pytest

from server.embedded import EmbeddedRedis
from server.speech import SpeechError, SpeechTimeout
from server.speech_host import SpeechClient, SpeechHost
from tests.live import LiveServer, fresh_database
from tests.processes import speech_processes, wait_for, worker_children


def connection_per_worker(server: LiveServer, workers: list[int]) -> dict[int, http.client.HTTPConnection]:
    """A keep-alive connection held by each worker (the kernel hands each accept to one of them)."""
    found: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(60):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        port = connection.sock.getsockname()[1]
        owner = next(
            (
                w
                for w in workers
                if any(c.laddr and c.raddr and c.raddr.port == port for c in psutil.Process(w).net_connections("tcp"))
            ),
            None,
        )
        if owner is not None and owner not in found:
            found[owner] = connection
        else:
            spare.append(connection)
        if len(found) == len(workers):
            break
    for connection in spare:
        connection.close()
    assert len(found) == len(workers), "could not reach every worker"
    return found


def get_audio(connection: http.client.HTTPConnection, path: str) -> float:
    connection.request("GET", path)
    answer = connection.getresponse()
    body = answer.read()
    assert answer.status == 200, (answer.status, body[:200])
    with wave.open(io.BytesIO(body), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def test_two_workers_share_one_speech_process_that_comes_back_after_kill_9(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    # A data folder and audio cache of its own (not the session's): every phrase below is a miss.
    (tmp_path / "audio-cache").mkdir()
    server = LiveServer(fresh_database(redis_server), tmp_path, workers=2)
    server.start()
    try:
        assert server.process is not None
        one_speech_process_comes_back(server, server.process.pid)
    finally:
        server.stop()


def one_speech_process_comes_back(server: LiveServer, pid: int) -> None:
    """No speech process until a phrase is missing from the cache; then one for both workers,
    started again in the background after a kill -9."""
    wait_for(lambda: len(worker_children(pid)) == 2, 20, "two workers")
    workers = worker_children(pid)
    connections = connection_per_worker(server, workers)
    time.sleep(0.3)
    assert speech_processes(pid) == [], "no phrase was needed yet: no speech process"

    # a call's audio through each worker: both cache misses, made by the one speech process
    for n, (worker, connection) in enumerate(sorted(connections.items())):
        assert get_audio(connection, f"/audio/demo/zh/A{n + 101}/{n + 1}.wav") > 1.0, worker
    speech = speech_processes(pid)
    assert len(speech) == 1 and speech[0] not in workers

    os.kill(speech[0], signal.SIGKILL)
    wait_for(lambda: speech_processes(pid) not in ([], speech), 20, "a new speech process")
    assert len(speech_processes(pid)) == 1
    for n, (worker, connection) in enumerate(sorted(connections.items())):
        assert get_audio(connection, f"/audio/demo/en/B{n + 201}/{n + 3}.wav") > 1.0, worker
    assert len(speech_processes(pid)) == 1
    assert len(worker_children(pid)) == 2
    for connection in connections.values():
        connection.close()


async def test_a_client_never_waits_beyond_its_timeout_for_an_absent_host(tmp_path: Path) -> None:
    client = SpeechClient(tmp_path / "cache", tmp_path / "nobody.sock", timeout=0.5)
    await client.start()
    started = time.monotonic()
    with pytest.raises(SpeechTimeout):
        await client.wav_path("en", "Number A0 0 1, please go to window 1")
    assert time.monotonic() - started < 1.5
    await client.stop()


async def test_a_client_gets_the_hosts_audio_and_shares_its_cache(tmp_path: Path) -> None:
    host = SpeechHost(tmp_path / "cache", tmp_path / "speech.sock")
    assert await asyncio.to_thread(host.start)
    try:
        client = SpeechClient(tmp_path / "cache", host.socket_path)
        await client.start()
        path = await client.wav_path("en", "Number A0 0 2, please go to window 2")
        assert path.parent == tmp_path / "cache" and path.stat().st_size > 10_000
        assert host.service.syntheses == 1 and client.syntheses == 1
        assert await client.wav_path("en", "Number A0 0 2, please go to window 2") == path  # a cache hit
        assert host.service.syntheses == 1
        with pytest.raises(SpeechError):
            await client.wav_path("no-such-voice", "hello")
        await client.stop()
    finally:
        await asyncio.to_thread(host.stop)
    assert not host.socket_path.exists()


async def test_a_second_host_on_the_same_folder_keeps_off_the_first_ones_socket(tmp_path: Path) -> None:
    first = SpeechHost(tmp_path / "cache", tmp_path / "speech.sock")
    second = SpeechHost(tmp_path / "cache", tmp_path / "speech.sock")
    assert await asyncio.to_thread(first.start)
    try:
        assert await asyncio.to_thread(second.start)
        assert second.socket_path != first.socket_path and second.socket_path.exists()
        await asyncio.to_thread(second.stop)
        assert first.socket_path.exists() and not second.socket_path.exists()
        client = SpeechClient(tmp_path / "cache", first.socket_path)
        await client.start()
        assert (await client.wav_path("en", "Number A0 0 3, please go to window 3")).exists()
        await client.stop()
    finally:
        await asyncio.to_thread(first.stop)
