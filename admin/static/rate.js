/*
 * rate.js — the rating pad (评价器) /rate/{hall}/{window}, a tablet facing the visitor.
 *
 * idle ──ticket.completed at this window──► levels ──score 3–5──► POST ──► thanks ──► idle
 *                                              │ score 1–2                 ▲
 *                                              └──► reasons ──submit───────┘
 * Any screen but idle goes back to idle after hall.rating_timeout_s without a rating (the
 * server refuses ratings later than that anyway), and the thank-you after a few seconds.
 *
 * It listens to the public display socket (HallSocket) and needs no login: the server only
 * accepts a rating for the ticket most recently completed at this window, once.
 */
(function () {
  'use strict';

  var HALL = window.HALL;
  var WINDOW_ID = String(window.WINDOW_ID);
  var TIMEOUT_MS = Math.max(5, Number(HALL.rating_timeout_s) || 60) * 1000;
  var THANKS_MS = 4000;

  var LEVELS = [
    {score: 5, zh: '非常满意', en: 'Very satisfied', color: '#1b7f3b', mouth: 16},
    {score: 4, zh: '满意', en: 'Satisfied', color: '#4a9a2a', mouth: 9},
    {score: 3, zh: '基本满意', en: 'Fair', color: '#9a7400', mouth: 0},
    {score: 2, zh: '不满意', en: 'Dissatisfied', color: '#c2410c', mouth: -9},
    {score: 1, zh: '非常不满意', en: 'Very dissatisfied', color: '#b00020', mouth: -16}
  ];
  // Codes are what the server stores; admin.js shows the same labels.
  var REASONS = [
    {code: 'long_wait', zh: '等候时间长', en: 'Long wait'},
    {code: 'attitude', zh: '态度不好', en: 'Attitude'},
    {code: 'not_competent', zh: '业务不熟', en: 'Not competent'},
    {code: 'complicated', zh: '流程繁琐', en: 'Complicated'},
    {code: 'other', zh: '其他', en: 'Other'}
  ];

  var current = null;   // {ticket, score, reasons: [], sending}
  var timer = null;
  var clerk = null;

  function $(id) { return document.getElementById(id); }

  function svgFace(level) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 100 100');
    svg.setAttribute('class', 'face');
    svg.setAttribute('aria-hidden', 'true');
    var y = 68 - level.mouth / 2;
    var parts = [
      ['circle', {cx: 50, cy: 50, r: 46, fill: level.color}],
      ['circle', {cx: 35, cy: 40, r: 6, fill: '#fff'}],
      ['circle', {cx: 65, cy: 40, r: 6, fill: '#fff'}],
      ['path', {d: 'M 28 ' + y + ' Q 50 ' + (y + level.mouth * 1.6) + ' 72 ' + y,
        stroke: '#fff', 'stroke-width': 7, fill: 'none', 'stroke-linecap': 'round'}]
    ];
    parts.forEach(function (p) {
      var node = document.createElementNS(ns, p[0]);
      Object.keys(p[1]).forEach(function (k) { node.setAttribute(k, String(p[1][k])); });
      svg.appendChild(node);
    });
    return svg;
  }

  function label(zh, en) {
    var span = document.createElement('span');
    span.className = 'label';
    var z = document.createElement('span');
    z.className = 'zh';
    z.lang = 'zh';
    z.textContent = zh;
    var e = document.createElement('span');
    e.className = 'en';
    e.lang = 'en';
    e.textContent = en;
    span.appendChild(z);
    span.appendChild(e);
    return span;
  }

  function buildButtons() {
    var box = $('level-buttons');
    LEVELS.forEach(function (lv) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'level s' + lv.score;
      b.dataset.score = String(lv.score);
      b.setAttribute('aria-keyshortcuts', String(lv.score));
      b.appendChild(svgFace(lv));
      b.appendChild(label(lv.zh, lv.en));
      b.addEventListener('click', function () { choose(lv.score); });
      box.appendChild(b);
    });
    var rbox = $('reason-buttons');
    REASONS.forEach(function (r) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'reason';
      b.dataset.reason = r.code;
      b.setAttribute('aria-pressed', 'false');
      b.appendChild(label(r.zh, r.en));
      b.addEventListener('click', function () { toggleReason(b, r.code); });
      rbox.appendChild(b);
    });
  }

  function show(name) {
    ['idle', 'levels', 'reasons', 'thanks'].forEach(function (s) { $(s).hidden = s !== name; });
    document.body.dataset.screen = name;
  }

  function toIdle() {
    clearTimeout(timer);
    current = null;
    show('idle');
  }

  function armTimeout(ms) {
    clearTimeout(timer);
    timer = setTimeout(toIdle, ms);
  }

  function startRating(number, at) {
    // A replayed, old completion (after a reconnect) is past the server's window: skip it.
    var age = typeof at === 'number' ? Date.now() - at : 0;
    if (age > TIMEOUT_MS) return;
    current = {ticket: number, score: null, reasons: [], sending: false};
    $('rate-ticket').textContent = number;
    Array.prototype.forEach.call(document.querySelectorAll('.reason'), function (b) {
      b.setAttribute('aria-pressed', 'false');
    });
    show('levels');
    armTimeout(TIMEOUT_MS - Math.max(0, age));
    var first = document.querySelector('.level');
    if (first) first.focus();
  }

  function choose(score) {
    if (!current || current.sending) return;
    current.score = score;
    if (score <= 2) {
      show('reasons');
      var first = document.querySelector('.reason');
      if (first) first.focus();
    } else {
      submit();
    }
  }

  function toggleReason(button, code) {
    if (!current) return;
    var i = current.reasons.indexOf(code);
    if (i >= 0) current.reasons.splice(i, 1);
    else current.reasons.push(code);
    button.setAttribute('aria-pressed', i >= 0 ? 'false' : 'true');
  }

  function submit() {
    if (!current || current.sending || !current.score) return;
    current.sending = true;
    var body = {ticket: current.ticket, score: current.score, reasons: current.reasons.slice()};
    var url = '/api/halls/' + encodeURIComponent(HALL.id) + '/windows/' +
      encodeURIComponent(WINDOW_ID) + '/rating';
    fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body)})
      .then(function (res) {
        if (res.ok) return thanks(null);
        return res.json().catch(function () { return {}; }).then(function (data) {
          var code = data && data.error && data.error.code;
          thanks(res.status === 409
            ? '本次服务已评价或评价已超时 Already rated, or too late to rate'
            : '评价未能提交，请联系工作人员 The rating could not be sent' +
              (code ? ' (' + code + ')' : ''));
        });
      })
      .catch(function () {
        thanks('网络故障，评价未能提交 Network problem, the rating was not sent');
      });
  }

  function thanks(error) {
    $('thanks-text').hidden = !!error;
    $('rate-error').hidden = !error;
    $('rate-error').textContent = error || '';
    document.body.dataset.result = error ? 'error' : 'ok';
    current = null;
    show('thanks');
    armTimeout(THANKS_MS);
  }

  // ------------------------------------------------------------------ idle screen

  function renderIdle() {
    var w = null;
    (HALL.windows || []).forEach(function (x) { if (String(x.id) === WINDOW_ID) w = x; });
    $('window-name').textContent = w ? w.name.zh + ' · ' + w.name.en : WINDOW_ID;
    $('clerk').textContent = clerk ? '工作人员 Clerk: ' + clerk.name + (clerk.id ? ' (' + clerk.id + ')' : '') : '';
  }

  function onSnapshot(state) {
    (state.windows || []).forEach(function (w) {
      if (String(w.id) === WINDOW_ID) clerk = w.clerk || null;
    });
    renderIdle();
  }

  function onEvent(evt) {
    var mine = evt.window !== undefined && evt.window !== null && String(evt.window) === WINDOW_ID;
    if (evt.type === 'hall.reset') { toIdle(); return; }
    if (!mine) return;
    if (evt.type === 'window.closed') clerk = null;
    else if (evt.clerk && typeof evt.clerk === 'object') clerk = evt.clerk;
    renderIdle();
    if (evt.type === 'ticket.completed' && evt.ticket) {
      startRating(typeof evt.ticket === 'object' ? evt.ticket.number : String(evt.ticket), evt.at);
    }
  }

  document.addEventListener('keydown', function (ev) {
    var screen = document.body.dataset.screen;
    if (screen === 'levels' && /^[1-5]$/.test(ev.key)) {
      ev.preventDefault();
      choose(Number(ev.key));
    } else if (screen === 'reasons' && ev.key === 'Escape') {
      ev.preventDefault();
      show('levels');
    }
  });
  $('reasons-back').addEventListener('click', function () { show('levels'); });
  $('reasons-submit').addEventListener('click', submit);

  buildButtons();
  renderIdle();
  show('idle');
  new window.HallSocket({
    url: '/ws/halls/' + encodeURIComponent(HALL.id) + '/display',
    onSnapshot: onSnapshot,
    onEvent: onEvent,
    onStatus: function (status) { $('offline').hidden = status === 'online'; }
  }).start();
})();
