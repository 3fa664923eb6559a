/*
 * announcer.js — speaks calls in the browser of a lobby screen.
 *
 * Classic script; defines window.AnnounceQueue (the rule, no I/O) and window.Announcer
 * (plays it with <audio>).
 *
 *   var a = new Announcer({languages: ['zh', 'en'], repeat: 2});
 *   a.handle(evt);   // every live event from HallSocket.onEvent (non-calls only move the seq)
 *
 * What it plays, per call: the chime (/audio/chime.wav), then each language's
 * evt.announce[lang].audio in hall language order; the language round `repeat` times.
 *
 * The rule is AnnounceQueue, the same as display/announce_queue.py's (`hallq announce`), with the
 * same constants (/static/display/announce-rules.json, copied in AnnounceQueue.RULES) and the
 * same answers to tests/announce_vectors.json:
 * - One thing at a time: each clip starts after the previous one ended; the text of one call
 *   is never mixed with another's (each clip is one whole phrase).
 * - A call is skipped only when a newer call at the same window (a recall of the same ticket
 *   too) replaced it while it waited. Nothing is dropped for its age.
 * - Under a backlog a call is said shorter, decided again before each clip: first the repeat
 *   goes, then the second language, then the chime between calls — the mildest that lets every
 *   waiting call start within deadline_ms (17 s) of its event (or of its arrival, if later).
 *   Phrase lengths come from the audio's metadata once loaded, else from a per-language
 *   estimate of the text.
 * - Autoplay blocked (play() rejects with NotAllowedError): the call goes back to the head of
 *   the queue and the "点击开启声音 / Tap to enable sound" button appears; a tap unlocks
 *   audio and resumes.
 * - Server audio fails (error event / unsupported): the text is spoken with
 *   window.speechSynthesis instead; a failed chime is replaced by a Web Audio ding-dong.
 * Its clock is injected (options.now, ms on the server's clock); tests of the rule call
 * AnnounceQueue.simulate and need no waiting.
 *
 * Every clip played is logged in window.hallqPlaybackLog (tests read it):
 *   {kind:'chime'|'voice', lang, number, window, src, text, type, seq, via, queued_at, started_at,
 *    ended_at}  (queued_at: when the page handed the call to the announcer)
 * `via` is 'audio' (server WAV), 'speech' (speechSynthesis) or 'synth' (Web Audio chime).
 * Calls replaced before they were said are listed in window.hallqSkippedCalls (reason
 * 'superseded'), and clips whose server audio failed in window.hallqAudioFailures with the
 * fallback's outcome.
 */
