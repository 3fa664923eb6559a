/*
 * window.js — the screen above one counter (/display/{hall}/windows/{window}).
 *
 * Shows the window's number and name, the services it serves, the ticket called or being
 * served, the clerk's name and staff number, and the status: 空闲 Idle / 请A012号 Please
 * come, A012 / 办理中 Serving / 暂停服务 Paused / 未开放 Closed. A call flashes three times.
 * Uses the hall's display socket and keeps only this window's part.
 */
(function (global) {
  'use strict';

  var S = global.HallqScreen;
  var hall = S.hall;
  var doc = global.document;
  var $ = function (id) { return doc.getElementById(id); };
  var windowId = String(global.WINDOW_ID);
  var config = S.windowConfig(windowId);

  var state = S.emptyState();
  var ready = false;

  S.applyStaticLabels();
  S.setNames($('hall-name'), hall.name);
  S.setNames($('ws-window-name'), S.windowNames(windowId));
  S.startClock($('date'), $('time'));
  if (config) {
    var names = (config.services || []).map(function (id) {
      var svc = (hall.services || []).filter(function (s) { return s.id === id; })[0];
      return svc ? svc.prefix + ' ' + (svc.name[S.languages[0]] || svc.name.en || id) : id;
    });
    $('ws-services').textContent = names.join(' · ');
  }

  function mine() {
    for (var i = 0; i < state.windows.length; i++) {
      if (state.windows[i].id === windowId) return state.windows[i];
    }
    return { id: windowId, status: 'closed', ticket: null, clerk: null };
  }

  function render() {
    var w = mine();
    var number = w.ticket && (w.status === 'calling' || w.status === 'serving' ||
      w.status === 'paused') ? w.ticket.number : '';
    doc.body.setAttribute('data-status', w.status);
    var tEl = $('ws-ticket');
    if (tEl.textContent !== number) tEl.textContent = number;
    $('ws-ticket-panel').setAttribute('data-number', number);
    S.setLabel($('ws-status'), w.status, { number: number });
    var clerk = w.clerk;
    $('ws-clerk').hidden = !clerk || w.status === 'closed';
    if (clerk) {
      $('ws-clerk-name').textContent = clerk.name || '';
      $('ws-clerk-id').textContent = clerk.id || '';
      // public sockets carry the clerk's name only: no empty "staff no." label
      $('ws-clerk-id').hidden = $('ws-clerk-id').previousElementSibling.hidden = !clerk.id;
    }
    var notice = state.notice || '';
    if ($('notice-text').textContent !== notice) $('notice-text').textContent = notice;
    $('notice').hidden = !notice;
    S.fitText();
  }

  var onStatus = S.connectionUi($('conn'), $('banner'));

  var socket = new global.HallSocket({
    url: S.displaySocketUrl('window', windowId),
    onSnapshot: function (snap) {
      state = S.normalizeState(snap);
      ready = true;
      render();
      doc.documentElement.setAttribute('data-seq', String(state.seq));
    },
    onEvent: function (evt) {
      if (!ready) return;
      var ch = S.applyEvent(state, evt);
      if (ch.reset) { socket.resync(); return; }
      if (ch.windows || ch.notice) render();
      if (ch.call && String(ch.call.window) === windowId) S.flash($('ws-ticket-panel'));
      doc.documentElement.setAttribute('data-seq', String(state.seq));
    },
    onStatus: onStatus,
  });
  global.hallqSocket = socket;
  global.hallqState = function () { return state; };
  global.addEventListener('resize', function () { S.fitText(); });

  render();
  socket.start();
})(window);
