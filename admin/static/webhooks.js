/*
 * webhooks.js — the manager page's webhook section (beside admin.js, same login).
 *
 * GET /api/halls/{hall}/webhooks every WEBHOOKS_MS while logged in: each receiver of the hall
 * file (its URL without credentials or query), the events it gets, its last delivery (time and
 * HTTP status), its backlog and its last error. A failing receiver's row is marked for attention.
 * Words come from the catalogue (HQ.t); the table is redrawn when the language changes.
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var HQ = window.HQ;
  var API = '/api/halls/' + encodeURIComponent(HALL.id) + '/webhooks';
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var TZ = HALL.timezone || undefined;
  var WEBHOOKS_MS = 5000;
  var last = null;

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }

  function cell(text) {
    var td = document.createElement('td');
    td.textContent = text;
    return td;
  }
  function clock(ms) {
    return new Intl.DateTimeFormat('zh-CN', {timeZone: TZ, month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false}).format(new Date(ms));
  }

  function result(w) {
    if (!w.last_at) return HQ.t('m_wh_never');
    if (!w.failures) return HQ.t('m_wh_ok', {status: w.last_status});
    if (w.next_at) {
      var seconds = Math.max(0, Math.round((w.next_at - Date.now()) / 1000));
      return HQ.t('m_wh_failing', {failures: w.failures, seconds: seconds});
    }
    return HQ.t('m_wh_failed', {failures: w.failures});
  }

  function render(list) {
    last = list;
    var body = $('webhooks-table').tBodies[0];
    body.textContent = '';
    list.forEach(function (w) {
      var tr = document.createElement('tr');
      tr.dataset.receiver = w.id;
      tr.dataset.backlog = String(w.backlog);
      tr.className = w.failures ? 'attention' : '';
      var events = w.events.indexOf('*') >= 0 ? HQ.t('m_wh_all_events') : w.events.join(', ');
      [w.url, events, w.last_at ? clock(w.last_at) : '—', result(w), String(w.backlog),
        w.last_error || '—'].forEach(function (t) { tr.appendChild(cell(t)); });
      body.appendChild(tr);
    });
    $('webhooks-empty').hidden = list.length > 0;
  }

  function load() {
    if (!loggedIn()) return;
    fetch(API, {headers: {Authorization: 'Bearer ' + token()}, cache: 'no-store'}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (data) render(data.webhooks);
    }).catch(function () { /* offline: the connection indicator says so */ });
  }

  setInterval(load, WEBHOOKS_MS);
  new MutationObserver(function () { if (loggedIn()) load(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  HQ.onLang(function () { if (last) render(last); });
  load();
})();
