"""How soon is a call's audio ready after the call? Speech synthesis latency.

Measures, with the real pyttsx3 + espeak-ng worker of :mod:`server.speech`:

* cold cache: a call's phrase requested for the first time (the worker is
  running and has spoken each voice once), p50 / p95 / max over distinct
  phrases, split into time inside the worker (pyttsx3 + espeak) and the rest
  (pipe round trip, asyncio, thread hand-off);
* a burst: five windows calling at the same instant (10 phrases at once),
  time until the last phrase is ready;
* warm cache: the same request once the file exists (what prewarm buys);
* worker start-up, and the first phrase per voice (dictionary loading).

Prints a table and rewrites the "Benchmark" section of docs/speech.md.

    .venv/bin/python -m bench.bench_speech [--phrases 60] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import wave
from pathlib import Path

from server.config import load_demo
from server.speech import SpeechService

TARGET_P95_MS = 150.0
DOC = Path(__file__).resolve().parent.parent / "docs" / "speech.md"
BEGIN = "<!-- bench_speech: begin -->"
END = "<!-- bench_speech: end -->"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(phrases: int) -> dict[str, float | int | str]:
    hall = load_demo()
    windows = [w.id for w in hall.windows]
    prefixes = [s.prefix for s in hall.services]
    with tempfile.TemporaryDirectory() as cache:
        speech = SpeechService(cache)
        started = time.perf_counter()
        await speech.start()
        startup_ms = (time.perf_counter() - started) * 1000

        first_voice_ms = []
        for lang in hall.languages:  # the first phrase per voice loads its dictionary
            t = time.perf_counter()
            await speech.announcement_wav(hall, lang, "A999", "1")
            first_voice_ms.append((time.perf_counter() - t) * 1000)

        total_ms: list[float] = []
        worker_ms: list[float] = []
        audio_s: list[float] = []
        for i in range(phrases):
            lang = hall.languages[i % len(hall.languages)]
            number = f"{prefixes[i % len(prefixes)]}{i // len(hall.languages) + 1:03d}"
            window = windows[i % len(windows)]
            t = time.perf_counter()
            path = await speech.announcement_wav(hall, lang, number, window)
            total_ms.append((time.perf_counter() - t) * 1000)
            assert speech.last_timing is not None
            worker_ms.append(speech.last_timing.worker_s * 1000)
            with wave.open(str(path)) as wav:
                audio_s.append(wav.getnframes() / wav.getframerate())

        # Five windows call at the same instant: ten phrases (zh + en) at once.
        t = time.perf_counter()
        await asyncio.gather(
            *(
                speech.announcement_wav(hall, lang, f"C{500 + n}", windows[n])
                for n in range(5)
                for lang in hall.languages
            )
        )
        burst_ms = (time.perf_counter() - t) * 1000

        hit_us: list[float] = []
        for _ in range(2000):
            t = time.perf_counter()
            await speech.announcement_wav(hall, "zh", "A001", "1")
            hit_us.append((time.perf_counter() - t) * 1e6)
        await speech.stop()

    overhead = [tot - wrk for tot, wrk in zip(total_ms, worker_ms, strict=True)]
    return {
        "phrases": phrases,
        "startup_ms": startup_ms,
        "first_voice_ms": max(first_voice_ms),
        "cold_p50_ms": statistics.median(total_ms),
        "cold_p95_ms": pct(total_ms, 0.95),
        "cold_max_ms": max(total_ms),
        "worker_p50_ms": statistics.median(worker_ms),
        "worker_p95_ms": pct(worker_ms, 0.95),
        "overhead_p50_ms": statistics.median(overhead),
        "overhead_p95_ms": pct(overhead, 0.95),
        "burst_ms": burst_ms,
        "hit_p50_us": statistics.median(hit_us),
        "hit_p95_us": pct(hit_us, 0.95),
        "audio_p50_s": statistics.median(audio_s),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.system()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
    }


def table(r: dict[str, float | int | str]) -> str:
    met = "met" if float(r["cold_p95_ms"]) <= TARGET_P95_MS else "NOT met"
    rows = [
        (
            "cold cache, whole request",
            f"{r['cold_p50_ms']:.1f} ms",
            f"{r['cold_p95_ms']:.1f} ms",
            f"max {r['cold_max_ms']:.1f} ms",
        ),
        ("… inside the worker (pyttsx3 + espeak)", f"{r['worker_p50_ms']:.1f} ms", f"{r['worker_p95_ms']:.1f} ms", ""),
        (
            "… round trip (pipe, asyncio, thread)",
            f"{r['overhead_p50_ms']:.2f} ms",
            f"{r['overhead_p95_ms']:.2f} ms",
            "",
        ),
        ("warm cache (file exists)", f"{r['hit_p50_us']:.0f} µs", f"{r['hit_p95_us']:.0f} µs", ""),
        ("burst: 5 windows call at once (10 phrases)", "", "", f"all ready {r['burst_ms']:.0f} ms"),
        ("worker start-up (spawn, import, espeak init)", "", "", f"{r['startup_ms']:.0f} ms"),
        ("first phrase of a voice (loads its dictionary)", "", "", f"{r['first_voice_ms']:.0f} ms"),
    ]
    lines = [
        f"{r['phrases']} distinct call phrases of the demo hall (zh and en alternating; median "
        f"phrase {r['audio_p50_s']:.1f} s of audio), on {r['machine']}.",
        "",
        "| measure | p50 | p95 | |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        f"Target: audio ready ≤ {TARGET_P95_MS:.0f} ms p95 after the call, cold cache: **{met}**.",
    ]
    return "\n".join(lines)


def write_doc(text: str) -> None:
    """Replace the marked Benchmark section of docs/speech.md (append one if missing)."""
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Speech\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + f"\n\n## Benchmark\n\n{block}\n"
    DOC.write_text(doc, encoding="utf-8")


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--phrases", type=int, default=60)
    args.add_argument("--no-write", action="store_true", help="do not update docs/speech.md")
    options = args.parse_args()
    result = asyncio.run(measure(max(30, options.phrases)))
    text = table(result)
    print(text)
    if not options.no_write:
        write_doc(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
