"""One language on a screen: every zh and en page, driven through a few states in Chromium
against a live server, shows no untranslated string.

On an English page no Chinese character may show, except the proper names allow-listed here
(staff names from the hall file, and 中文 on the language switch). On a Chinese page no English
word may show, except the allow-list (English on the switch, key names, units) — ticket numbers,
URLs and the raw hall file (``data-raw``) are not words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from server.config import load_demo
from tests.live import LiveServer

TIMEOUT_MS = 10_000
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z]{2,}")
STAFF = load_demo().staff
EN_ALLOWED = ["中文", *(s.name for s in STAFF)]
ZH_ALLOWED = {"English", "Enter", "CSV", "P90", *(s.id for s in STAFF)}

VISIBLE_TEXT = """() => {
  const out = [];
  const seen = (el) => el.checkVisibility({checkVisibilityCSS: true, visibilityProperty: true});
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || el.closest('[data-raw], script, style, template')) continue;
    if (!seen(el)) continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], img[alt]')) {
    if (el.closest('[data-raw]') || !seen(el)) continue;
    for (const a of ['placeholder', 'aria-label', 'title', 'alt']) {
      const v = el.getAttribute(a);
      if (v) out.push(v);
    }
  }
  out.push(document.title);
  return out;
}"""


def untranslated(page: Any, lang: str) -> list[str]:
    """The visible strings of ``page`` that are not in ``lang`` (empty when all are)."""
    bad = []
    for text in page.evaluate(VISIBLE_TEXT):
        if lang == "en":
            rest = text
            for name in EN_ALLOWED:
                rest = rest.replace(name, "")
            if CJK.search(rest):
                bad.append(text)
        else:
            rest = re.sub(r"https?://\S+|\b[A-Z]\d{3}\b", "", text)
            words = [w for w in WORD.findall(rest) if w not in ZH_ALLOWED]
            if words:
                bad.append(f"{text!r} ({', '.join(words)})")
    return bad


def check(page: Any, lang: str, where: str) -> None:
    page.wait_for_function(
        f"document.documentElement.lang === '{'zh-CN' if lang == 'zh' else 'en'}'", timeout=TIMEOUT_MS
    )
    bad = untranslated(page, lang)
    assert bad == [], f"{where} ({lang}): untranslated {bad}"


def to_lang(page: Any, lang: str) -> None:
    """Switch the page to ``lang`` with its own switch (a no-op when it is already)."""
    current = page.evaluate("document.documentElement.lang")
    if (lang == "en") != (current == "en"):
        page.click("[data-lang-switch]")


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


LANGS = ["zh", "en"]


@pytest.mark.parametrize("lang", LANGS)
def test_kiosk_and_visitor_speak_one_language(live_server: LiveServer, tab: Any, browser: Any, lang: str) -> None:
    live_server.issue(["register"], id_number="110101199003074514")
    tab.goto(f"{live_server.url}/kiosk/demo")
    tab.wait_for_selector("[data-service='register']")
    to_lang(tab, lang)
    check(tab, lang, "kiosk start")
    tab.click("[data-priority]")
    check(tab, lang, "kiosk priority dialog")
    tab.click(".hq-dialog [data-answer='no']")
    # a refusal (duplicate ticket), with the ID keypad open
    tab.click("[data-service='register']")
    tab.click(".issue-id > summary")
    tab.fill("[data-id-number]", "110101199003074514")
    tab.click("[data-submit]")
    tab.wait_for_function("document.querySelector('[data-issue-message]').textContent !== ''")
    check(tab, lang, "kiosk duplicate refusal")
    tab.click(".issue-key-clear")
    tab.click("[data-submit]")
    tab.wait_for_selector("#ticket:not([hidden]) .t-number", timeout=TIMEOUT_MS)
    check(tab, lang, "kiosk ticket")
    url, number = tab.inner_text(".t-url"), tab.inner_text(".t-number")

    # the visitor's phone: waiting, called, transferred, done
    phone = tab.context.new_page()
    phone.errors = []
    phone.on("pageerror", lambda e: phone.errors.append(str(e)))
    phone.goto(url)
    phone.wait_for_selector("#view:not([hidden])")
    to_lang(phone, lang)
    check(phone, lang, "visitor waiting")
    clerk = live_server.login("s01")
    assert live_server.act(clerk, "1", "call", ticket=number)[0] == 200
    phone.wait_for_selector("#callout:not([hidden])")
    check(phone, lang, "visitor called")
    assert live_server.act(clerk, "1", "transfer", service="photo")[0] == 200
    phone.wait_for_function("document.body.dataset.status === 'waiting'")
    phone.wait_for_selector("#notice:not([hidden])")
    check(phone, lang, "visitor transferred")
    status, body = live_server.act(clerk, "1", "call", ticket=number)
    assert status == 200 and body["ticket"]["services"] == ["photo"], body
    assert live_server.act(clerk, "1", "complete")[0] == 200
    phone.wait_for_selector("#done:not([hidden])")
    check(phone, lang, "visitor done")
    phone.click("#rate [data-score='3']")
    phone.click(".hq-dialog [data-answer='yes']")  # a rating is confirmed before it is sent
    phone.wait_for_function("document.querySelector('#rate-message').textContent !== ''")
    check(phone, lang, "visitor rated")
    assert tab.errors == [] and phone.errors == []


@pytest.mark.parametrize("lang", LANGS)
def test_remote_page_and_set_out_speak_one_language(live_server: LiveServer, tab: Any, lang: str) -> None:
    """远程取号: the phone's page, a refusal, and the ticket page saying when to set out."""
    live_server.issue(["register"], id_number="110101199003074514")
    tab.goto(f"{live_server.url}/remote/demo")
    tab.wait_for_selector("#remote-form:not([hidden])")
    to_lang(tab, lang)
    check(tab, lang, "remote start")
    tab.check("input[name=service][value='register']")
    tab.fill("#id-number", "110101199003074514")
    tab.click("#take")
    tab.wait_for_function("document.querySelector('#message').textContent !== ''")
    check(tab, lang, "remote duplicate refusal")
    tab.fill("#id-number", "")
    tab.click("#take")
    tab.wait_for_selector("#set-out:not([hidden])", timeout=TIMEOUT_MS)
    to_lang(tab, lang)
    check(tab, lang, "visitor set out")
    assert tab.errors == []