(function (global) {
  'use strict';

  var SPEECH_LANG = { zh: 'zh-CN', en: 'en-US', ja: 'ja-JP', ko: 'ko-KR', fr: 'fr-FR', de: 'de-DE' };
  var CLIP_TIMEOUT_MS = 20000; // a clip that neither ends nor fails in 20 s is given up

  /** Local time, for the playback log (the rule gets the server's clock from Announcer.now). */
  function now() { return Date.now(); }
  var CHIME = 'chime';
  var LEVELS = [0, 1, 2, 3]; // whole + repeats · once · first language only · and no chime between calls
  var KNOWN_DURATIONS_KEPT = 512;
  // The patterns the server checks (server/queue/constants.json, given to the page as
  // HALL.constants); without them no call is trusted: '(?!)' never matches.
  var CONSTANTS = (global.HALL && global.HALL.constants) || {};
  var NUMBER_RE = new RegExp(CONSTANTS.number_pattern || '(?!)');
  var WINDOW_RE = new RegExp(CONSTANTS.window_pattern || '(?!)');

  // ---- the rule: no I/O (mirrors display/announce_queue.py:AnnounceQueue) -------------------------

  /** display/static/announce-rules.json (a test holds the two equal). */
  var RULES = {
    deadline_ms: 17000,
    chime_ms: 1100,
    gap_ms: 150,
    chime_pause_ms: 3000,
    ms_per_char: { zh: 300, en: 105, '*': 120 },
    text_chars_unknown: 20,
  };

  function callFromEvent(evt) {
    if (!evt || (evt.type !== 'ticket.called' && evt.type !== 'ticket.recalled')) return null;
    var number = evt.ticket && evt.ticket.number;
    var win = evt.window != null ? String(evt.window) : '';
    if (typeof number !== 'string' || !NUMBER_RE.test(number) || !WINDOW_RE.test(win)) return null;
    if (typeof evt.seq !== 'number' || typeof evt.at !== 'number') return null;
    var texts = {};
    var announce = evt.announce || {};
    for (var lang in announce) {
      if (announce[lang] && typeof announce[lang].text === 'string') texts[lang] = announce[lang].text;
    }
    return { seq: evt.seq, at: evt.at, number: number, window: win,
      recall: evt.type === 'ticket.recalled', texts: texts, evt: evt };
  }

  function AnnounceQueue(options) {
    options = options || {};
    this.repeat = Math.max(1, options.repeat || 1);
    this.languages = (options.languages || ['zh', 'en']).slice();
    this.rules = options.rules || RULES;
    this.gapMs = options.gapMs != null ? options.gapMs : this.rules.gap_ms;
    this.onReplaced = options.onReplaced || null;
    this.lastSeq = null;
    this._pending = [];
    this._due = [];
    this._known = {};
    this._knownKeys = [];
    this._lastEnd = null;
    this._current = null;
    this._said = [];
    this._level = 0;
    this._idle = true;
  }

  AnnounceQueue.RULES = RULES;
  AnnounceQueue.CHIME = CHIME;
  AnnounceQueue.callFromEvent = callFromEvent;

  /** Take in one hall event; true when a call was queued (see announce_queue.py's offer). */
  AnnounceQueue.prototype.offer = function (evt, nowMs) {
    if (!evt || typeof evt.seq !== 'number') return false;
    if (this.lastSeq !== null && evt.seq <= this.lastSeq) return false; // seen already
    this.lastSeq = evt.seq;
    var call = callFromEvent(evt);
    if (!call) return false;
    var pending = [], due = [];
    for (var i = 0; i < this._pending.length; i++) {
      if (this._pending[i].window === call.window) {
        if (this.onReplaced) this.onReplaced(this._pending[i], call);
        continue;
      }
      pending.push(this._pending[i]);
      due.push(this._due[i]);
    }
    pending.push(call);
    // Counted from the event, or from its arrival when it comes late (a replay).
    due.push(Math.max(call.at, nowMs));
    this._pending = pending;
    this._due = due;
    return true;
  };

  /** The calls waiting to be spoken, in order (not the one being spoken). */
  AnnounceQueue.prototype.calls = function () { return this._pending.slice(); };

  AnnounceQueue.prototype.learn = function (lang, number, win, ms) {
    var key = lang + '|' + number + '|' + win;
    if (!(key in this._known)) this._knownKeys.push(key);
    this._known[key] = Math.round(ms);
    if (this._knownKeys.length > KNOWN_DURATIONS_KEPT) delete this._known[this._knownKeys.shift()];
  };

  AnnounceQueue.prototype.phraseMs = function (call, lang) {
    var key = lang + '|' + call.number + '|' + call.window;
    if (key in this._known) return this._known[key];
    var perChar = this.rules.ms_per_char;
    var rate = lang in perChar ? perChar[lang] : perChar['*'];
    var text = call.texts[lang];
    return rate * (text ? Array.from(text).length : this.rules.text_chars_unknown);
  };

  AnnounceQueue.prototype.callLanguages = function (call) {
    if (!Object.keys(call.texts).length) return this.languages.slice();
    var out = this.languages.filter(function (lang) { return lang in call.texts; });
    return out.length ? out : this.languages.slice();
  };

  /** Begin the next call (the speaker is free); null when nothing waits. Parts come from step(). */
  AnnounceQueue.prototype.take = function (nowMs) {
    if (this._current) this._finish(nowMs);
    if (!this._pending.length) return null;
    this._idle = this._lastEnd === null || nowMs - this._lastEnd >= this.rules.chime_pause_ms;
    this._current = this._pending.shift();
    this._due.shift();
    this._said = [];
    this._level = this._choose(nowMs, LEVELS[0]);
    var parts = this._parts(this._current, this._level, true);
    return { call: this._current, level: this._level, chime: parts[0] === CHIME,
      languages: this._languagesAt(this._current, this._level),
      rounds: this._level === 0 ? this.repeat : 1, estimate_ms: this._cost(this._current, parts) };
  };

  /** The next part of the current call: 'chime' or a language; null when it is over. */
  AnnounceQueue.prototype.step = function (nowMs) {
    var call = this._current;
    if (!call) return null;
    this._level = this._choose(nowMs, this._level);
    var remaining = this._remaining(call, this._level);
    if (!remaining.length) {
      this._finish(nowMs);
      return null;
    }
    this._said.push(remaining[0]);
    return remaining[0];
  };

  /** Autoplay was refused: the current call goes back to the head of the queue, unsaid. */
  AnnounceQueue.prototype.giveBack = function () {
    if (!this._current) return;
    var call = this._current;
    this._current = null;
    this._said = [];
    if (this._pending.some(function (c) { return c.window === call.window; })) return;
    this._pending.unshift(call);
    this._due.unshift(call.at);
  };

  AnnounceQueue.prototype._finish = function (nowMs) {
    this._current = null;
    this._said = [];
    this._lastEnd = nowMs;
  };

  AnnounceQueue.prototype._choose = function (nowMs, floor) {
    var deadline = this.rules.deadline_ms;
    for (var li = 0; li < LEVELS.length; li++) {
      var level = LEVELS[li];
      if (level < floor || (level === 0 && this._pending.length)) continue;
      var start = nowMs;
      if (this._current) start += this._cost(this._current, this._remaining(this._current, level));
      var late = false;
      for (var i = 0; i < this._pending.length; i++) {
        if (start > this._due[i] + deadline) { late = true; break; }
        start += this._cost(this._pending[i], this._parts(this._pending[i], level, false));
      }
      if (!late) return level;
    }
    return Math.max(floor, LEVELS[LEVELS.length - 1]);
  };

  AnnounceQueue.prototype._languagesAt = function (call, level) {
    var langs = this.callLanguages(call);
    return level >= 2 ? langs.slice(0, 1) : langs;
  };

  AnnounceQueue.prototype._parts = function (call, level, first) {
    var chime = level < 3 || (first && this._idle);
    var langs = this._languagesAt(call, level);
    var voices = [];
    var rounds = level === 0 ? this.repeat : 1;
    for (var r = 0; r < rounds; r++) voices = voices.concat(langs);
    return chime ? [CHIME].concat(voices) : voices;
  };

  AnnounceQueue.prototype._remaining = function (call, level) {
    var parts = this._parts(call, level, true);
    var voicesSaid = this._said.filter(function (p) { return p !== CHIME; }).length;
    var voices = parts.filter(function (p) { return p !== CHIME; }).slice(voicesSaid);
    var chimeFirst = !this._said.length && parts[0] === CHIME;
    return chimeFirst ? [CHIME].concat(voices) : voices;
  };

  AnnounceQueue.prototype._cost = function (call, parts) {
    var ms = 0;
    for (var i = 0; i < parts.length; i++) {
      ms += (parts[i] === CHIME ? this.rules.chime_ms : this.phraseMs(call, parts[i])) + this.gapMs;
    }
    return ms;
  };

  /** A scenario of tests/announce_vectors.json played through the rule (see announce_queue.py:simulate). */
  AnnounceQueue.simulate = function (scenario) {
    var options = scenario.options || {};
    var queue = new AnnounceQueue({ repeat: options.repeat != null ? options.repeat : 2,
      languages: options.languages || ['zh', 'en'], gapMs: options.gap_ms });
    var audio = scenario.audio_ms || {};
    var templates = scenario.texts || {};
    var events = scenario.events.map(function (raw, i) {
      var number = raw.number || 'A001';
      var win = String(raw.window != null ? raw.window : '1');
      var announce = {};
      Object.keys(templates).forEach(function (lang) {
        announce[lang] = { text: templates[lang].replace('{number}', number).replace('{window}', win) };
      });
      if (scenario.known) {
        Object.keys(audio).forEach(function (lang) { queue.learn(lang, number, win, audio[lang]); });
      }
      return { t: raw.t, evt: { seq: raw.seq != null ? raw.seq : i + 1, type: raw.type || 'ticket.called',
        at: raw.at != null ? raw.at : raw.t, window: win, ticket: { number: number }, announce: announce } };
    });
    var out = [];
    var t = 0, i = 0;
    function deliver(until) {
      while (i < events.length && events[i].t <= until) {
        queue.offer(events[i].evt, events[i].t);
        i++;
      }
    }
    for (;;) {
      deliver(t);
      var plan = queue.take(t);
      if (!plan) {
        if (i >= events.length) return out;
        t = events[i].t;
        continue;
      }
      var said = { seq: plan.call.seq, number: plan.call.number, window: plan.call.window, parts: [],
        start_ms: t };
      var part;
      while ((part = queue.step(t)) !== null) {
        said.parts.push(part);
        t += (part === CHIME ? queue.rules.chime_ms
          : (part in audio ? audio[part] : queue.phraseMs(plan.call, part))) + queue.gapMs;
        deliver(t);
      }
      out.push(said);
    }
  };

  global.AnnounceQueue = AnnounceQueue;

  // ---- playing it --------------------------------------------------------------------------

  function Announcer(options) {
    options = options || {};
    var self = this;
    this.languages = options.languages || ['zh', 'en'];
    this.chimeSrc = options.chimeSrc || '/audio/chime.wav';
    /** Server clock minus local clock, when the page learns it; 0 trusts the local clock. */
    this.clockOffsetMs = 0;
    this.now = options.now || function () { return Date.now() + self.clockOffsetMs; };
    this.log = options.log || (global.hallqPlaybackLog = global.hallqPlaybackLog || []);
    this.skipped = global.hallqSkippedCalls = global.hallqSkippedCalls || [];
    this.failures = global.hallqAudioFailures = global.hallqAudioFailures || [];
    this.unlockButton = options.unlockButton || null;
    this.queue = new AnnounceQueue({
      repeat: options.repeat || 1, languages: this.languages, gapMs: options.gapMs,
      onReplaced: function (old) { self._skip(old, 'superseded'); },
    });
    this.audio = {}; // call seq -> {src: <audio>} preloaded
    this.current = null;
    this.locked = false;
    this._audioCtx = null;
    // Fetch the chime once now, so that the first call of a rush does not wait for it
    // (behind its own voice files, on a browser's few connections per server).
    try {
      this._chimeWarm = new global.Audio();
      this._chimeWarm.preload = 'auto';
      this._chimeWarm.src = this.chimeSrc;
    } catch (e) { /* no audio */ }
    // The voice list loads asynchronously; ask early so it is there when a fallback needs it.
    try { if (global.speechSynthesis) global.speechSynthesis.getVoices(); } catch (e) { /* none */ }
    if (this.unlockButton) {
      this.unlockButton.addEventListener('click', function () { self.unlock(); });
    }
  }

  /**
   * Take in one hall event (any type: the queue follows the seq). Returns true when a call
   * was queued for speaking.
   */
  Announcer.prototype.handle = function (evt) {
    if (!evt || typeof evt.seq !== 'number') return false;
    if (!this.queue.offer(evt, this.now())) return false;
    var call = this.queue.calls().pop();
    call.queuedAt = now();
    this._preload(call);
    this._pump();
    return true;
  };

  Announcer.prototype._skip = function (call, reason) {
    this.skipped.push({ number: call.number, window: call.window, seq: call.seq, type: call.evt.type,
      reason: reason, at: Date.now() });
    delete this.audio[call.seq];
  };

  /** Start fetching the clips now (so the voice follows the chime without a gap); learn their lengths. */
  Announcer.prototype._preload = function (call) {
    var self = this;
    var els = this.audio[call.seq] = {};
    var srcs = [[null, this.chimeSrc]];
    for (var i = 0; i < this.languages.length; i++) {
      var a = call.evt.announce && call.evt.announce[this.languages[i]];
      if (a && a.audio) srcs.push([this.languages[i], a.audio]);
    }
    srcs.forEach(function (pair) {
      var el = new global.Audio();
      el.preload = 'auto';
      if (pair[0]) {
        el.addEventListener('loadedmetadata', function () {
          if (isFinite(el.duration) && el.duration > 0) {
            self.queue.learn(pair[0], call.number, call.window, el.duration * 1000);
          }
        });
      }
      el.src = pair[1];
      els[pair[1]] = el;
    });
  };

  Announcer.prototype._pump = function () {
    var self = this;
    if (self.current || self.locked) return;
    var plan = self.queue.take(self.now());
    if (!plan) return;
    var call = plan.call;
    self.current = call;
    self._announce(call).then(function (outcome) {
      self.current = null;
      if (outcome === 'blocked') {
        self.locked = true;
        self.queue.giveBack(); // say it once sound is enabled
        self._showUnlock(true);
        return;
      }
      delete self.audio[call.seq];
      self._pump();
    });
  };

  /** Play the current call part by part, as the queue says; resolves 'done' or 'blocked'. */
  Announcer.prototype._announce = function (call) {
    var self = this;
    function next() {
      var part = self.queue.step(self.now());
      if (part === null) return Promise.resolve('done');
      var step;
      if (part === CHIME) {
        step = { kind: 'chime', src: self.chimeSrc };
      } else {
        var a = call.evt.announce[part] || {};
        step = { kind: 'voice', lang: part, src: a.audio, text: a.text };
      }
      return self._step(call, step).then(function (outcome) {
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
      type: item.evt.type, seq: item.evt.seq, via: via, queued_at: item.queuedAt || null,
      started_at: null, ended_at: null,
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
    var els = self.audio[item.seq] || {};
    var el = els[step.src];
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
