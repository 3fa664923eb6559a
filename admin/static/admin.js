/*
 * admin.js — the manager's page /admin/{hall}.
 *
 * - Login: POST /api/auth/login → token kept in sessionStorage (per tab, gone when the tab
 *   closes), sent as "Authorization: Bearer" to every call. Only role "admin" gets in.
 * - Live board: the display socket (HallSocket) gives a snapshot; after each hall event the
 *   page re-reads GET /state (debounced) instead of re-implementing the queue rules here,
 *   so the board can never drift from the server's idea of the hall.
 * - Reports: GET /stats for the chosen range, drawn with HallCharts (inline SVG).
 * - Bad ratings: GET /ratings?bad=1, plus a row added at once for each `ticket.rated`
 *   event with bad:true from the socket.
 * - Notice line: POST /notice. Hall file: GET /config.toml (read-only).
 */
(function () {
  'use strict';

  var HQ = window.HQ;
  HQ.init();
  var HALL = HQ.hall || window.HALL;
  var HALL_ID = HALL.id;
  /** Words from the catalogue (server/words), in the page's language. */
  function T(key, vars) { return HQ.t(key, vars); }
  var TZ = HALL.timezone || undefined;
  var TOKEN_KEY = 'hallq.admin.token.' + HALL_ID;
  var API = '/api/halls/' + encodeURIComponent(HALL_ID);

  // Window statuses (ws_*), rating levels (rating_*) and reasons (reason_*) share the
  // catalogue's words with the pad, the desk and the rating pad.
  function statusLabel(status) { return HQ.has('ws_' + status) ? T('ws_' + status) : status; }
  function scoreLabel(score) { return HQ.has('rating_' + score) ? T('rating_' + score) : ''; }
  function reasonLabel(code) { return HQ.has('reason_' + code) ? T('reason_' + code) : code; }

  var token = null;
  var socket = null;
  var state = null;
  var clerkNames = {};          // staff id → name, learnt from the live board
  var refreshTimer = null;
  var lastReports = null;       // {from, to}
  var noticeDirty = false;

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  // ------------------------------------------------------------------ names and formats

  function byId(list, id) {
    for (var i = 0; i < list.length; i++) if (String(list[i].id) === String(id)) return list[i];
    return null;
  }
  function serviceName(id) {
    var s = byId(HALL.services || [], id);
    return s ? HQ.name(s.name) : String(id);
  }
  function windowName(id) {
    var w = byId(HALL.windows || [], id);
    return w ? HQ.name(w.name) : HQ.windowName(id);
  }
  function clerkLabel(id) {
    if (id && typeof id === 'object') {
      if (!id.id) return id.name || '—';  // public events carry the name only
      if (id.name) clerkNames[id.id] = id.name;
      id = id.id;
    }
    if (id === null || id === undefined || id === '') return '—';
    return clerkNames[id] ? clerkNames[id] + ' (' + id + ')' : String(id);
  }

  /** YYYY-MM-DD of a moment in the hall's timezone (the hall's business day). */
  function hallDate(d) {
    var parts = {};
    new Intl.DateTimeFormat('en-CA', {timeZone: TZ, year: 'numeric', month: '2-digit',
      day: '2-digit'}).formatToParts(d).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + '-' + parts.month + '-' + parts.day;
  }
  function toDate(at) {
    if (typeof at === 'number') return new Date(at);
    if (typeof at === 'string' && /^\d+$/.test(at)) return new Date(Number(at));
    return new Date(at);
  }
  function fmtTime(at) {
    var d = toDate(at);
    if (isNaN(d.getTime())) return String(at);
    return new Intl.DateTimeFormat(HQ.lang === 'zh' ? 'zh-CN' : 'en-GB', {timeZone: TZ, month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', hour12: false}).format(d);
  }
  /** Seconds as m:ss or h:mm:ss; '—' for nothing measured. */
  function fmtDur(s) {
    if (s === null || s === undefined || isNaN(s)) return '—';
    s = Math.max(0, Math.round(s));
    var hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return hh ? hh + ':' + pad(mm) + ':' + pad(ss) : mm + ':' + pad(ss);
  }
  function fmtPct(r) {
    return r === null || r === undefined ? '—' : (Math.round(r * 1000) / 10) + '%';
  }

  // ------------------------------------------------------------------ HTTP

  /** A refused call; `message` is what a person reads (the catalogue's words for `code`). */
  function ApiError(status, code, message) {
    this.status = status; this.code = code;
    this.message = HQ.refusalText({code: code, message: message});
  }

  function api(method, path, body, asText) {
    var headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    var init = {method: method, headers: headers};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      if (res.ok) return asText ? res.text() : res.json();
      return res.json().catch(function () { return {}; }).then(function (data) {
        var err = (data && data.error) || {};
        var e = new ApiError(res.status, err.code || 'http_' + res.status,
          err.message || res.statusText);
        if (res.status === 401 && path.indexOf('/api/auth/login') < 0) {
          showLogin(T('m_session_expired'));
        }
        throw e;
      });
    });
  }

  function download(path, filename) {
    var headers = token ? {Authorization: 'Bearer ' + token} : {};
    return fetch(path, {headers: headers}).then(function (res) {
      if (!res.ok) throw new ApiError(res.status, 'http_' + res.status, res.statusText);
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = h('a', {href: url, download: filename});
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    });
  }

  // ------------------------------------------------------------------ login

  function showLogin(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (socket) { socket.stop(); socket = null; }
    $('app').hidden = true;
    $('logout').hidden = true;
    $('who').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('login-pin').value = '';
    $('login-pin').focus();
  }

  function login(ev) {
    ev.preventDefault();
    $('login-error').textContent = '';
    var staff = $('login-staff').value.trim();
    api('POST', '/api/auth/login', {hall: HALL_ID, staff: staff, pin: $('login-pin').value})
      .then(function (data) {
        if (!data.staff || data.staff.role !== 'admin') {
          // A clerk or desk account: do not keep its token on the manager's page.
          token = data.token;
          api('POST', '/api/auth/logout').catch(function () {});
          showLogin(T('m_not_manager'));
          return;
        }
        token = data.token;
        sessionStorage.setItem(TOKEN_KEY, token);
        enter(data.staff);
      })
      .catch(function (e) {
        var msg = e.status === 401 ? T('d_bad_login')
          : e.status === 429 ? T('err_too_many_attempts')
            : T('m_login_failed', {message: e.message});
        $('login-error').textContent = msg;
      });
  }

  function logout() {
    var t = token;
    if (t) api('POST', '/api/auth/logout').catch(function () {});
    showLogin('');
  }

  function enter(staff) {
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    $('who').textContent = staff ? staff.name + ' (' + staff.id + ')' : '';
    startSocket();
    refreshState();
    loadConfig();
    if ($('from').value && $('to').value) {
      loadReports();
      return;
    }
    // The server knows the hall's business day (it may start at e.g. 03:00, not at
    // midnight): a report without dates covers this month up to it.
    api('GET', API + '/stats?by=month').then(function (rep) {
      if (!$('to').value) $('to').value = rep.to;
      if (!$('from').value) $('from').value = rep.from;
      if (!$('history-day').value) $('history-day').value = rep.to;
    }).catch(function () {
      var today = hallDate(new Date());
      if (!$('to').value) $('to').value = today;
      if (!$('from').value) $('from').value = today.slice(0, 8) + '01';
    }).then(function () { return loadReports(); });
  }

  // ------------------------------------------------------------------ live board

  function startSocket() {
    if (socket || !window.HallSocket) return;
    socket = new window.HallSocket({
      url: '/ws/halls/' + encodeURIComponent(HALL_ID) + '/display',
      onSnapshot: function (s) { state = s; renderBoard(); },
      onEvent: onEvent,
      onStatus: function (status) {
        var el = $('conn');
        el.dataset.status = status;
        el.setAttribute('data-i18n', status === 'online' ? 'm_online'
          : status === 'redis-down' ? 'm_redis_down' : 'm_offline');
        el.textContent = T(el.getAttribute('data-i18n'));
        if (status === 'online') scheduleRefresh();
      }
    });
    socket.start();
  }

  function onEvent(evt) {
    if (evt.type === 'ticket.rated' && evt.bad) addBadRating(ratingFromEvent(evt), true);
    if (evt.type === 'hall.notice' && state) {
      state.notice = evt.text || '';
      renderNotice();
    }
    if (evt.window && evt.clerk && typeof evt.clerk === 'object') clerkLabel(evt.clerk);
    scheduleRefresh();
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshState, 200);
  }

  function refreshState() {
    if (!token) return;
    api('GET', API + '/state').then(function (s) { state = s; renderBoard(); })
      .catch(function () { /* the socket status already tells the manager */ });
  }

  function renderBoard() {
    if (!state) return;
    var now = Date.now();
    var waiting = state.waiting || {};
    var since = state.waiting_since || {};
    var total = 0, longest = null;

    var tbody = $('waiting-table').tBodies[0];
    tbody.textContent = '';
    (HALL.services || []).forEach(function (s) {
      var n = waiting[s.id] || 0;
      var oldest = since[s.id];
      var wait = n && oldest ? Math.max(0, (now - oldest) / 1000) : null;
      total += n;
      if (wait !== null && (longest === null || wait > longest)) longest = wait;
      tbody.appendChild(h('tr', {'data-service': s.id}, [
        h('td', {text: serviceName(s.id)}),
        h('td', {className: 'num', 'data-waiting': String(n), text: String(n)}),
        h('td', {className: 'num wait', 'data-since': oldest ? String(oldest) : '',
          text: wait === null ? '—' : fmtDur(wait)})
      ]));
    });
    $('kpi-waiting').textContent = String(total);
    $('kpi-longest').textContent = longest === null ? '—' : fmtDur(longest);
    $('kpi-served').textContent = state.served_today === undefined ? '–'
      : String(state.served_today);

    var wbody = $('windows-table').tBodies[0];
    wbody.textContent = '';
    var idle = [];
    (state.windows || []).forEach(function (w) {
      if (w.clerk) clerkLabel(w.clerk);
      if (w.status === 'idle') idle.push(w.id);
      var row = h('tr', {'data-window': w.id, 'data-status': w.status,
        className: 'st-' + w.status + (w.status === 'idle' && total ? ' attention' : '')}, [
        h('td', {text: windowName(w.id)}),
        h('td', {text: statusLabel(w.status)}),
        h('td', {className: 'ticket', text: w.ticket ? w.ticket.number : '—'}),
        h('td', {text: w.clerk ? clerkLabel(w.clerk) : '—'})
      ]);
      wbody.appendChild(row);
    });
    $('kpi-idle').textContent = idle.length ? idle.length + ' (' + idle.join(', ') + ')' : '0';
    renderNotice();
  }

  // The longest waits grow every second without any event.
  setInterval(function () {
    if (!state || $('app').hidden) return;
    var now = Date.now(), longest = null;
    Array.prototype.forEach.call(document.querySelectorAll('#waiting-table td.wait'),
      function (td) {
        var since = Number(td.dataset.since);
        var n = Number(td.previousSibling.dataset.waiting);
        if (!since || !n) return;
        var s = Math.max(0, (now - since) / 1000);
        td.textContent = fmtDur(s);
        if (longest === null || s > longest) longest = s;
      });
    $('kpi-longest').textContent = longest === null ? '—' : fmtDur(longest);
  }, 1000);

  // ------------------------------------------------------------------ notice

  function renderNotice() {
    var ta = $('notice-text');
    if (!state || noticeDirty || document.activeElement === ta) return;
    ta.value = state.notice || '';
  }

  function saveNotice(ev) {
    ev.preventDefault();
    var text = $('notice-text').value;
    $('notice-status').textContent = T('m_saving');
    api('POST', API + '/notice', {text: text}).then(function () {
      noticeDirty = false;
      if (state) state.notice = text;
      $('notice-status').textContent = T('m_saved');
    }).catch(function (e) {
      $('notice-status').textContent = T('m_not_saved', {message: e.message});
    });
  }

  // ------------------------------------------------------------------ reports

  function statsUrl(by, from, to, csv) {
    return API + '/stats?from=' + from + '&to=' + to + '&by=' + by + (csv ? '&format=csv' : '');
  }

  /** [{month: 'YYYY-MM', from, to}] for each month the range touches, clipped to it. */
  function monthsOf(from, to) {
    var out = [];
    var y = Number(from.slice(0, 4)), m = Number(from.slice(5, 7));
    for (;;) {
      var key = y + '-' + (m < 10 ? '0' : '') + m;
      if (key > to.slice(0, 7)) break;
      var last = new Date(Date.UTC(y, m, 0)).getUTCDate();
      var start = key + '-01', end = key + '-' + (last < 10 ? '0' : '') + last;
      out.push({month: key, from: start < from ? from : start, to: end > to ? to : end});
      m += 1;
      if (m > 12) { m = 1; y += 1; }
    }
    return out;
  }

  /** Windows in hall order, then any other keys the reports mention. */
  function orderedKeys(base, reports) {
    var keys = base.slice();
    reports.forEach(function (r) {
      r.groups.forEach(function (g) { if (keys.indexOf(g.key) < 0) keys.push(g.key); });
    });
    return keys;
  }
  function groupOf(report, key) {
    for (var i = 0; i < report.groups.length; i++) {
      if (report.groups[i].key === key) return report.groups[i];
    }
    return null;
  }

  function loadReports(ev) {
    if (ev) ev.preventDefault();
    var from = $('from').value, to = $('to').value;
    if (!from || !to) return Promise.resolve();
    if (from > to) {
      $('reports-status').textContent = T('m_from_after_to');
      return Promise.resolve();
    }
    $('reports-status').textContent = T('m_loading');
    document.body.dataset.reports = 'loading';
    var months = monthsOf(from, to);
    var get = function (by, f, t) { return api('GET', statsUrl(by, f || from, t || to)); };
    return Promise.all([
      Promise.all(months.map(function (mo) { return get('window', mo.from, mo.to); })),
      get('hour'), get('window'), get('clerk'), get($('table-by').value)
    ]).then(function (res) {
      lastReports = {from: from, to: to};
      drawVolume(months, res[0]);
      drawWaitByHour(res[1]);
      drawSatisfaction($('chart-sat-window'), res[2], (HALL.windows || []).map(function (w) {
        return w.id;
      }), windowName, T('m_chart_sat_window'));
      drawSatisfaction($('chart-sat-clerk'), res[3], [], clerkLabel, T('m_chart_sat_clerk'));
      drawTotals(res[4].total);
      drawRatings(res[4].total);
      drawTable(res[4]);
      $('reports-status').textContent = '';
      document.body.dataset.reports = 'ready';
      return loadBad();
    }).catch(function (e) {
      $('reports-status').textContent = T('m_failed', {message: e.message});
      document.body.dataset.reports = 'error';
    });
  }

  function drawVolume(months, reports) {
    var keys = orderedKeys((HALL.windows || []).map(function (w) { return w.id; }), reports);
    window.HallCharts.bars($('chart-volume'), {
      title: T('m_chart_volume'),
      groups: keys.map(function (k) { return {key: k, label: windowName(k)}; }),
      series: months.map(function (mo) {
        return {key: mo.month, label: T('m_month', {m: Number(mo.month.slice(5)), year: mo.month.slice(0, 4)})};
      }),
      compoundKeys: true,
      integer: true,
      value: function (w, month) {
        var i = months.findIndex(function (mo) { return mo.month === month; });
        var g = groupOf(reports[i], w);
        return g ? g.served : 0;
      }
    });
  }

  function drawWaitByHour(report) {
    var groups = report.groups.filter(function (g) { return g.wait.n > 0; });
    window.HallCharts.bars($('chart-wait-hour'), {
      title: T('m_chart_wait_hour'),
      groups: groups.map(function (g) { return {key: g.key, label: g.key + ':00'}; }),
      series: [{key: 'mean', label: T('m_mean')}, {key: 'p90', label: T('m_p90')}],
      value: function (hour, which) {
        var g = groupOf(report, hour);
        return g ? g.wait[which] : null;
      },
      format: fmtDur,
      minMax: 60
    });
  }

  function drawSatisfaction(container, report, base, label, title) {
    var keys = orderedKeys(base, [report]);
    window.HallCharts.bars(container, {
      title: title,
      groups: keys.map(function (k) { return {key: k, label: label(k)}; }),
      value: function (k) {
        var g = groupOf(report, k);
        return g ? g.ratings.satisfaction_rate : null;
      },
      format: fmtPct,
      max: 1
    });
  }

  function drawRatings(total) {
    window.HallCharts.bars($('chart-ratings'), {
      title: T('m_chart_ratings'),
      groups: ['5', '4', '3', '2', '1'].map(function (s) {
        return {key: s, label: scoreLabel(s)};
      }),
      integer: true,
      value: function (s) { return total.ratings[s]; }
    });
  }

  function drawTotals(t) {
    ['issued', 'served', 'no_show', 'cancelled'].forEach(function (k) {
      $('t-' + k).textContent = String(t[k]);
    });
    $('t-wait').textContent = fmtDur(t.wait.mean) + ' / ' + fmtDur(t.wait.p90);
    $('t-handle').textContent = fmtDur(t.handle.mean) + ' / ' + fmtDur(t.handle.p90);
    $('t-sat').textContent = fmtPct(t.ratings.satisfaction_rate) +
      ' (' + t.ratings.rated + ')';
  }

  // [column, catalogue key of its heading, value]
  var TABLE_COLUMNS = [
    ['issued', 'm_col_issued', function (g) { return g.issued; }],
    ['served', 'm_col_served', function (g) { return g.served; }],
    ['no_show', 'm_col_no_show', function (g) { return g.no_show; }],
    ['cancelled', 'm_col_cancelled', function (g) { return g.cancelled; }],
    ['expired', 'm_col_expired', function (g) { return g.expired; }],
    ['transferred', 'm_col_transferred', function (g) { return g.transferred; }],
    ['wait_mean', 'm_col_wait_mean', function (g) { return fmtDur(g.wait.mean); }],
    ['wait_median', 'm_col_wait_median', function (g) { return fmtDur(g.wait.median); }],
    ['wait_p90', 'm_col_wait_p90', function (g) { return fmtDur(g.wait.p90); }],
    ['handle_mean', 'm_col_handle_mean', function (g) { return fmtDur(g.handle.mean); }],
    ['handle_p90', 'm_col_handle_p90', function (g) { return fmtDur(g.handle.p90); }],
    ['rated', 'm_col_rated', function (g) { return g.ratings.rated; }],
    ['satisfaction', 'm_col_satisfaction', function (g) {
      return fmtPct(g.ratings.satisfaction_rate);
    }]
  ];

  function groupLabel(by, key) {
    if (by === 'service') return serviceName(key);
    if (by === 'window') return windowName(key);
    if (by === 'clerk') return clerkLabel(key);
    if (by === 'hour') return key + ':00';
    return key;
  }

  function drawTable(report) {
    var table = $('figures-table');
    table.dataset.by = report.by;
    table.tHead.textContent = '';
    table.tHead.appendChild(h('tr', {}, [h('th', {text: $('table-by').selectedOptions[0]
      .textContent})].concat(TABLE_COLUMNS.map(function (c) { return h('th', {text: T(c[1])}); }))));
    var body = table.tBodies[0];
    body.textContent = '';
    report.groups.concat([report.total]).forEach(function (g, i) {
      var isTotal = i === report.groups.length;
      body.appendChild(h('tr', {'data-key': g.key, className: isTotal ? 'total' : ''},
        [h('th', {text: isTotal ? T('m_total') : groupLabel(report.by, g.key)})].concat(
          TABLE_COLUMNS.map(function (c) {
            return h('td', {className: 'num', 'data-col': c[0], text: String(c[2](g))});
          }))));
    });
  }

  function loadTable() {
    if (!lastReports) return;
    api('GET', statsUrl($('table-by').value, lastReports.from, lastReports.to))
      .then(drawTable).catch(function (e) {
        $('reports-status').textContent = T('m_failed', {message: e.message});
      });
  }

  // ------------------------------------------------------------------ bad ratings

  /** A list from an array, a comma-separated string ("long_wait,attitude") or nothing. */
  function listOf(v) {
    if (Array.isArray(v)) return v;
    if (typeof v === 'string') return v.split(',').filter(function (x) { return x; });
    return [];
  }

  function ratingFromEvent(evt) {
    var t = evt.ticket;
    return {
      at: evt.at,
      ticket: t && typeof t === 'object' ? t.number : t,
      window: evt.window,
      clerk: evt.clerk || null,
      services: evt.services || evt.service || (t && typeof t === 'object' ? t.services : null),
      score: evt.score,
      reasons: evt.reasons || []
    };
  }

  function addBadRating(r, prepend) {
    var atMs = r.at ? toDate(r.at).getTime() : NaN;
    if (prepend && isDuplicate(r, atMs)) return;
    var services = listOf(r.services || r.service);
    var row = h('tr', {'data-ticket': r.ticket || '', 'data-score': String(r.score),
      'data-window': r.window || '', 'data-at': isNaN(atMs) ? '' : String(atMs)}, [
      h('td', {text: r.at ? fmtTime(r.at) : ''}),
      h('td', {className: 'ticket', text: r.ticket || ''}),
      h('td', {text: r.window ? windowName(r.window) : '—'}),
      h('td', {text: clerkLabel(r.clerk)}),
      h('td', {text: services.map(serviceName).join(HQ.t('list_sep')) || '—'}),
      h('td', {className: 'score s' + r.score, text: r.score + ' ' + scoreLabel(r.score)}),
      h('td', {text: listOf(r.reasons).map(reasonLabel).join(HQ.t('list_sep'))})
    ]);
    var body = $('bad-ratings').tBodies[0];
    if (prepend && body.firstChild) body.insertBefore(row, body.firstChild);
    else body.appendChild(row);
    if (prepend) {
      row.classList.add('fresh', 'live');
      setTimeout(function () { row.classList.remove('fresh'); }, 4000);
    }
    $('bad-count').textContent = String(body.rows.length);
    $('bad-empty').hidden = body.rows.length > 0;
  }

  /**
   * Whether a live rating is already listed. Ticket numbers restart every day, so the same
   * number at the same window is only "the same rating" when the times are close.
   */
  function isDuplicate(r, atMs) {
    var rows = $('bad-ratings').tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var d = rows[i].dataset;
      if (d.ticket === String(r.ticket) && d.window === String(r.window || '') &&
          (isNaN(atMs) || !d.at || Math.abs(Number(d.at) - atMs) < 10 * 60 * 1000)) {
        return true;
      }
    }
    return false;
  }

  function loadBad() {
    var from = $('from').value, to = $('to').value;
    return api('GET', API + '/ratings?bad=1&from=' + from + '&to=' + to).then(function (data) {
      var list = (data.ratings || []).slice().sort(function (a, b) {
        return toDate(b.at) - toDate(a.at);
      });
      var body = $('bad-ratings').tBodies[0];
      // Rows that arrived by socket while this request was on its way stay unless the
      // answer already has them.
      var live = Array.prototype.filter.call(body.rows, function (tr) {
        return tr.classList.contains('live');
      });
      body.textContent = '';
      list.forEach(function (r) { addBadRating(r, false); });
      live.reverse().forEach(function (tr) {
        if (!isDuplicate({ticket: tr.dataset.ticket, window: tr.dataset.window},
          Number(tr.dataset.at))) body.insertBefore(tr, body.firstChild);
      });
      $('bad-count').textContent = String(body.rows.length);
      $('bad-empty').hidden = body.rows.length > 0;
    }).catch(function () { /* reports status shows failures */ });
  }

  // ------------------------------------------------------------------ hall file

  function loadConfig() {
    api('GET', API + '/config.toml', undefined, true).then(function (text) {
      $('config-text').textContent = text;
    }).catch(function (e) {
      $('config-text').textContent = T('m_cannot_read', {message: e.message});
    });
  }

  // ------------------------------------------------------------------ wiring

  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('range-form').addEventListener('submit', loadReports);
  $('table-by').addEventListener('change', loadTable);
  $('notice-form').addEventListener('submit', saveNotice);
  $('notice-text').addEventListener('input', function () { noticeDirty = true; });
  Array.prototype.forEach.call(document.querySelectorAll('button.csv'), function (b) {
    b.addEventListener('click', function () {
      var from = $('from').value, to = $('to').value, by = b.dataset.by;
      download(statsUrl(by, from, to, true), 'hallq-' + HALL_ID + '-' + by + '-' + from +
        '_' + to + '.csv').catch(function (e) {
        $('reports-status').textContent = T('m_download_failed', {message: e.message});
      });
    });
  });
  $('history-csv').addEventListener('click', function () {
    var day = $('history-day').value;
    download(API + '/history.csv?day=' + day, 'hallq-' + HALL_ID + '-history-' + day + '.csv')
      .catch(function (e) {
        $('reports-status').textContent = T('m_download_failed', {message: e.message});
      });
  });

  // Another language: everything drawn from data is drawn again in it.
  HQ.onLang(function () {
    renderBoard();
    if (lastReports) loadReports();
    var conn = $('conn');
    if (conn.getAttribute('data-i18n')) conn.textContent = T(conn.getAttribute('data-i18n'));
  });

  // Resume a session of this tab, if its token is still good and still an admin's.
  token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    api('GET', '/api/auth/me').then(function (me) {
      if (me.staff && me.staff.role === 'admin') enter(me.staff);
      else showLogin('');
    }).catch(function () { showLogin(''); });
  } else {
    showLogin('');
  }
})();