@pytest.mark.parametrize("lang", LANGS)
def test_desk_speaks_one_language(live_server: LiveServer, tab: Any, lang: str) -> None:
    number = live_server.issue(["pension"])["ticket"]["number"]
    tab.goto(f"{live_server.url}/desk/demo")
    to_lang(tab, lang)
    check(tab, lang, "desk login")
    tab.fill("#login-staff", "desk")
    tab.fill("#login-pin", "9999")
    tab.click("#login button[type=submit]")
    tab.wait_for_function("document.querySelector('#login-message').textContent !== ''")
    check(tab, lang, "desk wrong PIN")
    tab.fill("#login-pin", "1234")
    tab.click("#login button[type=submit]")
    tab.wait_for_selector("#desk:not([hidden]) #queue tbody tr")
    check(tab, lang, "desk")
    tab.fill("#find-number", "zz")
    tab.click("#find button[type=submit]")
    tab.wait_for_function("document.querySelector('#find-message').textContent !== ''")
    check(tab, lang, "desk refusal")
    tab.fill("#find-number", number.lower())
    tab.click("#find button[type=submit]")
    tab.wait_for_selector("#find-result:not([hidden])")
    check(tab, lang, "desk found")
    assert tab.errors == []


@pytest.mark.parametrize("lang", LANGS)
def test_pad_speaks_one_language(live_server: LiveServer, tab: Any, lang: str) -> None:
    live_server.issue(["register"])
    live_server.issue(["register", "transfer"])
    tab.goto(f"{live_server.url}/pad/demo")
    to_lang(tab, lang)
    tab.fill("#login-staff", "s02")
    tab.fill("#login-pin", "1234")
    tab.click("#login button[type=submit]")
    tab.wait_for_selector("#window-list [data-window='2']")
    check(tab, lang, "pad windows")
    tab.click("#window-list [data-window='2']")
    tab.wait_for_selector("#win-status[data-status='idle']", timeout=TIMEOUT_MS)
    check(tab, lang, "pad idle")
    tab.click("#actions [data-action='call_next']")
    tab.wait_for_selector("#win-status[data-status='calling']", timeout=TIMEOUT_MS)
    check(tab, lang, "pad calling, countdown")
    # a refusal from the server: a no-show too soon after the call
    tab.wait_for_function("document.body.dataset.pending === ''")
    tab.click("#actions [data-action='no_show']")
    tab.wait_for_function("document.querySelector('#outcome').classList.contains('hq-error')", timeout=TIMEOUT_MS)
    check(tab, lang, "pad refusal")
    tab.click("#actions [data-action='transfer']")
    tab.wait_for_selector("#dlg-transfer[open]")
    check(tab, lang, "pad transfer dialog")
    tab.click("#transfer-services [data-service='photo']")
    tab.wait_for_selector("#win-status[data-status='idle']", timeout=TIMEOUT_MS)
    check(tab, lang, "pad transferred")
    assert tab.errors == []


@pytest.mark.parametrize("lang", LANGS)
def test_rating_pad_and_manager_speak_one_language(live_server: LiveServer, tab: Any, browser: Any, lang: str) -> None:
    tab.goto(f"{live_server.url}/rate/demo/1" + ("?lang=en" if lang == "en" else ""))
    tab.wait_for_selector("#offline", state="hidden", timeout=TIMEOUT_MS)
    check(tab, lang, "rating pad idle")
    clerk = live_server.login("s01")
    live_server.issue(["register"])
    assert live_server.act(clerk, "1", "call_next")[0] == 200
    assert live_server.act(clerk, "1", "complete")[0] == 200
    tab.wait_for_selector("body[data-screen=levels]", timeout=TIMEOUT_MS)
    check(tab, lang, "rating pad levels")
    tab.click("button.level[data-score='1']")
    tab.wait_for_selector("body[data-screen=reasons]")
    check(tab, lang, "rating pad reasons")
    tab.click("button.reason[data-reason='long_wait']")
    tab.click("#reasons-submit")
    tab.wait_for_selector("body[data-screen=thanks]", timeout=TIMEOUT_MS)
    check(tab, lang, "rating pad thanks")

    admin = tab.context.new_page()
    admin.errors = []
    admin.on("pageerror", lambda e: admin.errors.append(str(e)))
    admin.goto(f"{live_server.url}/admin/demo")
    to_lang(admin, lang)
    check(admin, lang, "manager login")
    admin.fill("#login-staff", "s01")
    admin.fill("#login-pin", "1234")
    admin.click("#login-submit")
    admin.wait_for_function("document.getElementById('login-error').textContent.length > 0", timeout=TIMEOUT_MS)
    check(admin, lang, "manager refusal")
    admin.fill("#login-staff", "admin")
    admin.fill("#login-pin", "admin1234")
    admin.click("#login-submit")
    admin.wait_for_selector("body[data-reports=ready]", timeout=TIMEOUT_MS)
    admin.wait_for_selector("#bad-ratings tbody tr")
    admin.wait_for_selector("#conn[data-status=online]", timeout=TIMEOUT_MS)
    check(admin, lang, "manager board and reports")
    assert tab.errors == [] and admin.errors == []
