/*
 * cases.js — the manager page's 差评处理 / bad-rating cases section (beside admin.js, same login).
 *
 * - GET /api/halls/{hall}/cases?status=pending every CASES_MS while logged in (and after each
 *   step): the cases not closed yet, by deadline; an overdue one (deadline passed before it was
 *   rectified) is drawn in red.
 * - Click a row to pick it; the form POSTs /cases/{id} {action, owner?, note?, answer?, channel?}.
 *   A refusal shows the catalogue's words for its code (err_*).
 * - GET /cases/summary?from=&to= (the report range when set): "rectified in time" and "named bad
 *   ratings called back".
 * Words come from the catalogue (HQ.t, m_case_*, m_cs_*, m_ca_*, m_ch_*). The token is the one
 * admin.js keeps in sessionStorage for this tab.
 */
(function () {
  'use strict';

  var HQ = window.HQ;
  var HALL = HQ.hall || window.HALL;
  var API = '/api/halls/' + encodeURIComponent(HALL.id) + '/cases';
  var TOKEN_KEY = 'hallq.admin.token.' + HALL.id;
  var TZ = HALL.timezone || undefined;
  var CASES_MS = 5000;
  var picked = null;      // the case id the form acts on
  var lastList = [];

  function $(id) { return document.getElementById(id); }
  function T(key, vars) { return HQ.t(key, vars); }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function loggedIn() { return !!token() && !$('app').hidden; }

  function call(method, path, body) {
    var headers = {Authorization: 'Bearer ' + token()};
    var init = {method: method, headers: headers, cache: 'no-store'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (res.ok) return data;
        var err = (data && data.error) || {};
        throw new Error(HQ.refusalText({code: err.code || 'http_error', message: err.message || res.statusText}));
      });
    });
  }

  function fmtDay(ms) {
    return new Intl.DateTimeFormat(HQ.lang === 'zh' ? 'zh-CN' : 'en-GB', {timeZone: TZ, year: 'numeric',
      month: '2-digit', day: '2-digit'}).format(new Date(ms - 1));  // the deadline is the day's end
  }
  function pct(rate) { return rate === null || rate === undefined ? '–' : Math.round(rate * 1000) / 10 + ' %'; }
  function label(prefix, code) { return HQ.has(prefix + code) ? T(prefix + code) : code; }

  function cell(text) {
    var td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  function render(list) {
    lastList = list;
    var body = $('cases-table').tBodies[0];
    body.textContent = '';
    list.forEach(function (c) {
      var tr = document.createElement('tr');
      tr.dataset.case = String(c.id);
      tr.dataset.status = c.status;
      tr.dataset.overdue = c.overdue ? '1' : '0';
      tr.className = (c.overdue ? 'overdue' : '') + (String(c.id) === picked ? ' picked' : '');
      var reasons = (c.reasons || []).map(function (r) { return label('reason_', r); }).join('、');
      [String(c.id), c.ticket, HQ.windowName(c.window), (c.services || []).map(function (s) {
        return HQ.serviceName(s);
      }).join('、'), c.score + ' ' + label('rating_', c.score), reasons,
      fmtDay(c.deadline) + (c.overdue ? ' · ' + T('m_case_overdue') : ''), c.owner || '–',
      label('m_cs_', c.status), c.named ? T('m_case_yes') + (c.called_back ? ' · ' + T('m_case_called_back') : '')
        : T('m_case_no')].forEach(function (t) { tr.appendChild(cell(t)); });
      tr.addEventListener('click', function () { pick(c); });
      body.appendChild(tr);
    });
    $('cases-count').textContent = String(list.length);
    $('cases-empty').hidden = list.length > 0;
    if (picked && !list.some(function (c) { return String(c.id) === picked; })) pick(null);
  }

  /** The next step of a case's loop, preselected in the form. */
  var NEXT = {open: 'verify', verified: 'rectify', rectified: 'answer', answered: 'close'};

  function pick(c) {
    picked = c ? String(c.id) : null;
    var head = $('case-picked');
    if (c) {
      head.removeAttribute('data-i18n');
      head.textContent = T('m_case_id') + ' ' + c.id + ' · ' + c.ticket + ' · ' + label('m_cs_', c.status);
      $('case-action').value = c.named && !c.called_back && c.status === 'answered' ? 'call_back'
        : NEXT[c.status] || 'assign';
      $('case-owner').value = c.owner || '';
    } else {
      head.setAttribute('data-i18n', 'm_case_pick');
      head.textContent = T('m_case_pick');
    }
    $('case-submit').disabled = !c;
    Array.prototype.forEach.call($('cases-table').tBodies[0].rows, function (tr) {
      tr.classList.toggle('picked', tr.dataset.case === picked);
    });
  }

  function load() {
    if (!loggedIn()) return;
    call('GET', API + '?status=pending').then(function (data) { render(data.cases || []); })
      .catch(function () { /* offline: the connection indicator says so */ });
    var from = $('from').value, to = $('to').value;
    var query = from && to ? '?from=' + from + '&to=' + to : '';
    call('GET', API + '/summary' + query).then(function (s) {
      $('cases-in-time').textContent = pct(s.in_time_rate);
      $('cases-called-back').textContent = pct(s.called_back_rate);
    }).catch(function () {});
  }

  function submit(ev) {
    ev.preventDefault();
    if (!picked) return;
    var action = $('case-action').value;
    var body = {action: action};
    if (action === 'assign') body.owner = $('case-owner').value.trim();
    if (action === 'verify' || action === 'rectify' || action === 'call_back') {
      var note = $('case-note').value.trim();
      if (note || action !== 'call_back') body.note = note;
    }
    if (action === 'answer') {
      body.answer = $('case-answer').value.trim();
      body.channel = $('case-channel').value;
    }
    var status = $('case-status');
    status.textContent = '';
    $('case-submit').disabled = true;
    call('POST', API + '/' + picked, body).then(function (data) {
      status.textContent = T('m_case_done');
      $('case-note').value = '';
      if (action === 'answer') $('case-answer').value = '';
      pick(data.case.status === 'closed' ? null : data.case);
      load();
    }).catch(function (e) {
      status.textContent = e.message;
      $('case-submit').disabled = false;
    });
  }

  $('case-form').addEventListener('submit', submit);
  $('range-form').addEventListener('submit', function () { setTimeout(load, 0); });
  HQ.onLang(function () { render(lastList); });
  setInterval(load, CASES_MS);
  // admin.js shows the app once logged in: load as soon as it does
  new MutationObserver(function () { if (loggedIn()) load(); })
    .observe($('app'), {attributes: true, attributeFilter: ['hidden']});
  load();
})();
