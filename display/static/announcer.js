/*
 * announcer.js — speaks calls in the browser of a lobby screen.
 *
 * Classic script; defines window.Announcer.
 *
 *   var a = new Announcer({languages: ['zh', 'en'], repeat: 2});
 *   a.handle(evt);   // each live ticket.called / ticket.recalled event from HallSocket.onEvent
 *
 * What it plays, per call: the chime (/audio/chime.wav), then each language's
 * evt.announce[lang].audio in hall language order; the language round is played
 * `repeat` times in all.
 *
 * Rules (so that the hall hears every call once, in order, and never late):
 * - One thing at a time: a single queue, each clip starts after the previous one ended.
 *   The text of one call is never mixed with another's (each clip is one whole phrase).
 * - Catch-up: a call's repeat rounds are played only while no other call waits. When calls
 *   arrive faster than they can be spoken, each is spoken once (chime + one round).
 * - A waiting call is replaced by a newer call for the same window (that window has moved on;
 *   a recall of the same ticket replaces it too, so it is not spoken twice in a row).
 * - A call that could not start within maxAgeMs (30 s) of its event time is dropped: the
 *   screen shows it, the speakers do not say it minutes late. This also keeps events that are
 *   replayed after a reconnect silent when they are old (event.at vs the local clock).
 * - A recall is a new announcement and is spoken again.
 * - Autoplay blocked (play() rejects with NotAllowedError): the call stays queued and the
 *   "点击开启声音 / Tap to enable sound" button appears; a tap unlocks audio and resumes.
 * - Server audio fails (error event / unsupported): the text is spoken with
 *   window.speechSynthesis instead; a failed chime is replaced by a Web Audio ding-dong.
 *
 * Every clip played is logged in window.hallqPlaybackLog (tests read it):
 *   {kind:'chime'|'voice', lang, number, window, src, text, type, seq, via, started_at, ended_at}
 * `via` is 'audio' (server WAV), 'speech' (speechSynthesis) or 'synth' (Web Audio chime).
 * Calls that were dropped are listed in window.hallqSkippedCalls with a reason, and clips
 * whose server audio failed in window.hallqAudioFailures with the fallback's outcome
 * (a browser without speech voices cannot say the text; the failure is still recorded).
 */
