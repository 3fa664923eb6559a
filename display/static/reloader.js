/*
 * reloader.js — every page reloads itself when the hall file or hallq changed, at a quiet moment.
 *
 * Classic script; defines window.HallqReload. Included by every page (screens, kiosk, desk,
 * pad, visitor, rating pad, manager).
 *
 * A reload is asked for when
 * - a `hall.config` event arrives (HallSocket passes it here: the hall file was reloaded), or
 * - a snapshot names another hall file than the one the page was drawn with (HALL.config:
 *   the reload happened between the page's drawing and its socket's snapshot, whose
 *   hall.config is never replayed), or
 * - GET /api/version answers another hallq version or hall-file hash than when the page
 *   loaded: checked after every reconnect of a HallSocket (a restart may bring a new version)
 *   and every POLL_MS, for pages that follow no hall socket.
 * It happens at the first quiet moment, checked every second: not while an announcement is
 * playing or queued (the lobby's window.hallqAnnouncer), not while a text field has the focus,
 * not within IDLE_MS of the last key, tap or input (a clerk typing, a visitor at the kiosk),
 * not while a change sent with HQ.api awaits its answer,
 * and not while any check a page added with HallqReload.addBusyCheck(fn) answers true.
 * While a reload waits, <html data-reload="pending">.
 */
(function (global) {
  'use strict';

  var doc = global.document;
  var CHECK_MS = 1000;
  var POLL_MS = global.HALLQ_RELOAD_POLL_MS || 30000;
  var IDLE_MS = global.HALLQ_RELOAD_IDLE_MS || 8000;

  /** The hall the page was drawn with (window.HALL or the #hall-data JSON), or null. */
  function pageHall() {
    if (global.HALL && global.HALL.id) return global.HALL;
    var data = doc.getElementById('hall-data');
    if (data) {
      try {
        var hall = JSON.parse(data.textContent || 'null');
        if (hall && hall.id) return hall;
      } catch (e) { /* not a hall page */ }
    }
    return null;
  }
  function hallId() {
    var hall = pageHall();
    return hall ? String(hall.id) : null;
  }

  /** A hall-file hash the server serves now: another than the page's asks for a reload. */
  function checkConfig(hash) {
    var hall = pageHall();
    if (hash && hall && hall.config && String(hash) !== String(hall.config)) request('hall file ' + hash);
  }

  var known = null;        // what this page was loaded with: "version|hash"
  var pending = false;
  var lastInput = 0;
  var busyChecks = [];

  function typing() {
    var el = doc.activeElement;
    if (!el || el === doc.body) return false;
    var tag = el.tagName;
    return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || !!el.isContentEditable;
  }

  function announcing() {
    var a = global.hallqAnnouncer;
    return !!(a && (a.current || (a.queue && a.queue.length)));
  }

  /** Whether now is a bad moment to reload. */
  function busy() {
    if (Date.now() - lastInput < IDLE_MS) return true;
    if (typing() || announcing()) return true;
    // a change sent with HQ.api and not answered yet (its answer would be lost with the page)
    if (global.HQ && global.HQ.changing > 0) return true;
    for (var i = 0; i < busyChecks.length; i++) {
      try { if (busyChecks[i]()) return true; } catch (e) { /* a broken check never blocks */ }
    }
    return false;
  }

  function request(reason) {
    if (!pending && global.console) global.console.info('hallq: reload pending (' + reason + ')');
    pending = true;
    doc.documentElement.setAttribute('data-reload', 'pending');
  }

  function signature(v) {
    var id = hallId();
    var halls = v.halls || {};
    return String(v.version) + '|' + (id ? String(halls[id]) : JSON.stringify(halls));
  }

  /** Compare /api/version with what the page was loaded with; a change asks for a reload. */
  function checkVersion() {
    if (!global.fetch) return;
    global.fetch('/api/version', { cache: 'no-store' }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (v) {
      if (!v || !v.version) return;
      var id = hallId();
      if (id && v.halls) checkConfig(v.halls[id]);
      var now = signature(v);
      if (known === null) known = now;
      else if (now !== known) request('version ' + now);
    }, function () { /* offline: the next check will tell */ });
  }

  ['keydown', 'pointerdown', 'touchstart', 'input'].forEach(function (type) {
    doc.addEventListener(type, function () { lastInput = Date.now(); }, true);
  });

  setInterval(function () {
    if (pending && !busy()) {
      pending = false;
      global.location.reload();
    }
  }, CHECK_MS);
  setInterval(checkVersion, POLL_MS);
  checkVersion();

  global.HallqReload = {
    request: request,
    checkVersion: checkVersion,
    checkConfig: checkConfig,
    addBusyCheck: function (fn) { busyChecks.push(fn); },
    isPending: function () { return pending; },
    busy: busy,
  };
})(window);
