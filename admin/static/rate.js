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
 * accepts a rating for the ticket most recently completed at this window, once. A visit rated
 * on the visitor's phone (a `ticket.rated` event) shows "already rated" instead of the faces.
 * Words come from the catalogue (HQ.t); one language at a time, the hall's first by default,
 * `?lang=en` or the switch for another; back to the default when the pad goes idle.
 */
(function () {
  'use strict';

  var HQ = window.HQ;
  HQ.init();
  var HALL = HQ.hall;
  var DEFAULT_LANG = new URLSearchParams(location.search).get('lang') || HQ.languages()[0];
  if (HQ.languages().indexOf(DEFAULT_LANG) < 0) DEFAULT_LANG = HQ.languages()[0];
  HQ.setLang(DEFAULT_LANG);
  var WINDOW_ID = String(window.WINDOW_ID);
  var TIMEOUT_MS = Math.max(5, Number(HALL.rating_timeout_s) || 60) * 1000;
  var THANKS_MS = 4000;

  // Labels: rating_<score> and reason_<code> in the catalogue (the manager page uses the same).
  var LEVELS = [
    {score: 5, color: '#1b7f3b', mouth: 16},
    {score: 4, color: '#4a9a2a', mouth: 9},
    {score: 3, color: '#9a7400', mouth: 0},
    {score: 2, color: '#c2410c', mouth: -9},
    {score: 1, color: '#b00020', mouth: -16}
  ];
  // Codes are what the server stores.
  var REASONS = ['long_wait', 'attitude', 'not_competent', 'complicated', 'other'];

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

  function label(key) {
    var span = document.createElement('span');
    span.className = 'label';
    span.setAttribute('data-i18n', key);
    span.textContent = HQ.t(key);
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
      b.appendChild(label('rating_' + lv.score));
      b.addEventListener('click', function () { choose(lv.score); });
      box.appendChild(b);
    });
    var rbox = $('reason-buttons');
    REASONS.forEach(function (code) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'reason';
      b.dataset.reason = code;
      b.setAttribute('aria-pressed', 'false');
      b.appendChild(label('reason_' + code));
      b.addEventListener('click', function () { toggleReason(b, code); });
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
    if (HQ.lang !== DEFAULT_LANG) HQ.setLang(DEFAULT_LANG);  // the next visitor starts afresh
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
    if (score <= HALL.constants.bad_max) {  // server/queue/constants.json
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
          var err = (data && data.error) || {};
          if (err.code === 'already_rated') { already(); return; }
          thanks(res.status === 409 ? 'rp_too_late' : 'rp_failed');
        });
      })
      .catch(function () {
        thanks('rp_network');
      });
  }

  /** The thank-you screen; `errorKey` names the catalogue text of a failure. */
  function thanks(errorKey) {
    $('thanks-text').hidden = !!errorKey;
    $('already-text').hidden = true;
    $('rate-error').hidden = !errorKey;
    $('rate-error').textContent = errorKey ? HQ.t(errorKey) : '';
    $('rate-error').setAttribute('data-i18n', errorKey || '');
    document.body.dataset.result = errorKey ? 'error' : 'ok';
    current = null;
    show('thanks');
    armTimeout(THANKS_MS);
  }

  /** The visit was rated elsewhere (the visitor's phone): no faces, a calm "already rated". */
  function already() {
    $('thanks-text').hidden = true;
    $('rate-error').hidden = true;
    $('already-text').hidden = false;
    document.body.dataset.result = 'already';
    current = null;
    show('thanks');
    armTimeout(THANKS_MS);
  }

  // ------------------------------------------------------------------ idle screen

  function renderIdle() {
    var w = null;
    (HALL.windows || []).forEach(function (x) { if (String(x.id) === WINDOW_ID) w = x; });
    $('window-name').textContent = w ? HQ.name(w.name) : HQ.windowName(WINDOW_ID);
    $('clerk').textContent = clerk ? HQ.t('rp_clerk', {name: clerk.name, id: clerk.id}) : '';
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
    var number = evt.ticket && (typeof evt.ticket === 'object' ? evt.ticket.number : String(evt.ticket));
    if (evt.type === 'ticket.completed' && number) startRating(number, evt.at);
    // Rated on the phone while the faces are up: say so instead of asking again.
    if (evt.type === 'ticket.rated' && current && number === current.ticket && !current.sending) already();
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

  HQ.onLang(function () { renderIdle(); var e = $('rate-error'); if (e.getAttribute('data-i18n')) e.textContent = HQ.t(e.getAttribute('data-i18n')); });
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