(function (global) {
  'use strict';

  var SPEECH_LANG = { zh: 'zh-CN', en: 'en-US', ja: 'ja-JP', ko: 'ko-KR', fr: 'fr-FR', de: 'de-DE' };
  var CLIP_TIMEOUT_MS = 20000; // a clip that neither ends nor fails in 20 s is given up

  function now() { return Date.now(); }

  function Announcer(options) {
    options = options || {};
    this.languages = options.languages || ['zh', 'en'];
    this.repeat = Math.max(1, options.repeat || 1);
    this.chimeSrc = options.chimeSrc || '/audio/chime.wav';
    this.maxAgeMs = options.maxAgeMs || 30000;
    /** Server clock minus local clock, when the page learns it; 0 trusts the local clock. */
    this.clockOffsetMs = 0;
    this.log = options.log || (global.hallqPlaybackLog = global.hallqPlaybackLog || []);
    this.skipped = global.hallqSkippedCalls = global.hallqSkippedCalls || [];
    this.failures = global.hallqAudioFailures = global.hallqAudioFailures || [];
    this.unlockButton = options.unlockButton || null;
    this.queue = [];
    this.current = null;
    this.locked = false;
    this._audioCtx = null;
    var self = this;
    // The voice list loads asynchronously; ask early so it is there when a fallback needs it.
    try { if (global.speechSynthesis) global.speechSynthesis.getVoices(); } catch (e) { /* none */ }
    if (this.unlockButton) {
      this.unlockButton.addEventListener('click', function () { self.unlock(); });
    }
  }

  /** Age of an event in ms, by the server's clock as far as we know it. */
  Announcer.prototype.ageOf = function (evt) {
    return now() + this.clockOffsetMs - (evt.at || 0);
  };

  /**
   * Queue the announcement of a ticket.called / ticket.recalled event.
   * Returns true when it was queued, false when it is not spoken (other type, too old…).
   */
  Announcer.prototype.handle = function (evt) {
    if (!evt || (evt.type !== 'ticket.called' && evt.type !== 'ticket.recalled')) return false;
    if (!evt.announce || !evt.ticket) return false;
    var number = evt.ticket.number;
    var win = evt.window != null ? String(evt.window) : (evt.ticket.window || '');
    if (this.ageOf(evt) > this.maxAgeMs) {
      this._skip(evt, number, win, 'too old');
      return false;
    }
    var self = this;
    this.queue = this.queue.filter(function (item) {
      if (item.window !== win) return true;
      self._skip(item.evt, item.number, item.window, 'superseded');
      return false;
    });
    var item = { evt: evt, number: number, window: win, receivedAt: now(), audio: {} };
    this._preload(item);
    this.queue.push(item);
    this._pump();
    return true;
  };

  Announcer.prototype._skip = function (evt, number, win, reason) {
    this.skipped.push({ number: number, window: win, seq: evt.seq, type: evt.type,
      reason: reason, at: now() });
  };

  /** Start fetching the clips now, so the voice follows the chime without a gap. */
  Announcer.prototype._preload = function (item) {
    var srcs = [this.chimeSrc];
    for (var i = 0; i < this.languages.length; i++) {
      var a = item.evt.announce[this.languages[i]];
      if (a && a.audio) srcs.push(a.audio);
    }
    for (var j = 0; j < srcs.length; j++) {
      var el = new global.Audio();
      el.preload = 'auto';
      el.src = srcs[j];
      item.audio[srcs[j]] = el;
    }
  };

  Announcer.prototype._pump = function () {
    var self = this;
    if (self.current || self.locked) return;
    var item;
    while ((item = self.queue.shift())) {
      // Judge lateness by the local receive time as well as the event time: a backlog
      // (or a locked speaker) must not release calls minutes late.
      if (now() - item.receivedAt > self.maxAgeMs || self.ageOf(item.evt) > self.maxAgeMs) {
        self._skip(item.evt, item.number, item.window, 'late');
        continue;
      }
      break;
    }
    if (!item) return;
    self.current = item;
    self._announce(item).then(function (outcome) {
      self.current = null;
      if (outcome === 'blocked') {
        self.locked = true;
        self.queue.unshift(item); // say it once sound is enabled (if still fresh)
        self._showUnlock(true);
        return;
      }
      self._pump();
    });
  };

  /** Play chime + rounds for one call; resolves 'done' or 'blocked'. */
  Announcer.prototype._announce = function (item) {
    var self = this;
    var steps = [{ kind: 'chime', src: self.chimeSrc, round: 0 }];
    for (var r = 0; r < self.repeat; r++) {
      for (var i = 0; i < self.languages.length; i++) {
        var lang = self.languages[i];
        var a = item.evt.announce[lang];
        if (a) steps.push({ kind: 'voice', lang: lang, src: a.audio, text: a.text, round: r });
      }
    }
    var k = 0;
    function next() {
      if (k >= steps.length) return Promise.resolve('done');
      var step = steps[k++];
      // Repeats give way to waiting calls (catch up rather than speak late).
      if (step.round > 0 && self.queue.length > 0) return Promise.resolve('done');
      return self._step(item, step).then(function (outcome) {
        if (outcome === 'blocked') return 'blocked';
        return next();
      });
    }
    return next();
  };

  Announcer.prototype._entry = function (item, step, via) {
    return {
      kind: step.kind, lang: step.lang || null, number: item.number, window: item.window,
      src: via === 'audio' ? step.src : null, text: step.text || null,
      type: item.evt.type, seq: item.evt.seq, via: via, started_at: null, ended_at: null,
    };
  };

  /** One clip: server audio, falling back to speech / synth; resolves 'ok'|'failed'|'blocked'. */
  Announcer.prototype._step = function (item, step) {
    var self = this;
    if (!step.src) return self._fallback(item, step);
    return self._playAudio(item, step).then(function (outcome) {
      if (outcome !== 'error') return outcome;
      return self._fallback(item, step).then(function (fallbackOutcome) {
        self.failures.push({ src: step.src, kind: step.kind, lang: step.lang || null,
          number: item.number, window: item.window, text: step.text || null,
          fallback: step.kind === 'chime' ? 'synth' : 'speech', outcome: fallbackOutcome,
          at: now() });
        return fallbackOutcome === 'blocked' ? 'blocked' : 'ok';
      });
    });
  };

  Announcer.prototype._playAudio = function (item, step) {
    var self = this;
    var el = item.audio[step.src];
    if (!el || el.__used) {
      el = new global.Audio(step.src);
    }
    el.__used = true;
    var entry = self._entry(item, step, 'audio');
    return new Promise(function (resolve) {
      var finished = false;
      var timer = null;
      function finish(outcome) {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        el.onended = el.onerror = null;
        if (outcome === 'ok') entry.ended_at = now();
        else if (entry.started_at !== null && entry.ended_at === null) entry.ended_at = now();
        resolve(outcome);
      }
      el.onended = function () { finish('ok'); };
      el.onerror = function () { finish(entry.started_at === null ? 'error' : 'ok'); };
      timer = setTimeout(function () {
        try { el.pause(); } catch (e) { /* ignore */ }
        finish(entry.started_at === null ? 'error' : 'ok');
      }, CLIP_TIMEOUT_MS);
      var p;
      try {
        el.currentTime = 0;
        p = el.play();
      } catch (e) {
        finish('error');
        return;
      }
      Promise.resolve(p).then(function () {
        if (finished) return;
        entry.started_at = now();
        self.log.push(entry);
      }, function (err) {
        if (err && err.name === 'NotAllowedError') finish('blocked');
        else finish('error');
      });
    });
  };

  Announcer.prototype._fallback = function (item, step) {
    if (step.kind === 'chime') return this._synthChime(item, step);
    return this._speak(item, step);
  };

  /** Speak the announce text with the browser's speech engine. */
  Announcer.prototype._speak = function (item, step) {
    var self = this;
    var synth = global.speechSynthesis;
    if (!synth || !global.SpeechSynthesisUtterance || !step.text) {
      return Promise.resolve('failed');
    }
    // No voice installed (e.g. Linux without speech-dispatcher): the engine would never
    // start; do not hold the queue waiting for it.
    if (synth.getVoices && synth.getVoices().length === 0) return Promise.resolve('failed');
    var entry = self._entry(item, step, 'speech');
    return new Promise(function (resolve) {
      var finished = false;
      var u = new global.SpeechSynthesisUtterance(step.text);
      u.lang = SPEECH_LANG[step.lang] || step.lang;
      var voices = synth.getVoices ? synth.getVoices() : [];
      for (var i = 0; i < voices.length; i++) {
        if (voices[i].lang && voices[i].lang.toLowerCase().indexOf(step.lang) === 0) {
          u.voice = voices[i];
          break;
        }
      }
      function finish(outcome) {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        clearTimeout(startTimer);
        if (entry.started_at !== null) entry.ended_at = now();
        resolve(outcome);
      }
      u.onstart = function () {
        if (entry.started_at === null) {
          entry.started_at = now();
          self.log.push(entry);
        }
      };
      u.onend = function () { u.onstart(); finish('ok'); };
      u.onerror = function (e) {
        if (e && e.error === 'not-allowed') finish('blocked');
        else finish('failed');
      };
      // An engine that does not start within 3 s, or runs far beyond the length of the
      // text, is given up so the queue moves on.
      var timer = setTimeout(function () {
        try { synth.cancel(); } catch (e) { /* ignore */ }
        finish(entry.started_at === null ? 'failed' : 'ok');
      }, Math.min(CLIP_TIMEOUT_MS, 2000 + step.text.length * 300));
      var startTimer = setTimeout(function () {
        if (entry.started_at === null) {
          try { synth.cancel(); } catch (e) { /* ignore */ }
          finish('failed');
        }
      }, 3000);
      synth.speak(u);
    });
  };

  /** A two-tone ding-dong with Web Audio, for when /audio/chime.wav cannot be played. */
  Announcer.prototype._synthChime = function (item, step) {
    var self = this;
    var Ctx = global.AudioContext || global.webkitAudioContext;
    if (!Ctx) return Promise.resolve('failed');
    try {
      if (!self._audioCtx) self._audioCtx = new Ctx();
    } catch (e) {
      return Promise.resolve('failed');
    }
    var ctx = self._audioCtx;
    if (ctx.state === 'suspended') {
      try { ctx.resume(); } catch (e) { /* ignore */ }
      if (ctx.state === 'suspended') return Promise.resolve('failed');
    }
    var entry = self._entry(item, step, 'synth');
    entry.started_at = now();
    self.log.push(entry);
    var t = ctx.currentTime + 0.02;
    [[659.25, 0], [523.25, 0.45]].forEach(function (tone) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, t + tone[1]);
      gain.gain.exponentialRampToValueAtTime(0.4, t + tone[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + tone[1] + 0.8);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t + tone[1]);
      osc.stop(t + tone[1] + 0.85);
    });
    return new Promise(function (resolve) {
      setTimeout(function () { entry.ended_at = now(); resolve('ok'); }, 1350);
    });
  };

  Announcer.prototype._showUnlock = function (show) {
    if (this.unlockButton) this.unlockButton.hidden = !show;
  };

  /** Called from a user gesture (the unlock button): allow audio and resume the queue. */
  Announcer.prototype.unlock = function () {
    // The tap itself gives the document user activation; resuming the Web Audio context
    // inside the gesture unlocks the synthesized chime as well.
    var Ctx = global.AudioContext || global.webkitAudioContext;
    try {
      if (Ctx && !this._audioCtx) this._audioCtx = new Ctx();
      if (this._audioCtx && this._audioCtx.state === 'suspended') this._audioCtx.resume();
    } catch (e) { /* ignore */ }
    this.locked = false;
    this._showUnlock(false);
    this._pump();
  };

  global.Announcer = Announcer;
})(window);
