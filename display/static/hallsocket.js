/*
 * hallsocket.js — a hall WebSocket that never needs a page reload.
 *
 * Classic script (no modules, no build step): it defines window.HallSocket.
 *
 *   var hs = new HallSocket({
 *     url: '/ws/halls/demo/display',      // absolute ws(s):// URL or a path on this host
 *     onSnapshot: function (state, frame) {},   // replace your state with `state`
 *     onEvent: function (evt) {},               // apply one event, called in seq order
 *     onStatus: function (status) {},           // 'online' | 'offline' | 'redis-down'
 *     onMessage: function (frame) {},           // any other frame (window_state, result, ticket, error…)
 *     since: 42,                                // optional: resume after this seq (else a snapshot)
 *     onOpen: function (hs) {},                 // each (re)connect, once open (e.g. send an auth frame)
 *     finalCloseCodes: [4401, 4403, 4404],      // closes after which reconnecting cannot help…
 *     onFinalClose: function (code) {},         // …stop, and say so here
 *   });
 *   hs.start();
 *
 * Behaviour
 * - Tracks the seq of the last event it applied (hs.seq). Every (re)connect asks for
 *   `?since=SEQ`, so the server replays exactly what was missed, or sends a snapshot when
 *   that is no longer kept. Events with seq <= the applied seq are dropped (replays overlap).
 * - A gap (an event whose seq is more than applied + 1) means something was lost: the socket
 *   is closed and reopened with `since`, so the server fills the gap (a second gap within
 *   2 s asks for a snapshot instead).
 * - A snapshot replaces everything, including the seq (it may go down after a hall was reset).
 * - Reconnects with exponential backoff, 0.5 s doubling up to 5 s, with ±20 % jitter so that a
 *   hall's screens do not all knock at once after a server restart. The delay goes back to
 *   0.5 s once a connection has delivered a frame.
 * - `{"type":"status","redis":"down"|"up"}` frames switch the status between 'redis-down'
 *   and 'online'. Closing the socket makes the status 'offline'.
 * - Frames of other types (window_state, result, ticket, error …) go to onMessage;
 *   {"type":"ping"} frames are ignored.
 *
 * - A close with one of `finalCloseCodes` (the server's table, server/edge.py) stops the
 *   socket and calls onFinalClose(code) instead of reconnecting.
 * - `reconnect()` drops the connection and opens a new one at once (a page that waited too
 *   long for an answer on a socket that looks open).
 *
 * Every page's socket is this one (screens, pad, phone); keep the API (constructor options,
 * start, stop, resync, reconnect, send, seq, status) stable.
 */
