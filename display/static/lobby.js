/*
 * lobby.js — the lobby wall screen (/display/{hall}).
 *
 * Shows the newest call still being called (largest text, flashing three times: a call whose
 * ticket was transferred away, marked no-show or finished, or whose window paused or closed,
 * gives way to the newest one still current), the current ticket of every open window, the
 * last 8 calls, per service the waiting count and the expected wait, the 过号 list (tickets
 * marked no-show that wait to be called again, newest first), the notice line, the hall's
 * name, date and clock. Speaks calls through Announcer unless the URL has ?sound=0 (a second
 * screen in the same hall). Kept current by HallSocket: it never needs a reload.
 */
(function (global) {
  'use strict';

  var S = global.HallqScreen;
  var hall = S.hall;
  var doc = global.document;
  var $ = function (id) { return doc.getElementById(id); };
  var RECENT_SHOWN = 8;

  var params = new global.URLSearchParams(global.location.search);
  var soundOn = params.get('sound') !== '0';

  var state = S.emptyState();
  var ready = false; // false until the first snapshot: nothing to show or say before it
  var newestKey = null; // seq of the call shown as newest, to flash only on a change
  var cells = {}; // window id -> cell element

  S.applyStaticLabels();
  S.setNames($('hall-name'), hall.name);
  S.startClock($('date'), $('time'));

  var announcer = null;
  if (soundOn && global.Announcer) {
    announcer = new global.Announcer({
      languages: S.languages,
      repeat: (hall.announce && hall.announce.repeat) || 2,
      chimeSrc: '/audio/chime.wav',
      unlockButton: $('sound-unlock'),
    });
  }
  global.hallqAnnouncer = announcer;

  // ---- rendering ----------------------------------------------------------------------------

  var NO_SHOWS_SHOWN = 6;

  function renderNow(flashIt) {
    var call = S.currentCall(state);
    var box = $('now');
    if (!call) {
      $('now-number').textContent = '';
      S.setLabel($('now-window'), state.recent.length ? 'none_calling' : 'no_calls');
      S.setNames($('now-text'), {});
      box.removeAttribute('data-number');
      box.removeAttribute('data-window');
      newestKey = null;
      return;
    }
    $('now-number').textContent = call.ticket.number;
    box.setAttribute('data-number', call.ticket.number);
    box.setAttribute('data-window', call.window);
    S.setNames($('now-window'), S.windowNames(call.window));
    var said = {}; // the call as announced, in every hall language
    S.languages.forEach(function (lang) {
      var a = call.announce && call.announce[lang];
      if (a && a.text) said[lang] = a.text;
    });
    S.setNames($('now-text'), said);
    var key = call.seq + ':' + call.ticket.number;
    if (flashIt && key !== newestKey) S.flash(box);
    newestKey = key;
  }

  function openWindows() {
    // Hall order first (1, 2, 3 …), then windows the config does not list.
    var order = {};
    (hall.windows || []).forEach(function (w, i) { order[String(w.id)] = i; });
    return state.windows.filter(function (w) { return w.status !== 'closed'; })
      .sort(function (a, b) {
        var ia = a.id in order ? order[a.id] : 1e6, ib = b.id in order ? order[b.id] : 1e6;
        return ia - ib || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      });
  }

  function makeCell(id) {
    var cell = doc.createElement('div');
    cell.className = 'win';
    cell.setAttribute('data-window', id);
    cell.innerHTML = '<div class="win-name" data-fit></div>' +
      '<div class="win-ticket" data-fit></div><div class="win-status" data-fit></div>';
    return cell;
  }

  function renderWindows() {
    var grid = $('windows');
    var list = openWindows();
    var newest = S.currentCall(state);
    var keep = {};
    var created = false;
    list.forEach(function (w, i) {
      var cell = cells[w.id];
      if (!cell) {
        cell = cells[w.id] = makeCell(w.id);
        created = true;
      }
      keep[w.id] = true;
      if (grid.children[i] !== cell) grid.insertBefore(cell, grid.children[i] || null);
      cell.setAttribute('data-status', w.status);
      S.setNames(cell.querySelector('.win-name'), S.windowNames(w.id));
      var number = w.ticket && w.status !== 'idle' ? w.ticket.number : '';
      var tEl = cell.querySelector('.win-ticket');
      if (tEl.textContent !== number) tEl.textContent = number;
      cell.setAttribute('data-number', number);
      // The number stands above; the status line says what it means (正在呼叫 / 办理中 …).
      S.setLabel(cell.querySelector('.win-status'), w.status === 'calling' ? 'now' : w.status);
      var isNewest = !!(newest && String(newest.window) === w.id && number === newest.ticket.number);
      cell.classList.toggle('newest', isNewest);
    });
    Object.keys(cells).forEach(function (id) {
      if (!keep[id]) {
        if (cells[id].parentNode) cells[id].parentNode.removeChild(cells[id]);
        delete cells[id];
      }
    });
    var empty = $('windows-empty');
    empty.hidden = list.length > 0;
    S.layoutGrid(grid, list.length, 2.2);
    return created;
  }

  function renderRecent() {
    var ol = $('recent');
    var items = state.recent.slice(0, RECENT_SHOWN);
    while (ol.children.length > items.length) ol.removeChild(ol.lastChild);
    items.forEach(function (evt, i) {
      var li = ol.children[i];
      if (!li) {
        li = doc.createElement('li');
        li.innerHTML = '<span class="r-number"></span><span class="r-arrow" aria-hidden="true">→</span>' +
          '<span class="r-window" data-fit></span>';
        ol.appendChild(li);
      }
      li.querySelector('.r-number').textContent = evt.ticket.number;
      S.setNames(li.querySelector('.r-window'), S.windowNames(evt.window));
      li.setAttribute('data-number', evt.ticket.number);
      li.setAttribute('data-window', evt.window);
    });
  }

  function renderWaiting() {
    var ul = $('waiting');
    var services = hall.services || [];
    while (ul.children.length > services.length) ul.removeChild(ul.lastChild);
    services.forEach(function (svc, i) {
      var li = ul.children[i];
      if (!li) {
        li = doc.createElement('li');
        li.innerHTML = '<span class="w-prefix"></span><span class="w-name" data-fit></span>' +
          '<span class="w-count"></span><span class="w-wait" data-fit></span>';
        ul.appendChild(li);
      }
      li.setAttribute('data-service', svc.id);
      li.querySelector('.w-prefix').textContent = svc.prefix;
      S.setNames(li.querySelector('.w-name'), svc.name);
      var n = state.waiting[svc.id] || 0;
      li.querySelector('.w-count').textContent = String(n);
      var wait = S.expectedWaitS(state, svc.id);
      var waitEl = li.querySelector('.w-wait');
      if (wait === null) {
        S.setNames(waitEl, {});
        li.removeAttribute('data-wait-min');
      } else {
        var minutes = Math.ceil(wait / 60);
        S.setLabel(waitEl, 'wait_min', { minutes: minutes });
        li.setAttribute('data-wait-min', String(minutes));
      }
    });
    S.layoutGrid(ul, services.length, 1.1);
  }

  function renderNoShows() {
    var ol = $('no-shows');
    var items = state.no_shows.slice(0, NO_SHOWS_SHOWN);
    while (ol.children.length > items.length) ol.removeChild(ol.lastChild);
    items.forEach(function (t, i) {
      var li = ol.children[i];
      if (!li) {
        li = doc.createElement('li');
        ol.appendChild(li);
      }
      if (li.textContent !== t.number) li.textContent = t.number;
      li.setAttribute('data-number', t.number);
    });
    $('no-shows-empty').hidden = items.length > 0;
  }

  function renderNotice() {
    var box = $('notice');
    var text = $('notice-text');
    if (text.textContent !== (state.notice || '')) text.textContent = state.notice || '';
    box.hidden = !state.notice;
    // A notice longer than the line scrolls instead of being cut.
    text.classList.remove('scroll');
    if (state.notice && text.scrollWidth > box.clientWidth) {
      text.style.setProperty('--scroll-by', (box.clientWidth - text.scrollWidth) + 'px');
      text.style.setProperty('--scroll-s', Math.max(8, text.scrollWidth / 120) + 's');
      text.classList.add('scroll');
    }
  }

  function renderAll() {
    renderNow(false);
    renderWindows();
    renderRecent();
    renderWaiting();
    renderNoShows();
    renderNotice();
    S.fitText();
  }

  // ---- socket -------------------------------------------------------------------------------

  var showStatus = S.connectionUi($('conn'), $('banner'));
  function onStatus(status) {
    showStatus(status);
    // Event times are the server's: learn its clock on each (re)connection, for the
    // announcer's deadlines.
    if (status === 'online' && announcer) {
      S.serverClockOffset().then(function (ms) { announcer.clockOffsetMs = ms; }, function () {});
    }
  }

  var socket = new global.HallSocket({
    url: S.displaySocketUrl('lobby'),
    onSnapshot: function (snap) {
      var before = ready ? state.seq : null;
      state = S.normalizeState(snap);
      ready = true;
      renderAll();
      doc.documentElement.setAttribute('data-seq', String(state.seq));
      if (announcer && before !== null) {
        // A snapshot after a reconnect (the missed events were no longer kept): speak the
        // calls we missed, oldest first (the announcer keeps each window's latest). On the
        // first connection nothing is said: the screen speaks what happens from now on.
        (snap.recent || []).filter(function (e) { return e.seq > before; })
          .sort(function (a, b) { return a.seq - b.seq; })
          .forEach(function (e) { announcer.handle(e); });
      }
    },
    onEvent: function (evt) {
      if (!ready) return;
      var ch = S.applyEvent(state, evt);
      if (ch.reset) { socket.resync(); return; }
      // Redraw and re-fit only what the event changed: a call must reach the glass fast.
      // Any window change may end the current call (transfer, no-show, pause, close …).
      var before = $('now').getAttribute('data-number') + '@' + $('now').getAttribute('data-window');
      if (ch.call || ch.windows) renderNow(!!ch.call);
      var nowChanged = before !== $('now').getAttribute('data-number') + '@' + $('now').getAttribute('data-window');
      // A cell's texts come from a fixed set (its name, a number, a status); only a new cell
      // (a window just opened) or a new grid needs fitting.
      if (ch.windows && renderWindows()) S.fitText($('windows'));
      if (ch.recent) renderRecent();
      // The expected wait follows the counts and the windows open.
      if (ch.waiting || ch.windows) renderWaiting();
      if (ch.noShows) renderNoShows();
      if (ch.notice) renderNotice();
      if (ch.call || nowChanged) S.fitText($('now'));
      if (ch.call && cells[String(ch.call.window)]) S.flash(cells[String(ch.call.window)]);
      doc.documentElement.setAttribute('data-seq', String(state.seq));
      // Not needed for the first frame of the call: fit the recent list and queue the
      // announcement (which creates and preloads its audio) right after this task.
      // Every event goes to the announcer (it follows the seq; calls are queued).
      setTimeout(function () {
        if (ch.recent) S.fitText($('recent'));
        if (ch.waiting || ch.windows) S.fitText($('waiting'));
        if (announcer) announcer.handle(evt);
      }, 0);
    },
    onStatus: onStatus,
  });
  global.hallqSocket = socket;
  global.hallqState = function () { return state; };

  var resizeTimer = null;
  global.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      S.layoutGrid($('windows'), null);
      S.layoutGrid($('waiting'), null);
      renderAll();
    }, 100);
  });

  renderAll();
  socket.start();
})(window);
