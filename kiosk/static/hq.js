/* hallq shared page helpers: languages, labels, API calls, durations, dialogs.
 * Plain JS, no build step. Used by the kiosk, desk, visitor and clerk pad pages.
 * Everything hangs off one global, HQ, so pages stay small scripts. */
(function (global) {
  "use strict";

  // Every label comes from the word catalogue (server/words/{lang}.json), embedded by the
  // server in each page as <script id="hall-words">{lang: {key: text}}</script>, so Python and
  // the pages say the same thing. A page element names its label with data-i18n="key" (text) or
  // data-i18n-aria="key" / data-i18n-placeholder="key" (attributes). Texts may hold {name}
  // placeholders filled by HQ.t(key, vars).
  function readWords() {
    var el = document.getElementById("hall-words");
    try { return JSON.parse((el && el.textContent) || "{}") || {}; } catch (e) { return {}; }
  }

  var HQ = {};
  HQ.WORDS = readWords();
  HQ.lang = "zh";
  HQ.hall = null;

  /** Read a JSON blob the server embedded in a <script type="application/json"> element. */
  HQ.readJSON = function (id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent || "null"); } catch (e) { return null; }
  };

  /** Whether the catalogue has `key` (in the current or given language). */
  HQ.has = function (key, lang) {
    var words = HQ.WORDS[lang || HQ.lang] || {};
    return Object.prototype.hasOwnProperty.call(words, key);
  };

  /** A label in the current (or given) language; falls back to English, then to the key. */
  HQ.t = function (key, vars, lang) {
    var l = lang || HQ.lang;
    var own = HQ.WORDS[l] || {}, en = HQ.WORDS.en || {};
    var s = Object.prototype.hasOwnProperty.call(own, key) ? own[key]
      : Object.prototype.hasOwnProperty.call(en, key) ? en[key] : key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
      });
    }
    return s;
  };

  /** A localized name object ({zh, en}) in the current language. */
  HQ.name = function (names, lang) {
    if (!names) return "";
    if (typeof names === "string") return names;
    var l = lang || HQ.lang;
    return names[l] || names.en || names.zh || "";
  };

  HQ.service = function (id) {
    var list = (HQ.hall && HQ.hall.services) || [];
    for (var i = 0; i < list.length; i++) if (list[i].id === id) return list[i];
    return null;
  };
  HQ.serviceName = function (id, lang) {
    var s = HQ.service(id);
    return s ? HQ.name(s.name, lang) : id;
  };
  HQ.windowInfo = function (id) {
    var list = (HQ.hall && HQ.hall.windows) || [];
    for (var i = 0; i < list.length; i++) if (String(list[i].id) === String(id)) return list[i];
    return null;
  };
  /** "3号窗口" / "Window 3": the hall file's window name, or a generic one. */
  HQ.windowName = function (id, lang) {
    var w = HQ.windowInfo(id);
    if (w && w.name) return HQ.name(w.name, lang);
    return (lang || HQ.lang) === "zh" ? id + "号窗口" : "Window " + id;
  };

  var LANG_TAGS = { zh: "zh-CN", en: "en" };

  /** Show every labelled element in `lang` and remember the choice for the session. */
  HQ.setLang = function (lang) {
    HQ.lang = lang;
    document.documentElement.lang = LANG_TAGS[lang] || lang;
    HQ.applyLabels(document);
    try { sessionStorage.setItem("hallq.lang", lang); } catch (e) { /* private mode */ }
    var listeners = HQ._langListeners;
    for (var i = 0; i < listeners.length; i++) listeners[i](lang);
  };
  HQ._langListeners = [];
  HQ.onLang = function (fn) { HQ._langListeners.push(fn); };

  HQ.applyLabels = function (root) {
    var names = root.querySelectorAll("[data-hall-name]");
    for (var n = 0; n < names.length; n++) if (HQ.hall) names[n].textContent = HQ.name(HQ.hall.name);
    var els = root.querySelectorAll("[data-i18n]");
    for (var i = 0; i < els.length; i++) {
      var text = HQ.t(els[i].getAttribute("data-i18n"));
      // data-i18n-hall: the label, then the hall's name (a page's <title>)
      if (els[i].hasAttribute("data-i18n-hall") && HQ.hall) text += " · " + HQ.name(HQ.hall.name);
      els[i].textContent = text;
    }
    var attrs = [["data-i18n-aria", "aria-label"], ["data-i18n-placeholder", "placeholder"], ["data-i18n-title", "title"]];
    for (var a = 0; a < attrs.length; a++) {
      var withAttr = root.querySelectorAll("[" + attrs[a][0] + "]");
      for (var j = 0; j < withAttr.length; j++) withAttr[j].setAttribute(attrs[a][1], HQ.t(withAttr[j].getAttribute(attrs[a][0])));
    }
  };

  /** The hall's languages in order; the switch cycles through them. */
  HQ.languages = function () {
    var langs = (HQ.hall && HQ.hall.languages) || ["zh", "en"];
    return langs.length ? langs : ["zh", "en"];
  };

  /** Wire a language switch button: it names the next language, and switches to it. */
  HQ.langSwitch = function (button) {
    function next() {
      var langs = HQ.languages();
      return langs[(langs.indexOf(HQ.lang) + 1) % langs.length];
    }
    function label() {
      var n = next();
      button.textContent = HQ.t("lang_name", null, n);
      button.setAttribute("lang", LANG_TAGS[n] || n);
      // Its name is the other language's own name ("English", lang="en"): readable by whoever
      // needs it, and no second language written on the page.
    }
    button.addEventListener("click", function () { HQ.setLang(next()); });
    HQ.onLang(label);
    label();
  };

  /** Start a page: read the embedded hall, pick the language (session choice, else `fallback`). */
  HQ.init = function (fallback) {
    HQ.hall = HQ.readJSON("hall-data");
    var langs = HQ.languages();
    var saved = null;
    try { saved = sessionStorage.getItem("hallq.lang"); } catch (e) { /* ignore */ }
    var lang = saved && langs.indexOf(saved) >= 0 ? saved : (fallback && langs.indexOf(fallback) >= 0 ? fallback : langs[0]);
    var sw = document.querySelectorAll("[data-lang-switch]");
    for (var i = 0; i < sw.length; i++) HQ.langSwitch(sw[i]);
    HQ.setLang(lang);
  };

  /**
   * Call the JSON API. Resolves {ok, status, data} and never rejects: a network failure is
   * {ok:false, status:0, data:{error:{code:"network"}}}, so callers handle one shape.
   */
  /**
   * Changes (any method but GET) on their way to the server now. reloader.js waits while
   * there are any: a reload in between would drop the answer (a ticket issued but never shown,
   * a manager's change done but never confirmed).
   */
  HQ.changing = 0;

  HQ.api = function (method, path, body, token) {
    var headers = { Accept: "application/json" };
    if (body !== undefined && body !== null) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    var change = method !== "GET";
    if (change) HQ.changing += 1;
    function settled(result) {
      if (change) HQ.changing -= 1;
      return result;
    }
    return fetch(path, {
      method: method,
      headers: headers,
      body: body !== undefined && body !== null ? JSON.stringify(body) : undefined,
      cache: "no-store",
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { code: "bad_response", message: text.slice(0, 200) } }; }
        return { ok: res.ok, status: res.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: { code: "network", message: HQ.t("error_network") } } };
    }).then(settled, function (err) { settled(null); throw err; });
  };

  /**
   * Draw a table body again without losing what a person typed and has not saved.
   * ``draw()`` rebuilds ``body``; each input or select marked ``data-shown`` (the value it was
   * drawn with) whose value differs keeps it in the new drawing, found again by its row's
   * ``data-<rowKey>`` and its name (else its class, else its language). Row ``except`` (just
   * saved) shows what was drawn. Pages read the hall again after every change, a language
   * switch or another manager's edit: without this, a redraw wipes a field being typed.
   */
  HQ.keepTyped = function (body, rowKey, draw, except) {
    function fieldOf(input) {
      return input.closest("tr").dataset[rowKey] + "/" + (input.name || input.className || input.dataset.lang);
    }
    var typed = {};
    body.querySelectorAll("input[data-shown], select[data-shown]").forEach(function (input) {
      if (input.value !== input.dataset.shown && input.closest("tr").dataset[rowKey] !== except) {
        typed[fieldOf(input)] = input.value;
      }
    });
    draw();
    body.querySelectorAll("input[data-shown], select[data-shown]").forEach(function (input) {
      var field = fieldOf(input);
      if (Object.prototype.hasOwnProperty.call(typed, field)) input.value = typed[field];
    });
  };

  /**
   * What a person reads for a refusal {code, message}: the catalogue's err_<code> in the page's
   * language. The server's English message is only a fallback for a code we do not know.
   */
  HQ.refusalText = function (err, lang) {
    err = err || {};
    if (err.code && HQ.has("err_" + err.code, lang)) return HQ.t("err_" + err.code, err, lang);
    if (err.message && (lang || HQ.lang) === "en") return err.message;
    return HQ.t("err_unknown", { code: err.code || "?" }, lang);
  };

  /** A human message for a failed HQ.api answer. */
  HQ.errorText = function (res) {
    if (res.status === 0) return HQ.t("error_network");
    if (res.status === 429) return HQ.t("error_rate");
    var err = (res.data && res.data.error) || { code: "http_error" };
    return HQ.refusalText(err);
  };

  /**
   * An ID number as a screen may show it while it is typed: the first 4 characters, then stars,
   * then the last one (the last 4 once it is complete): 4401********1234.
   */
  HQ.maskId = function (raw) {
    var s = String(raw || ""), n = s.length;
    if (n <= 4) return s;
    var tail = n >= 15 ? 4 : 1;
    return s.slice(0, 4) + "*".repeat(n - 4 - tail) + s.slice(n - tail);
  };

  /**
   * A ticket number as staff type it: "a12" → "A012" (letter case and zero padding normalised).
   * Returns "" when it cannot be a ticket number.
   */
  HQ.normalizeNumber = function (text) {
    var m = /^\s*([A-Za-z])\s*0*(\d{1,3})\s*$/.exec(String(text || ""));
    if (!m) return "";
    return m[1].toUpperCase() + m[2].padStart(3, "0");
  };

  /** A moment (epoch ms) in the hall's own timezone, never the browser's: "2026-12-01 12:32". */
  HQ.hallTime = function (ms, lang) {
    var tz = (HQ.hall && HQ.hall.timezone) || "UTC";
    var parts = {};
    new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms))
      .forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  };

  /** "约 15 分钟" / "about 15 min" from seconds. */
  HQ.formatWait = function (seconds, lang) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    if (seconds < 60) return HQ.t("any_moment", null, lang);
    var minutes = Math.round(seconds / 60);
    var d = minutes < 60 ? HQ.t("minutes", { n: minutes }, lang)
      : HQ.t("hours_minutes", { h: Math.floor(minutes / 60), m: minutes % 60 }, lang);
    return HQ.t("about", { d: d }, lang);
  };

  /** "m:ss" (or "h:mm:ss") of a duration in milliseconds, never negative. */
  HQ.clock = function (ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  };

  /** A request id for an action: crypto.randomUUID where available (secure contexts only),
   * else 128 random bits from crypto.getRandomValues (a pad on plain http:// in a LAN). */
  HQ.requestId = function () {
    if (global.crypto && typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    var b = new Uint8Array(16);
    global.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  };

  /** ws:// or wss:// URL for a socket path on this server. */
  HQ.wsUrl = function (path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  };

  /**
   * A yes/no question in the page's own <dialog class="hq-dialog"> (window.confirm is blocked in
   * kiosk browsers and cannot be styled for touch). Resolves true or false.
   */
  HQ.ask = function (text, yesLabel, noLabel) {
    return new Promise(function (resolve) {
      var dlg = document.createElement("dialog");
      dlg.className = "hq-dialog";
      dlg.setAttribute("aria-modal", "true");
      var p = document.createElement("p");
      p.className = "hq-dialog-text";
      p.textContent = text;
      var row = document.createElement("div");
      row.className = "hq-row";
      var yes = document.createElement("button");
      yes.type = "button"; yes.className = "hq-btn hq-primary"; yes.textContent = yesLabel || HQ.t("confirm");
      yes.setAttribute("data-answer", "yes");
      var no = document.createElement("button");
      no.type = "button"; no.className = "hq-btn"; no.textContent = noLabel || HQ.t("cancel");
      no.setAttribute("data-answer", "no");
      row.appendChild(yes); row.appendChild(no);
      dlg.appendChild(p); dlg.appendChild(row);
      document.body.appendChild(dlg);
      function finish(answer) { dlg.close(); dlg.remove(); resolve(answer); }
      yes.addEventListener("click", function () { finish(true); });
      no.addEventListener("click", function () { finish(false); });
      dlg.addEventListener("cancel", function (e) { e.preventDefault(); finish(false); });
      dlg.showModal();
      no.focus();
    });
  };

  /** Calls fn at most once per `ms`, trailing, for refetches triggered by bursts of events. */
  HQ.debounce = function (fn, ms) {
    var timer = null;
    return function () {
      if (timer) return;
      timer = setTimeout(function () { timer = null; fn(); }, ms);
    };
  };

  global.HQ = HQ;
})(window);
