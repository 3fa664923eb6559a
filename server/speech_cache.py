"""The speech cache on disk: one WAV file per phrase, named by its voice and text.

A phrase is cached as ``<cache_dir>/<sha256(voice + text)>.wav``, so the audio URL of a call
is a function of its phrase; a file counts once it holds more than a WAV header (files are
written under a temporary name and renamed, so several processes may share the directory).
:func:`prune` keeps the directory under a size, oldest phrases first.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

log = logging.getLogger("hallq.speech")

_WAV_HEADER = 44


def cache_name(voice: str, text: str) -> str:
    """The cache file name of a phrase: ``sha256(voice, text)`` in hex, plus ``.wav``."""
    digest = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()
    return f"{digest}.wav"


def is_ready(path: Path) -> bool:
    """Whether ``path`` holds a phrase's audio (more than a WAV header)."""
    try:
        return path.stat().st_size > _WAV_HEADER
    except OSError:
        return False


def prune(cache_dir: Path, max_bytes: int) -> int:
    """Delete the oldest cached phrases in ``cache_dir`` until it holds at most ``max_bytes``;
    answers how many files were deleted."""
    files = []
    for entry in os.scandir(cache_dir):
        if entry.name.endswith(".wav") and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                stat = entry.stat()
                files.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _, size, _ in files)
    deleted = 0
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            deleted += 1
        total -= size
    if deleted:
        log.info("speech cache pruned: %d old phrases deleted", deleted)
    return deleted