(function (global) {
  'use strict';

  var MIN_DELAY_MS = 500;
  var MAX_DELAY_MS = 5000;

  function noop() {}

  /** Turn a path like "/ws/halls/demo/display" into ws(s)://host/… for this page. */
  function absoluteWsUrl(url) {
    if (/^wss?:\/\//i.test(url)) return url;
    var loc = global.location;
    var scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + loc.host + (url.charAt(0) === '/' ? '' : '/') + url;
  }

  /** An event is a frame whose type names something that happened ("ticket.called"). */
  function isEvent(frame) {
    return typeof frame.seq === 'number' && typeof frame.type === 'string' &&
      frame.type.indexOf('.') > 0;
  }

  function HallSocket(options) {
    if (!options || !options.url) throw new Error('HallSocket needs {url}');
    this.url = options.url;
    this.onSnapshot = options.onSnapshot || noop;
    this.onEvent = options.onEvent || noop;
    this.onStatus = options.onStatus || noop;
    this.onMessage = options.onMessage || noop;
    this.onOpen = options.onOpen || noop;
    this.onFinalClose = options.onFinalClose || noop;
    this.finalCloseCodes = options.finalCloseCodes || [];
    /** Seq of the last applied event or snapshot; null until the first one. */
    this.seq = typeof options.since === 'number' ? options.since : null;
    /** 'online' | 'offline' | 'redis-down' */
    this.status = 'offline';
    this._redisDown = false;
    this._ws = null;
    this._delay = MIN_DELAY_MS;
    this._retryTimer = null;
    this._stopped = true;
    this._lastGapAt = 0;
    this._lastFrameAt = 0;
    this._watchdog = null;
    this.silenceMs = options.silenceMs || SILENCE_MS;
    /** How many times the socket (re)opened: 1 after the first connection. */
    this.connections = 0;
  }

  /** The server sends {"type":"ping"} every 15 s: this long without any frame means the
   *  connection is half-open (e.g. Wi-Fi dropped without a close), so reconnect. */
  var SILENCE_MS = 45000;

  HallSocket.prototype.start = function () {
    if (!this._stopped) return this;
    this._stopped = false;
    var self = this;
    this._watchdog = setInterval(function () {
      if (self._ws && self._ws.readyState === 1 && Date.now() - self._lastFrameAt > self.silenceMs) {
        self._reconnectNow();
      }
    }, Math.min(5000, self.silenceMs / 4));
    this._connect();
    return this;
  };

  HallSocket.prototype.stop = function () {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearInterval(this._watchdog);
    if (this._ws) {
      var ws = this._ws;
      this._ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch (e) { /* already closed */ }
    }
    this._setStatus('offline');
    return this;
  };

  /** Forget the seq and reconnect: the server answers with a fresh snapshot. */
  HallSocket.prototype.resync = function () {
    this.seq = null;
    this._reconnectNow();
  };

  /** Drop the connection and open a new one now (with since=, like any reconnect). */
  HallSocket.prototype.reconnect = function () {
    this._reconnectNow();
  };

  /** Send a JSON frame; returns false when the socket is not open (nothing is queued). */
  HallSocket.prototype.send = function (obj) {
    if (!this._ws || this._ws.readyState !== 1) return false;
    this._ws.send(JSON.stringify(obj));
    return true;
  };

  HallSocket.prototype.currentUrl = function () {
    var url = absoluteWsUrl(this.url);
    if (this.seq === null) return url;
    return url + (url.indexOf('?') >= 0 ? '&' : '?') + 'since=' + encodeURIComponent(this.seq);
  };

  HallSocket.prototype._connect = function () {
    var self = this;
    if (self._stopped) return;
    var ws;
    try {
      ws = new global.WebSocket(self.currentUrl());
    } catch (e) {
      self._scheduleRetry();
      return;
    }
    self._ws = ws;
    ws.onopen = function () {
      if (self._ws !== ws) return;
      self.connections += 1;
      // After a reconnect the server may run another hallq or hall file (reloader.js).
      if (self.connections > 1 && global.HallqReload) global.HallqReload.checkVersion();
      self._lastFrameAt = Date.now();
      self._redisDown = false;
      self._setStatus('online');
      self._safe(self.onOpen, self);
    };
    ws.onmessage = function (msg) {
      if (self._ws !== ws) return;
      self._delay = MIN_DELAY_MS;
      self._lastFrameAt = Date.now();
      var frame;
      try { frame = JSON.parse(msg.data); } catch (e) { return; }
      if (frame && typeof frame === 'object') self._dispatch(frame);
    };
    ws.onerror = function () { /* onclose follows and does the work */ };
    ws.onclose = function (event) {
      if (self._ws !== ws) return;
      self._ws = null;
      if (self.finalCloseCodes.indexOf(event.code) >= 0) {
        self.stop();
        self._safe(self.onFinalClose, event.code);
        return;
      }
      self._setStatus('offline');
      self._scheduleRetry();
    };
  };

  HallSocket.prototype._dispatch = function (frame) {
    if (frame.type === 'snapshot') {
      this.seq = typeof frame.seq === 'number' ? frame.seq : null;
      // A hall.config that came before this snapshot is not replayed: the snapshot names the
      // hall file the server serves, and a page drawn with another reloads (reloader.js).
      var state = frame.state || {};
      if (state.config && global.HallqReload) global.HallqReload.checkConfig(state.config);
      this._safe(this.onSnapshot, state, frame);
      return;
    }
    if (frame.type === 'status') {
      if (frame.redis === 'down') this._redisDown = true;
      else if (frame.redis === 'up') this._redisDown = false;
      this._setStatus(this._redisDown ? 'redis-down' : 'online');
      return;
    }
    if (isEvent(frame)) {
      if (this.seq !== null && frame.seq <= this.seq) return; // already applied
      if (this.seq !== null && frame.seq > this.seq + 1) {
        // Missed something: reopen with since=seq so the server fills the gap in order.
        // A second gap soon after means replay does not help: ask for a snapshot instead.
        var now = Date.now();
        if (now - this._lastGapAt < 2000) this.seq = null;
        this._lastGapAt = now;
        this._reconnectNow();
        return;
      }
      this.seq = frame.seq;
      // The hall file was reloaded: the page reloads itself at a quiet moment (reloader.js).
      if (frame.type === 'hall.config' && global.HallqReload) global.HallqReload.request('hall.config');
      this._safe(this.onEvent, frame);
      return;
    }
    if (frame.type === 'ping') return;
    this._safe(this.onMessage, frame);
  };

  /** Run a page callback; a bug in the page must not kill the socket loop. */
  HallSocket.prototype._safe = function (fn, a, b) {
    try { fn(a, b); } catch (e) {
      if (global.console) global.console.error('HallSocket callback failed', e);
    }
  };

  HallSocket.prototype._setStatus = function (status) {
    if (status === this.status) return;
    this.status = status;
    this._safe(this.onStatus, status);
  };

  HallSocket.prototype._scheduleRetry = function () {
    var self = this;
    if (self._stopped) return;
    clearTimeout(self._retryTimer);
    var jitter = 0.8 + Math.random() * 0.4;
    var wait = Math.round(self._delay * jitter);
    self._delay = Math.min(MAX_DELAY_MS, self._delay * 2);
    self._retryTimer = setTimeout(function () { self._connect(); }, wait);
  };

  HallSocket.prototype._reconnectNow = function () {
    if (this._stopped) return;
    clearTimeout(this._retryTimer);
    var ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch (e) { /* ignore */ }
    }
    this._connect();
  };

  global.HallSocket = HallSocket;
})(window);
