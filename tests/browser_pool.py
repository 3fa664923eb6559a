"""Browser contexts lent to tests and reused, reset between them.

A new Chromium context costs about 0.1 CPU-s more than a new page in an existing
one (measured: 40 page loads took 8.5 CPU-s with a context each, 4.4 with pages of
one context), and the suite makes a few hundred. So ``browser.new_context(...)``
in a test lends an idle context created with the same options when there is one,
and ``close()`` gives it back instead of closing it.

A lent context must look new to its next test, so it comes back only in a state the
pool can undo:

* its pages are closed (a new page has a new session storage, history and listeners);
* its cookies are cleared (cookies are scoped by host, not port: they would reach every
  test server on 127.0.0.1), and so is the storage of every origin its pages reached
  (``Storage.clearDataForOrigin``: local storage, IndexedDB, cache storage, service
  workers with their push subscriptions) and its HTTP cache;
* a test that used anything else on the context (init scripts, bindings, routes,
  permissions, the clock, offline mode, listeners…) cannot be undone: Playwright has no
  way to remove an init script, so such a context is closed for good, as before.

A test that reaches the context through ``page.context`` bypasses this bookkeeping:
tests use the context ``new_context`` returned.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from types import TracebackType
from typing import Any

#: What a lent context offers that the pool can undo; touching anything else retires it.
UNDOABLE = frozenset(
    {
        "new_page",
        "pages",
        "cookies",
        "add_cookies",
        "clear_cookies",
        "close",
        "browser",
        "storage_state",
        "expect_page",
        "service_workers",
        "background_pages",
        "new_cdp_session",
    }
)

#: Options a context cannot be reused under: they load state or record into files.
UNPOOLED_OPTIONS = frozenset({"storage_state", "record_har_path", "record_video_dir", "proxy"})

MAX_IDLE = 8
"""Idle contexts kept per browser; more are closed (a test rarely holds more than three)."""


def origin_of(url: str) -> str | None:
    """The origin whose storage a page at ``url`` may write, or None (about:blank, data:)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


class LentContext:
    """A Playwright ``BrowserContext`` lent to one test; attribute access passes through."""

    def __init__(self, pool: ContextPool, key: str, context: Any) -> None:
        self._pool = pool
        self._key = key
        self._context = context
        self._origins: set[str] = set()
        self.reusable = True
        origins = self._origins

        def note(url: str) -> None:
            origin = origin_of(url)
            if origin is not None:
                origins.add(origin)

        # Plain functions: Playwright looks up attributes of a bound method's object.
        context.on("page", lambda page: page.on("framenavigated", lambda frame: note(frame.url)))

    @property
    def underlying(self) -> Any:
        """The Playwright context itself (tests of the pool check which one they were lent)."""
        return self._context

    def __getattr__(self, name: str) -> Any:
        if name not in UNDOABLE:
            self.reusable = False
        return getattr(self._context, name)

    def __enter__(self) -> LentContext:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self, **_options: Any) -> None:
        """Give the context back to the pool (reset) or, if it cannot be undone, close it."""
        self._pool.give_back(self)

    def reset(self) -> bool:
        """Close the pages and clear what they left; False when the context is no longer usable."""
        try:
            for page in list(self._context.pages):
                page.close()
            if self._origins:
                scratch = self._context.new_page()
                session = self._context.new_cdp_session(scratch)
                for origin in sorted(self._origins):
                    session.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
                session.send("Network.clearBrowserCache")
                session.detach()
                scratch.close()
            self._context.clear_cookies()
        except Exception:  # noqa: BLE001 — a context that cannot be reset (browser gone, crash) is retired
            return False
        self._origins.clear()
        return True

    def retire(self) -> None:
        """Close the context for good."""
        try:
            self._context.close()
        except Exception:  # noqa: BLE001 — already gone with its browser: nothing left to close
            return


class ContextPool:
    """The idle contexts of one browser, by the options they were created with."""

    def __init__(self, create: Callable[..., Any]) -> None:
        self._create = create
        self._idle: list[LentContext] = []

    def lend(self, **options: Any) -> Any:
        """A context as ``browser.new_context(**options)`` makes it: an idle reset one if any."""
        if UNPOOLED_OPTIONS & options.keys():
            return self._create(**options)
        key = repr(sorted(options.items()))
        for index, lent in enumerate(self._idle):
            if lent._key == key:
                del self._idle[index]
                lent.reusable = True
                return lent
        return LentContext(self, key, self._create(**options))

    def give_back(self, lent: LentContext) -> None:
        if lent in self._idle:
            return  # closed twice
        if lent.reusable and lent.reset():
            self._idle.append(lent)
            if len(self._idle) > MAX_IDLE:
                self._idle.pop(0).retire()
        else:
            lent.retire()

    def close(self) -> None:
        """Close every idle context (the browser is closing)."""
        while self._idle:
            self._idle.pop().retire()
