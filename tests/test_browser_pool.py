"""The browser context pool (tests/browser_pool.py) lends a context that looks new: whatever a
test left in it (cookies, storages, service workers, the HTTP cache) is gone, and a context
whose changes cannot be undone is never lent again."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.browser_pool import ContextPool
from tests.stand_in import QuietHandler, StandIn

PAGE = b"<!doctype html><title>site</title><p>site</p>"
OPTIONS: dict[str, Any] = {"viewport": {"width": 800, "height": 600}, "locale": "zh-CN"}


class Site(StandIn):
    """A page, an empty service worker, and a cacheable counter of its fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches = 0
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == "/count":
                    site.fetches += 1
                    self._answer(b"%d" % site.fetches, "text/plain", "max-age=3600")
                elif self.path == "/sw.js":
                    self._answer(b"self.addEventListener('fetch', () => {});", "text/javascript", "no-store")
                else:
                    self._answer(PAGE, "text/html", "no-store")

            def _answer(self, body: bytes, kind: str, cache: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", cache)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.handler: type[BaseHTTPRequestHandler] = Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def pool(browser: Any) -> Iterator[ContextPool]:
    """A pool of its own over the session's browser (whose ``new_context`` the suite's pool
    has taken over, and which HALLQ_TEST_CONTEXT_POOL=0 turns off)."""
    own = ContextPool(lambda **options: type(browser).new_context(browser, **options))
    yield own
    own.close()


@pytest.fixture
def site() -> Iterator[Site]:
    site = Site()
    site.serve(site.handler)
    yield site
    site.stop()


LEAVE_TRACES = """async () => {
    document.cookie = 'visitor=A012; max-age=3600';
    localStorage.setItem('ticket', 'A012');
    sessionStorage.setItem('tab', 'kiosk');
    await new Promise((ok, fail) => {
        const open = indexedDB.open('hall', 1);
        open.onupgradeneeded = () => open.result.createObjectStore('tickets');
        open.onsuccess = () => { open.result.close(); ok(); };
        open.onerror = fail;
    });
    await navigator.serviceWorker.register('/sw.js');
    await navigator.serviceWorker.ready;
    return (await fetch('/count')).text();
}"""

TRACES = """async () => ({
    cookie: document.cookie,
    local: localStorage.length,
    session: sessionStorage.length,
    databases: (await indexedDB.databases()).length,
    workers: (await navigator.serviceWorker.getRegistrations()).length,
    count: await (await fetch('/count')).text(),
})"""


def test_a_lent_context_comes_back_as_new(pool: ContextPool, site: Site) -> None:
    first = pool.lend(**OPTIONS)
    page = first.new_page()
    page.goto(site.url)
    assert page.evaluate(LEAVE_TRACES) == "1"
    assert page.evaluate(TRACES) == {
        "cookie": "visitor=A012",
        "local": 1,
        "session": 1,
        "databases": 1,
        "workers": 1,
        "count": "1",  # from the HTTP cache: fetched once
    }
    first.close()

    again = pool.lend(**OPTIONS)
    try:
        assert again.underlying is first.underlying  # the same context, lent again
        assert again.pages == [] and again.cookies() == []
        page = again.new_page()
        page.goto(site.url)
        # nothing of the last test is left, and its cached answer is fetched anew
        assert page.evaluate(TRACES) == {
            "cookie": "",
            "local": 0,
            "session": 0,
            "databases": 0,
            "workers": 0,
            "count": "2",
        }
    finally:
        again.close()


def test_a_context_with_an_init_script_is_never_lent_again(pool: ContextPool, site: Site) -> None:
    marked = pool.lend(**OPTIONS)
    marked.add_init_script("window.marked = true")
    marked.close()
    other = pool.lend(**OPTIONS)
    try:
        assert other.underlying is not marked.underlying
        page = other.new_page()
        page.goto(site.url)
        assert page.evaluate("() => window.marked === undefined")
    finally:
        other.close()


def test_contexts_are_lent_by_their_options_but_size(pool: ContextPool, site: Site) -> None:
    phone = pool.lend(viewport={"width": 360, "height": 640}, has_touch=True)
    phone.close()
    desk = pool.lend(viewport={"width": 1280, "height": 900})
    held = pool.lend(viewport={"width": 1280, "height": 900})  # while desk is lent
    try:
        assert desk.underlying is not phone.underlying
        assert held.underlying is not desk.underlying
        page = desk.new_page()
        page.goto(site.url)
        assert page.evaluate("() => [innerWidth, navigator.maxTouchPoints]") == [1280, 0]
    finally:
        desk.close()
        held.close()
    # the size is the page's: a context asked for at another size is lent, its page sized anew
    wall = pool.lend(viewport={"width": 1920, "height": 1080})
    try:
        assert wall.underlying in (desk.underlying, held.underlying)
        page = wall.new_page()
        page.goto(site.url)
        assert page.evaluate("() => [innerWidth, innerHeight, screen.width]") == [1920, 1080, 1920]
    finally:
        wall.close()
