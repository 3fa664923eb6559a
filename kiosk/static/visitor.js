/* Visitor's ticket page (/t/{token}): where they stand, live over /ws/tickets/{token}; an
 * unmissable call (big window, flashing, vibration, chime); what to do after a no-show, transfer or
 * suspension; cancel; rate the visit when done. While the ticket is open the screen is kept awake
 * (Wake Lock, asked again whenever the page becomes visible: browsers drop it on hiding); a ticket
 * taken on the phone before arriving (远程取号) says when to set out. Holds no personal data. */
(function () {
  "use strict";
  var HQ = window.HQ;
  var data = HQ.readJSON("visitor-data") || {};
  var token = data.token;
  var savedLang = null;
  try { savedLang = sessionStorage.getItem("hallq.lang"); } catch (e) { /* private mode */ }
  HQ.init();

  var READY_AHEAD = 3;           // at or below this many people ahead: "get ready"
  var VIBRATE = [400, 200, 400, 200, 800];
  var chime = null;
  var soundOn = false;
  var userChoseLang = !!savedLang;  // otherwise the page follows the language chosen at the kiosk
  var last = null;               // last {ticket, ahead, eta_s}
  var notice = null;             // {key, vars}: what happened, until the ticket moves on
  var gone = false;              // unknown ticket: stop reconnecting
  var connection = document.querySelector("[data-connection]");
  var receivedAt = 0;            // Date.now() when `last` arrived: its eta_s counts from then
  // 远程取号: "set out by", keeping HALL.constants.set_out_margin_s in hand (server/remote.py set_out_in_s)
  var MARGIN_S = HQ.hall.constants.set_out_margin_s;
  var opensAt = data.opens_at_ms || 0;  // taken before opening: the queue moves from then
  var TRAVEL_KEY = "hallq.travel_min";
  var TRAVEL_CHOICES = [0, 10, 20, 30, 45, 60, 90];
  var wakeLock = null;           // the screen's WakeLockSentinel while held
  var wakeAsked = false;         // a request is on its way

  function byId(id) { return document.getElementById(id); }

  /** Seconds until the visitor should set out (0: now), as server/remote.py set_out_in_s. */
  function setOutIn(waitS, travelS, opensInS) {
    return Math.max(0, Math.floor(Math.max(0, opensInS) + waitS - travelS - MARGIN_S));
  }
  function travelMin() {
    var saved = null;
    try { saved = localStorage.getItem(TRAVEL_KEY); } catch (e) { /* private mode */ }
    var n = saved === null ? 30 : parseInt(saved, 10);
    return TRAVEL_CHOICES.indexOf(n) >= 0 ? n : 30;
  }

  if (data.missing || !token) { showMissing(); return; }

  HQ.onLang(function () { userChoseLang = true; render(); });

  function showMissing() {
    gone = true;
    if (hs) hs.stop();
    byId("view").hidden = true;
    byId("missing").hidden = false;
    connection.hidden = true;
    document.title = HQ.t("v_missing_title");
  }

  // ---- following the hall ----
  // With place-rule.js loaded the socket asks for the hall's shared event frames
  // (?follow=moves) and this page keeps its own place: people ahead and ETA move with each call
  // (HQPlace.step). It reads its ticket again only when the rule says so: a missed frame, an event
  // about this ticket, a line it does not know, a new day or hall file.
  var Place = window.HQPlace || null;
  var place = null;              // where the ticket stands, as of place.seq
  var seenSeq = 0;               // the last hall event seen (a gap means frames were missed)
  var reading = null;            // events that arrived while the ticket was being read again

  function reread(eventType) {
    if (reading) return;
    reading = [];
    HQ.api("GET", "/api/tickets/" + encodeURIComponent(token)).then(function (res) {
      var queued = reading || [];
      reading = null;
      if (res.status === 404) { showMissing(); return; }
      if (!res.ok || !res.data) { setTimeout(function () { reread(eventType); }, 2000); return; }
      got(Object.assign({}, res.data, { event: eventType || null }));
      queued.forEach(onEvent);
    });
  }

  function got(msg) {
    place = msg.place || null;
    if (typeof msg.seq === "number") seenSeq = Math.max(seenSeq, msg.seq);
    update(msg);
  }

  function onEvent(ev) {
    if (reading) { reading.push(ev); return; }
    var gap = ev.seq !== seenSeq + 1 && ev.seq > seenSeq;
    if (ev.seq <= seenSeq) return;
    seenSeq = ev.seq;
    var mine = ev.ticket && last && ev.ticket.number === last.ticket.number;
    if (!place) {
      // not waiting: only this ticket's own events (or a missed frame) change what the page says
      if (mine || gap || ev.type === "hall.reset") reread(ev.type);
      return;
    }
    var next = Place.step(place, ev);
    if (next === null) { reread(mine ? ev.type : null); return; }
    place = next;
    update({ ticket: last.ticket, ahead: Place.ahead(next), eta_s: Place.etaS(next), place: next });
  }

  // ---- socket ----
  // The pages' one reconnecting client (hallsocket.js: jittered back-off, a silence watchdog,
  // seq order and gap refill). The ticket frame that opens each connection says as of which
  // event it was read, so the socket's seq follows it.
  var hs = null;
  function connect() {
    if (gone) return;
    var url = "/ws/tickets/" + encodeURIComponent(token) + (Place ? "?follow=moves" : "");
    hs = new HallSocket({
      url: HQ.wsUrl(url),
      onStatus: function (status) {
        if (gone) return;
        connection.hidden = status === "online";
        connection.textContent = HQ.t(status === "redis-down" ? "redis_down" : "offline");
      },
      onSnapshot: function () { if (Place) reread(null); },
      onEvent: function (ev) { if (Place) onEvent(ev); },
      onMessage: function (msg) {
        if (msg.type === "ticket") {
          if (typeof msg.seq === "number") hs.seq = msg.seq;
          if (Place) got(msg); else update(msg);
        } else if (msg.type === "error") {
          if (msg.error && (msg.error.code === "unknown_ticket" || msg.error.code === "not_found")) showMissing();
        }
      },
    });
    hs.start();
  }
  // A phone wakes from sleep with a dead socket: reconnect at once instead of after the back-off.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && hs && hs.status === "offline" && !gone) hs.reconnect();
    keepAwake(); // the browser released the screen lock when the page was hidden
  });

  // ---- the screen stays awake while the ticket is open ----
  function keepAwake() {
    var open = last && (last.ticket.status === "waiting" || last.ticket.status === "called" ||
      last.ticket.status === "suspended");
    if (!open) {
      if (wakeLock) { var lock = wakeLock; wakeLock = null; lock.release().catch(function () { /* gone */ }); }
      return;
    }
    if (wakeLock || wakeAsked || !navigator.wakeLock || document.visibilityState !== "visible") return;
    wakeAsked = true;
    navigator.wakeLock.request("screen").then(function (lock) {
      wakeAsked = false;
      wakeLock = lock;
      lock.addEventListener("release", function () { if (wakeLock === lock) wakeLock = null; });
    }, function () { wakeAsked = false; /* refused (battery saver, not visible): the page still works */ });
  }

  // ---- state ----
  function sameSet(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    return a.every(function (x) { return b.indexOf(x) >= 0; });
  }

  /** What happened between two versions of the ticket, as a notice to show (or null). */
  function whatHappened(prev, t, eventType) {
    if (t.status === "no_show") return { key: "v_no_show" };
    if (t.status === "suspended") return { key: "v_suspended", window: t.window || (prev && prev.window) || null };
    if (t.status === "cancelled") return { key: "v_cancelled" };
    if (t.status === "expired") return { key: "v_expired" };
    if (t.status !== "waiting") return null;
    var transferred = eventType === "ticket.transferred";
    var requeued = eventType === "ticket.requeued";
    var resumed = eventType === "ticket.resumed";
    if (!eventType) {
      // The socket carries the ticket, not the event: tell from how the ticket changed. A
      // transferred ticket is marked (transferred, to_window); one put back after a no-show is not.
      if (prev && (prev.status === "called" || prev.status === "serving")) {
        if (!sameSet(prev.services, t.services) || (t.transferred && !prev.transferred) ||
            (t.to_window && t.to_window !== prev.to_window)) transferred = true;
        else requeued = true;
      } else if (prev && prev.status === "suspended") {
        resumed = true;
      } else if (!prev && t.transferred) {
        transferred = true; // opened the page after the transfer
      }
    }
    if (transferred) {
      // Names are looked up when the notice is shown, in the page's language at that moment.
      return { key: "v_transferred", to_window: t.to_window || null, services: t.services.slice() };
    }
    if (requeued) return { key: "v_requeued" };
    if (resumed) return { key: "v_resumed" };
    return notice; // still waiting: keep whatever we said last
  }
  /** The notice's words in the current language (names resolved now, not when it happened). */
  function noticeText(n) {
    var vars = {};
    if (n.key === "v_suspended") vars.window = n.window ? HQ.windowName(n.window) : HQ.t("v_the_window");
    if (n.key === "v_transferred") {
      vars.to = n.to_window ? HQ.windowName(n.to_window)
        : n.services.map(function (s) { return HQ.serviceName(s); }).join(HQ.t("list_sep"));
    }
    return HQ.t(n.key, vars);
  }

  function update(msg) {
    var prev = last && last.ticket;
    var t = msg.ticket;
    if (!userChoseLang && t.lang && HQ.languages().indexOf(t.lang) >= 0 && t.lang !== HQ.lang) {
      HQ.setLang(t.lang);
      userChoseLang = false;
    }
    notice = whatHappened(prev, t, msg.event || null);
    var newCall = t.status === "called" && (!prev || prev.status !== "called" || prev.called_at !== t.called_at);
    last = msg;
    receivedAt = Date.now();
    render();
    keepAwake();
    if (newCall) alertCall(!!prev);
  }

  function render() {
    if (!last) return;
    var t = last.ticket;
    byId("view").hidden = false;
    byId("missing").hidden = true;
    byId("number").textContent = t.number;
    byId("priority").hidden = !t.priority;
    byId("services").textContent = t.services.map(function (s) { return HQ.serviceName(s); }).join(HQ.t("list_sep"));
    byId("status").textContent = HQ.t("st_" + t.status);
    document.body.setAttribute("data-status", t.status);

    var waiting = t.status === "waiting";
    byId("queue").hidden = !waiting;
    if (waiting) {
      var n = last.ahead;
      byId("ahead").textContent = n === 0 ? HQ.t("v_ahead_none") : n === 1 ? HQ.t("v_ahead_one") : HQ.t("v_ahead", { n: n });
      byId("ahead").setAttribute("data-ahead", String(n));
      byId("eta").textContent = HQ.t("v_eta", { d: HQ.formatWait(last.eta_s) });
    }
    byId("remote").hidden = !t.remote;
    renderSetOut(waiting && !!t.remote);
    byId("keep-open").hidden = !(waiting || t.status === "called");
    byId("ready").hidden = !(waiting && last.ahead <= READY_AHEAD);

    var callout = byId("callout");
    var called = t.status === "called" || t.status === "serving";
    callout.hidden = !called;
    if (called) {
      var w = t.window ? HQ.windowName(t.window) : HQ.t("v_the_window");
      byId("callout-sub").textContent = HQ.t(t.status === "called" ? "v_called_sub" : "st_serving");
      byId("callout-window").textContent = HQ.t(t.status === "called" ? "v_called" : "v_serving", { window: w });
      callout.setAttribute("data-window", t.window || "");
    }

    var n2 = byId("notice");
    var done = t.status === "done";
    var showNotice = notice && !called && !done;
    n2.hidden = !showNotice;
    if (showNotice) n2.textContent = noticeText(notice);
    // Done is a calm final state: a thank-you and the rating, no alert and no sound to turn on.
    byId("done").hidden = !done;
    byId("rate-link").hidden = !done || !!(t.rating || rated());
    var final = done || t.status === "no_show" || t.status === "cancelled" || t.status === "expired";
    byId("sound").hidden = final;

    byId("cancel").hidden = !waiting;
    renderSms(t);
    renderRating(t);
    document.title = (t.status === "called" ? "🔔 " : "") + t.number + " · " + HQ.t("v_title");
  }

  // ---- when to set out (remote tickets) ----
  var travel = byId("travel");
  TRAVEL_CHOICES.forEach(function (n) {
    var option = document.createElement("option");
    option.value = String(n);
    travel.appendChild(option);
  });
  travel.value = String(travelMin());
  travel.addEventListener("change", function () {
    try { localStorage.setItem(TRAVEL_KEY, travel.value); } catch (e) { /* private mode */ }
    render();
  });
  function renderSetOut(show) {
    var box = byId("set-out");
    box.hidden = !show;
    if (!show) return;
    Array.prototype.forEach.call(travel.options, function (o) {
      o.textContent = HQ.t("v_travel_min", { n: parseInt(o.value, 10) });
    });
    // eta_s counts from when it arrived, or from the opening if that is later
    var now = Date.now();
    var moved = Math.max(0, (now - Math.max(receivedAt, opensAt)) / 1000);
    var inS = setOutIn(Math.max(0, last.eta_s - moved), travelMin() * 60, (opensAt - now) / 1000);
    box.setAttribute("data-set-out-s", String(Math.round(inS)));
    if (inS < 60) { byId("set-out-time").textContent = HQ.t("v_set_out_now"); return; }
    var at = new Date(Date.now() + inS * 1000).toLocaleTimeString("en-GB", {
      hour: "2-digit", minute: "2-digit", hour12: false, timeZone: HQ.hall.timezone || undefined,
    });
    byId("set-out-time").textContent = HQ.t("v_set_out", { time: at });
  }
  setInterval(function () { if (last && last.ticket.remote && last.ticket.status === "waiting") render(); }, 30000);

  // ---- the call ----
  function alertCall(live) {
    var callout = byId("callout");
    callout.classList.remove("v-flash");
    void callout.offsetWidth; // restart the animation on a recall
    callout.classList.add("v-flash");
    if (!live) return; // opening the page on an old call: show it, but do not buzz
    if (navigator.vibrate) { try { navigator.vibrate(VIBRATE); } catch (e) { /* not allowed */ } }
    playChime();
  }
  function playChime() {
    if (!chime) chime = new Audio("/audio/chime.wav");
    chime.currentTime = 0;
    var p = chime.play();
    if (p && p.catch) p.catch(function () { /* autoplay blocked until the visitor taps "turn on sound" */ });
  }
  byId("sound").addEventListener("click", function () {
    // A tap is the user gesture browsers require before a page may play sound later.
    soundOn = true;
    playChime();
    byId("sound").setAttribute("aria-pressed", "true");
    byId("sound").setAttribute("data-i18n", "v_sound_is_on");
    byId("sound").textContent = HQ.t("v_sound_is_on");
  });

  // ---- cancel ----
  byId("cancel").addEventListener("click", function () {
    if (!last) return;
    HQ.ask(HQ.t("v_cancel_confirm", { number: last.ticket.number }), HQ.t("v_cancel"), HQ.t("back")).then(function (yes) {
      if (!yes) return;
      HQ.api("DELETE", "/api/tickets/" + encodeURIComponent(token)).then(function (res) {
        if (!res.ok) {
          var err = res.data && res.data.error;
          byId("message").textContent = HQ.t("v_cancel_failed", { message: HQ.refusalText(err || { code: "http_error" }) });
          return;
        }
        byId("message").textContent = "";
        if (res.data && res.data.ticket) update({ type: "ticket", ticket: res.data.ticket, ahead: 0, eta_s: 0 });
      });
    });
  });

  // ---- text messages (the hall's [sms]): leave or delete a number; only its masked form comes back ----
  var smsPhone = null;           // "138****5678" once left, else null
  var smsAsked = false;
  function renderSms(t) {
    var open = t.status === "waiting" || t.status === "called" || t.status === "suspended";
    byId("sms").hidden = !(HQ.hall && HQ.hall.sms) || !open;
    if (byId("sms").hidden) return;
    if (!smsAsked) { smsAsked = true; loadSms(); }
    byId("sms-note").textContent = HQ.t("v_sms_note", { n: HQ.hall.sms.ahead });
    byId("sms-form").hidden = !!smsPhone;
    byId("sms-left").hidden = !smsPhone;
    byId("sms-delete").hidden = !smsPhone;
    if (smsPhone) byId("sms-left").textContent = HQ.t("v_sms_left", { phone: smsPhone });
  }
  function smsPath() { return "/api/tickets/" + encodeURIComponent(token) + "/phone"; }
  function loadSms() {
    HQ.api("GET", smsPath()).then(function (res) {
      if (res.ok && res.data) { smsPhone = res.data.phone || null; render(); }
    });
  }
  byId("sms-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var phone = byId("sms-phone").value;
    HQ.api("POST", smsPath(), { phone: phone }).then(function (res) {
      if (!res.ok) {
        byId("sms-message").textContent = HQ.refusalText((res.data && res.data.error) || { code: "http_error" });
        return;
      }
      byId("sms-phone").value = "";  // the page keeps no number
      byId("sms-message").textContent = "";
      smsPhone = res.data.phone;
      render();
    });
  });
  byId("sms-delete").addEventListener("click", function () {
    HQ.api("DELETE", smsPath()).then(function (res) {
      if (!res.ok) {
        byId("sms-message").textContent = HQ.refusalText((res.data && res.data.error) || { code: "http_error" });
        return;
      }
      smsPhone = null;
      byId("sms-message").textContent = HQ.t("v_sms_deleted");
      render();
    });
  });

  // ---- rating ----
  // a score at or below it is a bad rating (差评): server/queue/constants.json, as HQ.hall.constants
  var BAD_MAX = HQ.hall.constants.bad_max;
  var answerAsked = false;
  var RATED_KEY = "hallq.rated." + token;
  function rated() { try { return localStorage.getItem(RATED_KEY); } catch (e) { return null; } }
  function renderRating(t) {
    var section = byId("rate");
    section.hidden = t.status !== "done";
    var r = t.rating ? String(t.rating) : rated(); // the server's record first
    var buttons = section.querySelectorAll("[data-score]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = !!r;
      buttons[i].setAttribute("aria-pressed", r === buttons[i].getAttribute("data-score") ? "true" : "false");
    }
    if (r) byId("rate-message").textContent = HQ.t(r === "closed" ? "v_rate_closed" : "v_rated");
    // reopening the page of a badly rated visit: ask once for the hall's answer
    if (!answerAsked && t.status === "done" && t.rating && t.rating <= BAD_MAX) { answerAsked = true; loadAnswer(); }
  }
  // A bad score (at or below BAD_MAX) asks what went wrong, like the rating pad;
  // every score is confirmed before it is sent (a rating cannot be changed).
  var pending = null;   // the bad score waiting for its reasons
  function send(score, reasons) {
    var level = HQ.t("rating_" + score);
    HQ.ask(HQ.t("v_rate_confirm", { level: level }), HQ.t("v_rate_send"), HQ.t("v_rate_change")).then(function (yes) {
      if (!yes) return;
      HQ.api("POST", "/api/tickets/" + encodeURIComponent(token) + "/rating", { score: score, reasons: reasons }).then(function (res) {
        var mark = res.ok ? String(score) : res.status === 409 ? "closed" : null;
        if (mark) { try { localStorage.setItem(RATED_KEY, mark); } catch (e) { /* ignore */ } }
        else byId("rate-message").textContent = HQ.errorText(res);
        if (mark) { pending = null; byId("rate-reasons").hidden = true; }
        if (last) renderRating(last.ticket);
        if (res.ok && score <= BAD_MAX) { answerAsked = true; loadAnswer(); }
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("#rate [data-score]"), function (b) {
    b.addEventListener("click", function () {
      var score = parseInt(b.getAttribute("data-score"), 10);
      if (score <= BAD_MAX) {
        pending = score;
        byId("rate-reasons").hidden = false;
        Array.prototype.forEach.call(document.querySelectorAll("#rate [data-score]"), function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
        });
        return;
      }
      pending = null;
      byId("rate-reasons").hidden = true;
      send(score, []);
    });
  });
  byId("rate-send").addEventListener("click", function () {
    if (pending === null) return;
    var reasons = Array.prototype.map.call(document.querySelectorAll("#rate-reasons input:checked"), function (c) {
      return c.value;
    });
    send(pending, reasons);
  });

  // The 差评 follow-up: once the hall answered "by phone page", the answer shows here.
  function loadAnswer() {
    HQ.api("GET", "/api/tickets/" + encodeURIComponent(token)).then(function (res) {
      var c = res.ok && res.data && res.data.case;
      if (!c) return;
      byId("case-answer").hidden = false;
      var text = byId("case-answer-text");
      if (c.answer) { text.removeAttribute("data-i18n"); text.textContent = c.answer; }
      else { text.setAttribute("data-i18n", "v_case_pending"); text.textContent = HQ.t("v_case_pending"); }
    });
  }

  connect();
})();
