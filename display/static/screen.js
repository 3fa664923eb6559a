/*
 * screen.js — what the lobby and window screens share: labels in the hall's languages,
 * the hall state kept up to date from events, clock, connection indicator and banner,
 * and text fitting. Classic script; defines window.HallqScreen.
 */
(function (global) {
  'use strict';

  var doc = global.document;

  /** Every label in every language we know; a hall language without one falls back to en. */
  var LABELS = {
    now: { zh: '正在呼叫', en: 'Now calling' },
    windows: { zh: '窗口', en: 'Windows' },
    recent: { zh: '最近呼叫', en: 'Recent calls' },
    waiting: { zh: '等候人数', en: 'Waiting' },
    idle: { zh: '空闲', en: 'Idle' },
    calling: { zh: '请{number}号', en: 'Please come, {number}' },
    serving: { zh: '办理中', en: 'Serving' },
    paused: { zh: '暂停服务', en: 'Paused' },
    closed: { zh: '未开放', en: 'Closed' },
    go_to: { zh: '请到{window}办理', en: 'Please go to {window}' },
    no_windows: { zh: '暂无开放窗口', en: 'No window open' },
    no_calls: { zh: '暂无呼叫', en: 'No calls yet' },
    none_calling: { zh: '暂无呼叫', en: 'No one called now' },
    no_shows: { zh: '过号', en: 'Missed calls' },
    no_no_shows: { zh: '暂无过号', en: 'None missed' },
    wait_min: { zh: '约{minutes}分钟', en: '~{minutes} min' },
    clerk: { zh: '工作人员', en: 'Clerk' },
    staff_no: { zh: '工号', en: 'Staff No.' },
    reconnecting: { zh: '正在重新连接…', en: 'Reconnecting…' },
    redis_down: { zh: '系统暂时中断，正在恢复…', en: 'Service interrupted, recovering…' },
    online: { zh: '已连接', en: 'Connected' },
    offline: { zh: '未连接', en: 'Disconnected' },
    sound: { zh: '点击开启声音', en: 'Tap to enable sound' },
  };

  var hall = global.HALL || { id: '', name: {}, languages: ['zh', 'en'], windows: [], services: [] };
  var languages = hall.languages && hall.languages.length ? hall.languages : ['zh', 'en'];

  function fill(text, vars) {
    return text.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && vars[k] != null ? String(vars[k]) : m;
    });
  }

  /** One text per hall language, in hall order: [{lang, text}]. `vars` may hold per-language values. */
  function texts(key, vars) {
    var entry = LABELS[key] || {};
    return languages.map(function (lang) {
      var v = {};
      for (var k in (vars || {})) {
        var val = vars[k];
        v[k] = val && typeof val === 'object' ? (val[lang] || val.en || val.zh || '') : val;
      }
      return { lang: lang, text: fill(entry[lang] || entry.en || key, v) };
    });
  }

  /** Fill `el` with one <span lang> per hall language (the first is the primary line). */
  function setLabel(el, key, vars) {
    setMulti(el, texts(key, vars));
  }

  /** Fill `el` from a {lang: text} mapping (hall, window and service names). */
  function setNames(el, names) {
    setMulti(el, languages.map(function (lang) {
      return { lang: lang, text: (names && (names[lang] || names.en || names.zh)) || '' };
    }));
  }

  function setMulti(el, parts) {
    var key = JSON.stringify(parts);
    if (el.__labelKey === key) return; // unchanged: keep the DOM (and running animations)
    el.__labelKey = key;
    el.textContent = '';
    parts.forEach(function (p, i) {
      var s = doc.createElement('span');
      s.lang = p.lang === 'zh' ? 'zh-CN' : p.lang;
      s.className = i === 0 ? 'l1' : 'l2';
      s.textContent = p.text;
      el.appendChild(s);
    });
  }

  /** Fill every [data-label] element of the page. */
  function applyStaticLabels(root) {
    var els = (root || doc).querySelectorAll('[data-label]');
    for (var i = 0; i < els.length; i++) setLabel(els[i], els[i].getAttribute('data-label'));
  }

  function windowConfig(id) {
    for (var i = 0; i < (hall.windows || []).length; i++) {
      if (String(hall.windows[i].id) === String(id)) return hall.windows[i];
    }
    return null;
  }

  function windowNames(id) {
    var w = windowConfig(id);
    if (w && w.name) return w.name;
    return { zh: id + '号窗口', en: 'Window ' + id };
  }

  // ---- state ------------------------------------------------------------------------------

  var RECENT_KEPT = 20;
  var NO_SHOWS_KEPT = 12;

  function emptyState() {
    return { seq: 0, windows: [], waiting: {}, waiting_since: {}, recent: [], notice: '',
      issuing_open: true, served_today: 0, no_shows: [], expected_wait_s: {}, visit_s: {} };
  }

  /** A copy of a snapshot state with every field present and the recent list deduplicated. */
  function normalizeState(state) {
    var s = emptyState();
    for (var k in state) s[k] = state[k];
    s.windows = (s.windows || []).map(function (w) {
      return { id: String(w.id), status: w.status || 'idle', ticket: w.ticket || null,
        clerk: w.clerk || null };
    });
    s.recent = dedupeRecent(s.recent || []);
    s.no_shows = (s.no_shows || []).slice(0, NO_SHOWS_KEPT);
    s.expected_wait_s = s.expected_wait_s || {};
    s.visit_s = s.visit_s || {};
    return s;
  }

  /**
   * The newest call in `state.recent` whose window still has that ticket called or in
   * service, or null. A call whose ticket was transferred away, marked no-show, requeued or
   * completed, or whose window paused or closed, is no longer "now calling" (正在呼叫).
   */
  function currentCall(state) {
    for (var i = 0; i < state.recent.length; i++) {
      var call = state.recent[i];
      var w = null;
      for (var j = 0; j < state.windows.length; j++) {
        if (state.windows[j].id === String(call.window)) { w = state.windows[j]; break; }
      }
      if (w && (w.status === 'calling' || w.status === 'serving') && w.ticket &&
          w.ticket.number === call.ticket.number) {
        return call;
      }
    }
    return null;
  }

  /**
   * Expected wait in seconds for a ticket of `service` taken now, or null when unknown:
   * server/eta.py's estimate_wait_s with the service's waiting count ahead, the mean visit
   * from the snapshot (`visit_s`) and the open windows serving it as the events say:
   * round((ahead + 0.5) * visit / max(1, open windows)). Without `visit_s` (an older server)
   * the snapshot's own `expected_wait_s`.
   */
  function expectedWaitS(state, service) {
    var visit = state.visit_s[service];
    if (typeof visit !== 'number') {
      var given = state.expected_wait_s[service];
      return typeof given === 'number' ? given : null;
    }
    var open = 0;
    (hall.windows || []).forEach(function (cfg) {
      if ((cfg.services || []).indexOf(service) < 0) return;
      for (var j = 0; j < state.windows.length; j++) {
        var w = state.windows[j];
        if (w.id === String(cfg.id)) {
          if (w.status !== 'closed' && w.status !== 'paused') open++;
          return;
        }
      }
    });
    return waitFormula(state.waiting[service] || 0, visit, open);
  }

  /** estimate_wait_s for one service with nobody's services known: (ahead + 0.5) × visit / windows. */
  function waitFormula(ahead, visit, openWindows) {
    return Math.max(0, pyRound((ahead * visit + 0.5 * visit) / Math.max(1, openWindows)));
  }

  /** Python's round(): halves to even, so both sides agree on x.5. */
  function pyRound(x) {
    var f = Math.floor(x);
    var d = x - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  /**
   * Keep the 过号 list: a ticket marked no-show that waits again (ticket.requeued, or any
   * event showing it waiting after a no-show) goes to the top; it leaves when it is called
   * again, cancelled, expired, closed as no-show or otherwise leaves the line.
   * Returns whether the list changed.
   */
  function trackNoShows(state, evt) {
    var t = evt.ticket;
    if (!t || !t.number) return false;
    var at = -1;
    for (var i = 0; i < state.no_shows.length; i++) {
      if (state.no_shows[i].number === t.number) { at = i; break; }
    }
    var missed = evt.type === 'ticket.requeued' || (evt.type === 'ticket.no_show' && t.status === 'waiting');
    if (missed) {
      if (at >= 0) state.no_shows.splice(at, 1);
      state.no_shows.unshift({ number: t.number, services: t.services || [],
        no_shows: evt.no_shows || 1, called_at: t.called_at || null });
      state.no_shows.length = Math.min(state.no_shows.length, NO_SHOWS_KEPT);
      return true;
    }
    if (at >= 0 && evt.type !== 'ticket.issued' && t.status !== 'waiting') {
      state.no_shows.splice(at, 1);
      return true;
    }
    return false;
  }

  /** Newest first, one entry per ticket number (a recall moves the ticket to the top). */
  function dedupeRecent(list) {
    var seen = {};
    var out = [];
    for (var i = 0; i < list.length && out.length < RECENT_KEPT; i++) {
      var e = list[i];
      var n = e && e.ticket && e.ticket.number;
      if (!n || seen[n]) continue;
      seen[n] = true;
      out.push(e);
    }
    return out;
  }

  function findWindow(state, id) {
    id = String(id);
    for (var i = 0; i < state.windows.length; i++) {
      if (state.windows[i].id === id) return state.windows[i];
    }
    var w = { id: id, status: 'closed', ticket: null, clerk: null };
    state.windows.push(w);
    return w;
  }

  /**
   * Apply one event to `state` in place. Returns what changed: {windows, waiting, recent,
   * notice, call (the event when it is a call), reset (the hall was reset: resync)}.
   * The server puts its own view after the event into the event: `window_state` on every
   * event about a window, `waiting` on every event that changes a queue; they are taken as
   * they are (no client-side guessing of queue or window rules).
   */
  function applyEvent(state, evt) {
    var ch = { windows: false, waiting: false, recent: false, notice: false, call: null,
      reset: false, noShows: false };
    var type = evt.type;
    if (typeof evt.seq === 'number') state.seq = evt.seq;
    if (type === 'hall.reset') { ch.reset = true; return ch; }
    if (type === 'hall.notice') {
      state.notice = evt.text || '';
      ch.notice = true;
      return ch;
    }
    if (evt.waiting && typeof evt.waiting === 'object') {
      state.waiting = evt.waiting;
      ch.waiting = true;
    }
    var ws = evt.window_state;
    if (ws && ws.id != null) {
      var w = findWindow(state, ws.id);
      w.status = ws.status || 'idle';
      w.ticket = ws.ticket || null;
      w.clerk = ws.clerk || null;
      ch.windows = true;
    }
    if ((type === 'ticket.called' || type === 'ticket.recalled') && evt.ticket) {
      state.recent = dedupeRecent([evt].concat(state.recent));
      ch.recent = true;
      ch.call = evt;
    }
    ch.noShows = trackNoShows(state, evt);
    return ch;
  }

  // ---- clock, connection, fitting ----------------------------------------------------------

  /** Keep `dateEl` and `timeEl` showing the hall's local date and time. */
  function startClock(dateEl, timeEl) {
    var tz = hall.timezone || undefined;
    var dateFmt, timeFmt;
    try {
      dateFmt = new Intl.DateTimeFormat('zh-CN', { timeZone: tz, year: 'numeric', month: 'long',
        day: 'numeric', weekday: 'short' });
      timeFmt = new Intl.DateTimeFormat('zh-CN', { timeZone: tz, hour: '2-digit', minute: '2-digit',
        second: '2-digit', hour12: false });
    } catch (e) { // unknown time zone: the screen's own
      dateFmt = new Intl.DateTimeFormat('zh-CN', { year: 'numeric', month: 'long', day: 'numeric',
        weekday: 'short' });
      timeFmt = new Intl.DateTimeFormat('zh-CN', { hour: '2-digit', minute: '2-digit',
        second: '2-digit', hour12: false });
    }
    function tick() {
      var d = new Date();
      var ds = dateFmt.format(d);
      var ts = timeFmt.format(d);
      if (dateEl.textContent !== ds) dateEl.textContent = ds;
      if (timeEl.textContent !== ts) timeEl.textContent = ts;
      setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
    }
    tick();
  }

  var BANNER_AFTER_MS = 5000;

  /**
   * Show the socket's status on the small indicator, and the banner once the screen has
   * been offline (or the server without Redis) for 5 s. Returns the onStatus callback.
   */
  function connectionUi(indicator, banner) {
    var since = Date.now();
    var status = 'offline';
    function update() {
      indicator.setAttribute('data-status', status);
      setLabel(indicator, status === 'online' ? 'online' : (status === 'redis-down' ? 'redis_down' : 'offline'));
      var late = status !== 'online' && Date.now() - since >= BANNER_AFTER_MS;
      if (late) setLabel(banner, status === 'redis-down' ? 'redis_down' : 'reconnecting');
      if (banner.hidden === late) banner.hidden = !late;
      doc.documentElement.setAttribute('data-connection', status);
    }
    setInterval(update, 500);
    update();
    return function (s) {
      if (s !== status) since = Date.now();
      status = s;
      update();
    };
  }

  /**
   * Shrink the font of each [data-fit] element under root until its text fits its width
   * (these are single-line boxes; the height is set by the layout, not by the text).
   * Reads and writes are batched so that fitting costs a few layouts in all, not two per
   * element: on a busy screen this runs for every event.
   */
  function fitText(root) {
    var els = Array.prototype.slice.call((root || doc).querySelectorAll('[data-fit]'));
    els.forEach(function (el) { if (el.style.fontSize) el.style.fontSize = ''; });
    for (var pass = 0; pass < 3 && els.length; pass++) {
      var over = els.map(function (el) {
        return el.clientWidth ? el.scrollWidth / el.clientWidth : 0; // 0: hidden, fit later
      });
      var sizes = els.map(function (el, i) {
        return over[i] > 1.005 ? parseFloat(global.getComputedStyle(el).fontSize) : 0;
      });
      els = els.filter(function (el, i) {
        if (!sizes[i]) return false;
        el.style.fontSize = Math.max(1, Math.floor(sizes[i] / over[i] * 0.98)) + 'px';
        return true;
      });
    }
  }

  /**
   * Choose columns for n cells in a box of w×h so that cells are as large as possible with an
   * aspect ratio near `aspect` (width/height); sets --cols and --rows on the box.
   * Call with n = null after a resize.
   */
  function layoutGrid(box, n, aspect) {
    // Reading the box's size costs a layout: only lay out again when the count changed
    // (or after a resize, which calls this with n = null to forget the last count).
    if (n === null) { box.__gridN = null; return; }
    if (box.__gridN === n) return;
    box.__gridN = n;
    var w = box.clientWidth, h = box.clientHeight;
    var best = 1, bestScore = -1;
    for (var cols = 1; cols <= Math.max(1, n); cols++) {
      var rows = Math.ceil(Math.max(1, n) / cols);
      var cw = w / cols, chh = h / rows;
      var score = Math.min(cw / aspect, chh); // the height a cell of that aspect could get
      if (score > bestScore + 0.5) { bestScore = score; best = cols; }
    }
    box.style.setProperty('--cols', String(best));
    box.style.setProperty('--rows', String(Math.ceil(Math.max(1, n) / best)));
  }

  /** Run the flash animation on el (three times), restarting it if it is running. */
  function flash(el) {
    if (!el.classList.contains('flash')) {
      el.classList.add('flash');
      return;
    }
    // Already flashing (or flashed before): restart it without forcing a layout.
    el.getAnimations().forEach(function (a) {
      if (a.animationName === 'hallq-flash') { a.cancel(); a.play(); }
    });
  }

  /**
   * The socket URL of the hall's display stream. A screen passes its kind ('lobby' or
   * 'window', and its window) and its name for the server's screen registry: the name comes
   * from the page's own URL (?screen=entrance) and is remembered by the browser, so a screen
   * restarted without it keeps its name.
   */
  function displaySocketUrl(kind, windowId) {
    var url = '/ws/halls/' + encodeURIComponent(hall.id) + '/display';
    if (!kind) return url;
    url += '?kind=' + encodeURIComponent(kind);
    if (windowId) url += '&window=' + encodeURIComponent(windowId);
    var name = screenName(kind, windowId);
    return name ? url + '&screen=' + encodeURIComponent(name) : url;
  }

  function screenName(kind, windowId) {
    var key = 'hallq.screen.' + hall.id + '.' + kind + '.' + (windowId || '');
    var given = new global.URLSearchParams(global.location.search).get('screen');
    try {
      if (given) global.localStorage.setItem(key, given);
      else given = global.localStorage.getItem(key);
    } catch (e) { /* storage disabled: the URL's name only */ }
    return given || '';
  }

  /**
   * Server clock minus ours in ms, from the Date header of a GET of the hall config.
   * The header has 1 s resolution, so differences under 2 s count as none.
   */
  function serverClockOffset() {
    var t0 = Date.now();
    return global.fetch('/api/halls/' + encodeURIComponent(hall.id), { cache: 'no-store' })
      .then(function (r) {
        var t1 = Date.now();
        var date = Date.parse(r.headers.get('Date') || '');
        if (isNaN(date)) return 0;
        var offset = date + 500 - (t0 + t1) / 2; // +500: the header is truncated to the second
        return Math.abs(offset) < 2000 ? 0 : Math.round(offset);
      });
  }

  global.HallqScreen = {
    LABELS: LABELS, hall: hall, languages: languages, texts: texts, setLabel: setLabel,
    setNames: setNames, applyStaticLabels: applyStaticLabels, windowConfig: windowConfig,
    windowNames: windowNames, emptyState: emptyState, normalizeState: normalizeState,
    applyEvent: applyEvent, currentCall: currentCall, expectedWaitS: expectedWaitS,
    waitFormula: waitFormula, startClock: startClock, connectionUi: connectionUi, fitText: fitText,
    layoutGrid: layoutGrid, flash: flash, displaySocketUrl: displaySocketUrl,
    serverClockOffset: serverClockOffset,
  };
})(window);
