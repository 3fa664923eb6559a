/*
 * operations.js — the manager page's operations sections (beside admin.js, same login).
 *
 * - Screens: GET /api/halls/{hall}/screens every SCREENS_MS while logged in: every lobby and
 *   window screen with its address, when it connected and when it was last seen; a warning
 *   when a lobby screen has not been seen for GONE_AFTER_S (a wall screen went dark).
 * - Audit log: GET /api/halls/{hall}/audit?format=csv, downloaded as a file.
 * - Reload hall file: POST /api/halls/{hall}/reload; a broken file keeps the old one and
 *   the page lists its problems.
 * The token is the one admin.js keeps in sessionStorage for this tab.
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var API = '/api/halls/' + encodeURIComponent(HALL.id);
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var TZ = HALL.timezone || undefined;
  var SCREENS_MS = 10000;
  var GONE_AFTER_S = 60;

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }
  function headers() { return token() ? {Authorization: 'Bearer ' + token()} : {}; }

  function cell(text) {
    var td = document.createElement('td');
    td.textContent = text;
    return td;
  }
  function fmtClock(ms) {
    return new Intl.DateTimeFormat(HQ.lang === 'zh' ? 'zh-CN' : HQ.lang, {timeZone: TZ, month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false}).format(new Date(ms));
  }
  function ago(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return HQ.t('m_ago_s', {n: s});
    if (s < 3600) return HQ.t('m_ago_min', {n: Math.floor(s / 60)});
    return HQ.t('m_ago_h', {n: Math.floor(s / 3600)});
  }

  // ------------------------------------------------------------------ screens

  function renderScreens(list) {
    var body = $('screens-table').tBodies[0];
    body.textContent = '';
    var gone = [];
    list.forEach(function (s) {
      var silentS = (Date.now() - s.last_seen) / 1000;
      var isGone = !s.connected || silentS > GONE_AFTER_S;
      if (s.kind === 'lobby' && silentS > GONE_AFTER_S) gone.push(s.name || s.address);
      var tr = document.createElement('tr');
      tr.dataset.screen = s.name || '';
      tr.dataset.kind = s.kind;
      tr.dataset.connected = s.connected ? '1' : '0';
      tr.className = isGone ? 'attention' : '';
      [s.name || '—', HQ.t(s.kind === 'lobby' ? 'm_kind_lobby' : 'm_kind_window'), s.window || '—', s.address,
        fmtClock(s.connected_at), ago(s.last_seen),
        HQ.t(isGone ? 'm_screen_gone' : 'm_screen_connected')].forEach(function (t) { tr.appendChild(cell(t)); });
      body.appendChild(tr);
    });
    $('screens-empty').hidden = list.length > 0;
    var warn = $('screens-warning');
    warn.hidden = gone.length === 0;
    warn.textContent = gone.length ? HQ.t('m_lobby_gone', {names: gone.join(', ')}) : '';
  }

  function loadScreens() {
    if (!loggedIn()) return;
    fetch(API + '/screens', {headers: headers(), cache: 'no-store'}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (list) {
      if (list) renderScreens(list);
    }).catch(function () { /* offline: the connection indicator says so */ });
  }

  // ------------------------------------------------------------------ audit and reload

  function downloadAudit() {
    $('audit-status').textContent = '';
    fetch(API + '/audit?format=csv', {headers: headers()}).then(function (r) {
      if (!r.ok) throw new Error(r.status + ' ' + r.statusText);
      return r.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = document.createElement('a');
      a.href = url;
      a.download = 'hallq-' + HALL.id + '-audit.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }).catch(function (e) {
      $('audit-status').textContent = HQ.t('m_download_failed', {message: e.message});
    });
  }

  function reloadConfig() {
    var status = $('reload-status');
    var problems = $('reload-problems');
    status.textContent = HQ.t('m_reloading');
    problems.hidden = true;
    fetch(API + '/reload', {method: 'POST', headers: headers()}).then(function (r) {
      return r.json().then(function (data) { return {ok: r.ok, data: data}; });
    }).then(function (res) {
      if (res.ok) {
        status.textContent = HQ.t(res.data.changed ? 'm_reload_new' : 'm_reload_same');
        if (res.data.warnings && res.data.warnings.length) {
          problems.textContent = res.data.warnings.join('\n');
          problems.hidden = false;
        }
        return;
      }
      var err = res.data.error || {};
      status.textContent = HQ.t('m_reload_refused', {message: HQ.has('err_' + err.code) ? HQ.t('err_' + err.code) : (err.message || '')});
      problems.textContent = (err.problems || []).join('\n');
      problems.hidden = !(err.problems && err.problems.length);
    }).catch(function (e) {
      status.textContent = HQ.t('m_failed', {message: e.message});
    });
  }

  $('audit-csv').addEventListener('click', downloadAudit);
  $('reload-config').addEventListener('click', reloadConfig);
  setInterval(loadScreens, SCREENS_MS);
  // admin.js shows #app after login: load at once then, not ten seconds later.
  new MutationObserver(function () { if (loggedIn()) loadScreens(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  loadScreens();
  window.hallqLoadScreens = loadScreens;
})();
