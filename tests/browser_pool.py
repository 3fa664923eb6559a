"""Browser contexts lent to tests and reused, reset between them.

A page of ours in a new Chromium context, open for 1.5 s, costs about 1.7 CPU-s here,
most of it the context's first renderer starting up; in a context that already has a
page open it costs about 0.6. The suite opens a few hundred. So
``browser.new_context(...)`` in a test lends an idle context created with the same
options when there is one, and ``close()`` gives it back instead of closing it; an idle
context keeps one blank page (its keeper, never shown to a test) so its renderer stays up.

A lent context must look new to its next test, so it comes back only in a state the
pool can undo:

* its pages are closed (a new page has a new session storage, history and listeners);
* its cookies are cleared (cookies are scoped by host, not port: they would reach every
  test server on 127.0.0.1), and so is the storage of every origin its pages reached
  (``Storage.clearDataForOrigin``: local storage, IndexedDB, cache storage, service
  workers with their push subscriptions) and its HTTP cache;
* the size a test asks for is set on each of its pages, so contexts differing only in size
  are one;
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

DEFAULT_VIEWPORT = {"width": 1280, "height": 720}
"""Playwright's own default page size."""

MAX_IDLE = 6
"""Idle contexts kept per browser (each keeps a renderer up); more are closed."""


def origin_of(url: str) -> str | None:
    """The origin whose storage a page at ``url`` may write, or None (about:blank, data:)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


class LentContext:
    """A Playwright ``BrowserContext`` lent to one test; attribute access passes through."""

    def __init__(self, pool: ContextPool, key: str, context: Any, viewport: dict[str, int]) -> None:
        self._pool = pool
        self.key = key
        """The options it was created with, but size (what the pool matches a request on)."""
        self._context = context
        self.viewport = viewport
        self._origins: set[str] = set()
        self._keeper: Any = None
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

    def new_page(self) -> Any:
        """A new page of the size the test asked its context for."""
        page = self._context.new_page()
        page.set_viewport_size(self.viewport)
        return page

    @property
    def pages(self) -> list[Any]:
        """The test's open pages (not the keeper)."""
        return [page for page in self._context.pages if page is not self._keeper]

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
            if self._keeper is None or self._keeper.is_closed():
                self._keeper = self._context.new_page()  # before the test's close: a renderer stays up
            for page in self.pages:
                page.close()
            if self._origins:
                session = self._context.new_cdp_session(self._keeper)
                for origin in sorted(self._origins):
                    session.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
                session.send("Network.clearBrowserCache")
                session.detach()
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

    def __init__(self, create: Callable[..., Any], *, reuse: bool = True) -> None:
        self._create = create
        self.reuse = reuse
        self._idle: list[LentContext] = []

    def lend(self, **options: Any) -> Any:
        """A context as ``browser.new_context(**options)`` makes it: an idle reset one if any."""
        if not self.reuse or UNPOOLED_OPTIONS & options.keys() or options.get("viewport", DEFAULT_VIEWPORT) is None:
            return self._create(**options)
        # The size is the page's, not the context's (Playwright sets it per page, with the
        # screen's): contexts differing only in it are one.
        viewport = options.pop("viewport", DEFAULT_VIEWPORT)
        key = repr(sorted(options.items()))
        for index, lent in enumerate(self._idle):
            if lent.key == key:
                del self._idle[index]
                lent.reusable, lent.viewport = True, viewport
                return lent
        return LentContext(self, key, self._create(viewport=viewport, **options), viewport)

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
