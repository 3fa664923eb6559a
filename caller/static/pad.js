/* Clerk pad (叫号器) page: log in, choose a window, then drive it over the pad socket
 * /ws/halls/{hall}/windows/{window}, authenticated by a first message {"type":"auth","token":…}.
 *
 * Exactly-once presses: every press gets a request_id. While it is unanswered further presses are
 * ignored (a double tap calls one visitor). If the connection drops, or the answer is late, the
 * socket is reopened and the SAME message (same request_id) is sent again; the server performs an
 * action once per request_id and answers a repeat with the first answer. */
(function () {
  "use strict";
  var HQ = window.HQ;
  var P = window.HQPad;
  HQ.init();

  var hallId = HQ.hall.id;
  var KEY = "hallq.pad." + hallId;
  var ANSWER_TIMEOUT_MS = 8000;  // no answer this long on an open socket: reopen it and resend
  // close codes after which reconnecting cannot help (not logged in, not allowed, no such
  // window): the server's own table (server/edge.py), rendered into this page
  var AUTH_CLOSE_CODES = JSON.parse(document.getElementById("close-codes").textContent).final;

  var session = load();
  var keymap = null;
  var windowId = null;
  var hs = null;             // the pad socket (a HallSocket) while a window is chosen
  var wsOpen = false;
  var win = null;           // {id, status, ticket, clerk} from window_state
  var waiting = {};
  var queue = [];           // the first tickets this window can call, in calling order
  var queueTotal = null;    // how many distinct tickets it can call (a combined one counts once)
  var suspended = [];       // tickets on hold it could resume
  var served = 0;
  var DEFAULT_CALL_GAP_S = 3;  // the hall's min_call_interval_s when neither it nor the window says
  var callGapS = null;      // min_call_interval_s from the window state
  var callBlockedUntil = 0; // no 叫号 before this (Date.now() ms): a double tap calls one visitor
  var pending = null;       // the unanswered action message (with its request_id)
  var closeWaiter = null;   // resolves when the "close" action is answered (logout / change window)
  var openedOnce = false;
  var notAllowed = false;   // the server said window_not_allowed: its final close leads to choosing
  var clockSkew = null;     // server clock minus ours: the largest (at − now) seen, as events
                            // arrive after they happen; used for "time since the call"
  var connection = document.querySelector("[data-connection]");

  function byId(id) { return document.getElementById(id); }
  function load() { try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; } }
  function token() { return session && session.token; }
  function myServices() {
    var w = HQ.windowInfo(windowId);
    return (w && w.services) || [];
  }

  // ---- screens ----
  function show(name) {
    ["login", "choose", "pad"].forEach(function (s) { byId(s).hidden = s !== name; });
    byId("logout").hidden = name === "login";
    byId("change-window").hidden = name !== "pad";
    document.body.setAttribute("data-screen", name);
  }
  function showLogin(messageKey) {
    disconnect();
    session = null;
    sessionStorage.removeItem(KEY);
    byId("who").textContent = "";
    byId("window-title").textContent = "";
    byId("login-message").textContent = messageKey ? HQ.t(messageKey) : "";
    show("login");
    byId("login-staff").focus();
  }
  /** The windows to choose from: the clerk's own (staff.windows, set by the manager), else all. */
  function myWindows() {
    var mine = session.staff.windows;
    return (HQ.hall.windows || []).filter(function (w) { return !mine || mine.indexOf(String(w.id)) >= 0; });
  }
  function showChoose(message) {
    // a refusal's words outlive the page's own reload after the hall change that caused it
    if (message) sessionStorage.setItem(KEY + ".said", message);
    else { message = sessionStorage.getItem(KEY + ".said") || ""; sessionStorage.removeItem(KEY + ".said"); }
    disconnect();
    windowId = null;
    byId("window-title").textContent = "";
    byId("who").textContent = session.staff.name || session.staff.id;
    byId("choose-message").textContent = message || "";
    var list = byId("window-list");
    list.textContent = "";
    myWindows().forEach(function (w) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "hq-btn";
      b.setAttribute("data-window", w.id);
      var name = document.createElement("span");
      name.textContent = HQ.windowName(w.id);
      var sv = document.createElement("small");
      sv.textContent = (w.services || []).map(function (s) { return HQ.serviceName(s); }).join(HQ.t("list_sep"));
      b.appendChild(name); b.appendChild(sv);
      b.addEventListener("click", function () { openWindow(String(w.id)); });
      list.appendChild(b);
    });
    show("choose");
    var first = list.querySelector("button");
    if (first) first.focus();
  }
  function openWindow(id) {
    windowId = id;
    win = null; waiting = {}; served = 0; pending = null; openedOnce = false;
    queue = []; queueTotal = null; suspended = []; callBlockedUntil = 0;
    byId("window-title").textContent = "· " + HQ.windowName(id);
    setOutcome("");
    buildButtons();
    show("pad");
    connect();
  }

  // ---- login / logout ----
  byId("login").addEventListener("submit", function (e) {
    e.preventDefault();
    HQ.api("POST", "/api/auth/login", {
      hall: hallId, staff: byId("login-staff").value.trim(), pin: byId("login-pin").value,
    }).then(function (res) {
      byId("login-pin").value = "";
      if (!res.ok) {
        byId("login-message").textContent = res.status === 401 ? HQ.t("d_bad_login") : HQ.errorText(res);
        return;
      }
      if (!isClerk(res.data.staff)) {
        byId("login-message").textContent = HQ.t("p_not_clerk");
        HQ.api("POST", "/api/auth/logout", {}, res.data.token);
        return;
      }
      session = { token: res.data.token, staff: res.data.staff };
      sessionStorage.setItem(KEY, JSON.stringify(session));
      afterLogin();
    });
  });
  /** The pad socket takes clerks and admins (CONTRACT: clerk actions); a desk account cannot. */
  function isClerk(staff) { return !!staff && (staff.role === "clerk" || staff.role === "admin"); }
  function afterLogin() {
    var w = new URLSearchParams(location.search).get("window");
    if (w && HQ.windowInfo(w)) { byId("who").textContent = session.staff.name || session.staff.id; openWindow(w); }
    else showChoose();
  }

  /**
   * Leave the window (action "close"), waiting briefly for the answer. Resolves true when the
   * pad may go (closed, or no answer in time); false when the server refused — a window with a
   * ticket in hand cannot close, and the clerk is told to finish it first.
   */
  function closeWindow() {
    if (!windowId || !wsOpen) return Promise.resolve(true);
    if (pending) { setOutcome(HQ.t("p_busy")); return Promise.resolve(false); }
    return new Promise(function (resolve) {
      var id = HQ.requestId();
      // No answer in time (server gone): leave anyway; the session still ends at logout.
      var timer = setTimeout(function () { closeWaiter = null; resolve(true); }, 5000);
      closeWaiter = {
        request_id: id,
        done: function (msg) {
          clearTimeout(timer);
          closeWaiter = null;
          if (!msg.ok) setOutcome(HQ.t("r_failed", { message: HQ.refusalText(msg.error) }), true);
          resolve(!!msg.ok);
        },
      };
      hs.send({ action: "close", request_id: id });
    });
  }
  byId("logout").addEventListener("click", function () {
    var ask = windowId ? HQ.ask(HQ.t("p_logout_confirm"), HQ.t("d_logout"), HQ.t("back")) : Promise.resolve(true);
    ask.then(function (yes) {
      if (!yes) return;
      var t = token();
      closeWindow().then(function (closed) {
        if (!closed) return;
        var done = t ? HQ.api("POST", "/api/auth/logout", {}, t) : Promise.resolve();
        return done.then(function () { showLogin(); });
      });
    });
  });
  byId("change-window").addEventListener("click", function () {
    closeWindow().then(function (closed) { if (closed) showChoose(); });
  });

  // ---- socket ----
  // The pages' one reconnecting client (hallsocket.js: back-off with jitter, a silence
  // watchdog, the server's final close codes). The token goes in the first message, never in
  // the URL (URLs end up in proxy logs).
  function connect() {
    disconnect();
    // auth=message: this pad's own login, not whichever session cookie the browser last got
    var path = "/ws/halls/" + encodeURIComponent(hallId) + "/windows/" + encodeURIComponent(windowId) + "?auth=message";
    hs = new HallSocket({
      url: HQ.wsUrl(path),
      finalCloseCodes: AUTH_CLOSE_CODES,
      onOpen: function (socket) {
        socket.send({ type: "auth", token: token() });
        if (pending) transmit();   // a press that was not answered before the drop: same request_id
        render();
      },
      onStatus: function (status) {
        wsOpen = status !== "offline";
        connection.hidden = status === "online";
        connection.textContent = HQ.t(status === "redis-down" ? "redis_down" : "offline");
        render();
      },
      onFinalClose: function () {
        if (notAllowed) { notAllowed = false; refusedHere(); return; }
        showLogin("p_session_over");
      },
      onMessage: onMessage,
    });
    hs.start();
  }
  /**
   * The server refused this window to this clerk (window_not_allowed: the manager changed their
   * windows): read who they are again (/api/auth/me: their windows now) and let them choose.
   */
  function refusedHere() {
    var refused = windowId;
    HQ.api("GET", "/api/auth/me", null, token()).then(function (res) {
      if (!res.ok) { showLogin("p_session_over"); return; }
      session.staff = res.data.staff;
      sessionStorage.setItem(KEY, JSON.stringify(session));
      showChoose(HQ.t("p_window_not_allowed", { window: refused }));
    });
  }
  function disconnect() {
    if (hs) { var s = hs; hs = null; s.stop(); }
    wsOpen = false;
    connection.hidden = true;
  }

  function onMessage(msg) {
    if (typeof msg.at === "number") {
      var sample = msg.at - Date.now();
      clockSkew = clockSkew === null ? sample : Math.max(clockSkew, sample);
    }
    if (msg.type === "window_state") {
      win = msg.window;
      if (msg.waiting) waiting = msg.waiting;
      if (msg.queue) queue = msg.queue;
      if (typeof msg.queue_total === "number") queueTotal = msg.queue_total;
      if (msg.suspended) suspended = msg.suspended;
      if (typeof msg.min_call_interval_s === "number") callGapS = msg.min_call_interval_s;
      if (typeof msg.served_today === "number") served = msg.served_today;
      if (!openedOnce && win && win.status === "closed" && !pending) { openedOnce = true; send("open"); }
      openedOnce = true;
      render();
    } else if (msg.type === "result") {
      if (closeWaiter && msg.request_id === closeWaiter.request_id) { closeWaiter.done(msg); return; }
      if (!pending || msg.request_id !== pending.request_id) return;  // another pad's answer
      var action = pending.action;
      pending = null;
      if (action === "call_next" || action === "call") {
        // Called (or refused as just_called): the next 叫号 waits out the hall's interval.
        if (msg.ok || (msg.error && msg.error.code === "just_called")) callBlockedUntil = Date.now() + callGap() * 1000;
      }
      if (msg.ok) {
        var number = (msg.ticket && msg.ticket.number) || (win && win.ticket && win.ticket.number) || "";
        var key = action === "call_next" && !msg.ticket ? "r_ok_call_next_none" : "r_ok_" + action;
        setOutcome(HQ.t(key, { number: number }));
      } else {
        var err = msg.error || {};
        if (err.code === "not_logged_in") { showLogin("p_session_over"); return; }
        if (err.code === "window_not_allowed") { refusedHere(); return; }
        setOutcome(HQ.t("r_failed", { message: HQ.refusalText(err) }), true);
      }
      render();
    } else if (msg.type === "error") {
      var e2 = msg.error || {};
      if (e2.code === "window_not_allowed") notAllowed = true;  // the final close follows: choose again
      else if (/auth|token|forbidden|login/.test(e2.code || "")) showLogin("p_session_over");
      else setOutcome(HQ.t("r_failed", { message: HQ.refusalText(e2) }), true);
    }
    // Hall events need no handling here: the server follows each with a fresh window_state
    // (waiting counts for this window's services, served today), which replaces ours.
  }

  // ---- actions ----
  function allowed() {
    var t = win && win.ticket;
    return P.allowedActions(win ? win.status : "closed", t ? t.status : null);
  }

  /** Send an action once. Ignored (returns false) while another is unanswered or not allowed. */
  function send(action, extra) {
    if (pending) { setOutcome(HQ.t("p_busy")); return false; }
    if (action !== "open" && action !== "close" && !allowed()[action]) return false;
    pending = { action: action, request_id: HQ.requestId() };
    if (extra) Object.keys(extra).forEach(function (k) { pending[k] = extra[k]; });
    setOutcome(HQ.t("p_busy"));
    transmit();
    render();
    return true;
  }
  function transmit() {
    if (!pending) return;
    pending.sentAt = Date.now();
    var msg = {};
    Object.keys(pending).forEach(function (k) { if (k !== "sentAt") msg[k] = pending[k]; });
    if (!(wsOpen && hs && hs.send(msg))) {
      setOutcome(HQ.t("p_queued"));
    }
  }
  // A socket that swallowed a message without answering is reopened; onOpen resends it.
  setInterval(function () {
    if (pending && wsOpen && hs && Date.now() - pending.sentAt > ANSWER_TIMEOUT_MS) hs.reconnect();
  }, 1000);

  /** Seconds between two calls of this window: the window state's, the hall's, or 3. */
  function callGap() {
    if (typeof callGapS === "number") return callGapS;
    var h = HQ.hall || {};
    if (typeof h.min_call_interval_s === "number") return h.min_call_interval_s;
    if (h.rules && typeof h.rules.min_call_interval_s === "number") return h.rules.min_call_interval_s;
    return DEFAULT_CALL_GAP_S;
  }
  function callWaitS() { return Math.max(0, Math.ceil((callBlockedUntil - Date.now()) / 1000)); }

  function press(action) {
    if (pending || !wsOpen) return;
    if (!allowed()[action]) return;
    if (action === "call_next" && callWaitS() > 0) {
      // A second tap right after a call: ignored, and the clerk is told why.
      setOutcome(HQ.t("r_ignored_tap", { n: callWaitS() }));
      return;
    }
    if (action === "call" || action === "resume") askNumber(action);
    else if (action === "transfer") askTransfer();
    else send(action);
  }

  // ---- the button grid ----
  function buildButtons() {
    var box = byId("actions");
    box.textContent = "";
    P.ACTIONS.forEach(function (a) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "hq-btn pad-action";
      b.setAttribute("data-action", a);
      var main = document.createElement("span"); main.className = "a-main";
      var sub = document.createElement("span"); sub.className = "a-sub";
      var kbd = document.createElement("kbd");
      kbd.textContent = keymap ? P.keyHint(keymap, a) : "";
      b.appendChild(main); b.appendChild(sub); b.appendChild(kbd);
      b.addEventListener("click", function () { press(a); });
      // pointerdown too: a tap that lands while the button is briefly disabled (call in flight)
      // is still seen, and ignored with a reason instead of silently.
      b.addEventListener("pointerdown", function () { if (b.disabled && a === "call_next") explainBlocked(); });
      box.appendChild(b);
    });
    render();
  }

  function explainBlocked() {
    if (callWaitS() > 0) setOutcome(HQ.t("r_ignored_tap", { n: callWaitS() }));
  }

  function setOutcome(text, isError) {
    var o = byId("outcome");
    o.textContent = text;
    o.classList.toggle("hq-error", !!isError);
  }

  function render() {
    if (!windowId) return;
    var t = win && win.ticket;
    byId("cur-number").textContent = t ? t.number : HQ.t("p_none");
    byId("cur-services").textContent = t ? t.services.map(function (s) { return HQ.serviceName(s); }).join(HQ.t("list_sep")) : "";
    byId("cur-status").textContent = t ? HQ.t("st_" + t.status) : "";
    byId("cur-priority").hidden = !(t && t.priority);
    byId("win-status").textContent = win ? HQ.t("ws_" + win.status) : "–";
    byId("win-status").setAttribute("data-status", win ? win.status : "");
    renderSince();
    var sum = 0, parts = [];
    myServices().forEach(function (s) {
      var n = waiting[s] || 0;
      sum += n;
      parts.push(HQ.serviceName(s) + " " + n);
    });
    // The server counts distinct tickets; the per-service sum counts a combined ticket twice.
    byId("waiting-total").textContent = String(queueTotal === null ? sum : queueTotal);
    byId("waiting-services").textContent = parts.join(" · ");
    byId("served").textContent = String(served);

    var ok = allowed();
    Array.prototype.forEach.call(byId("actions").querySelectorAll("[data-action]"), function (b) {
      var a = b.getAttribute("data-action");
      b.querySelector(".a-main").textContent = HQ.t("a_" + a);
      b.querySelector(".a-sub").textContent = "";  // one language on a screen: the switch is in the header
      b.disabled = !ok[a] || !wsOpen || !!pending || (a === "call_next" && callWaitS() > 0);
      b.classList.toggle("pad-inflight", !!pending && pending.action === a);
    });
    document.body.setAttribute("data-pending", pending ? pending.action : "");
    renderCallWait();
    renderQueue(ok);
  }
  function renderCallWait() {
    var left = callWaitS();
    var el = byId("call-wait");
    el.hidden = left <= 0;
    el.textContent = left > 0 ? HQ.t("p_wait_call", { n: left }) : "";
    document.body.setAttribute("data-call-wait", String(left));
  }
  /** The numbers this window can call (tap: 特呼 with the number filled in) and those on hold. */
  function renderQueue(ok) {
    fillNumbers(byId("queue-list"), "data-queue-number", queue, !ok.call || !wsOpen || !!pending,
      function (number) { askNumber("call", number); },
      function (b, t) {
        b.className = "hq-btn pad-queue-number" + (t.priority ? " pad-priority" : "");
        b.title = t.services.map(function (s) { return HQ.serviceName(s); }).join(HQ.t("list_sep"));
      });
    var total = queueTotal === null ? queue.length : queueTotal;
    byId("queue-empty").hidden = total > 0;
    byId("queue-more").hidden = total <= queue.length;
    byId("queue-more").textContent = total > queue.length ? HQ.t("p_callable_more", { n: total - queue.length }) : "";
    fillNumbers(byId("suspended-list"), "data-suspended-number", suspended, !ok.resume || !wsOpen || !!pending,
      function (number) { askNumber("resume", number); },
      function (b) { b.className = "hq-btn pad-queue-number"; });
    byId("suspended-box").hidden = suspended.length === 0;
  }
  /**
   * Show `items` as number buttons (attribute `attr`) in `box`, in their order. A number still
   * listed keeps its button: the lists are drawn again at every event of the hall, and a tap
   * whose press and release straddled a redraw landed on a replaced button and did nothing.
   */
  function fillNumbers(box, attr, items, disabled, onTap, dress) {
    var kept = {};
    Array.prototype.forEach.call(box.querySelectorAll("[" + attr + "]"), function (b) { kept[b.getAttribute(attr)] = b; });
    var listed = {};
    items.forEach(function (t, i) {
      var b = kept[t.number];
      if (!b) {
        b = document.createElement("button");
        b.type = "button";
        b.setAttribute(attr, t.number);
        b.textContent = t.number;
        b.addEventListener("click", function () { onTap(b.getAttribute(attr)); });
      }
      dress(b, t);
      b.disabled = disabled;
      listed[t.number] = true;
      if (box.children[i] !== b) box.insertBefore(b, box.children[i] || null);  // moved only when out of place
    });
    Object.keys(kept).forEach(function (number) { if (!listed[number]) box.removeChild(kept[number]); });
  }
  function renderSince() {
    var t = win && win.ticket;
    byId("cur-since").textContent = t && t.called_at
      ? HQ.t("p_since_call", { t: HQ.clock(Date.now() + (clockSkew || 0) - t.called_at) }) : "";
  }
  setInterval(function () { if (windowId) renderSince(); }, 1000);
  // The countdown after a call, and the 叫号 button coming back when it ends.
  var wasWaiting = false;
  setInterval(function () {
    if (!windowId) return;
    var waitingNow = callWaitS() > 0;
    if (waitingNow || wasWaiting) render();
    wasWaiting = waitingNow;
  }, 250);
  HQ.onLang(function () { if (windowId) { byId("window-title").textContent = "· " + HQ.windowName(windowId); render(); } });

  // ---- prompts: call / resume a number, transfer ----
  var numberAction = null;
  function prefixes() { return (HQ.hall.services || []).map(function (s) { return s.prefix; }); }
  function askNumber(action, number) {
    if (pending || !wsOpen || !allowed()[action]) return;
    numberAction = action;
    var dlg = byId("dlg-number");
    byId("dlg-number-title").textContent = HQ.t("a_" + action) + " · " + HQ.t("p_number_title");
    byId("number-input").value = number || "";
    byId("number-message").textContent = "";
    var box = byId("number-prefixes");
    box.textContent = "";
    prefixes().forEach(function (p) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "hq-btn"; b.textContent = p;
      b.addEventListener("click", function () { byId("number-input").value = p; byId("number-input").focus(); });
      box.appendChild(b);
    });
    dlg.showModal();
    byId("number-input").focus();
  }
  byId("form-number").addEventListener("submit", function (e) {
    e.preventDefault();
    var number = P.parseTicketCode(byId("number-input").value, prefixes());
    if (!number) { byId("number-message").textContent = HQ.t("p_bad_number"); return; }
    byId("dlg-number").close();
    send(numberAction, { ticket: number });
  });

  function askTransfer() {
    var dlg = byId("dlg-transfer");
    byId("transfer-input").value = "";
    byId("transfer-message").textContent = "";
    var sbox = byId("transfer-services"), wbox = byId("transfer-windows");
    sbox.textContent = ""; wbox.textContent = "";
    (HQ.hall.services || []).forEach(function (s, i) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "hq-btn"; b.setAttribute("data-service", s.id);
      b.textContent = (i + 1) + " " + HQ.name(s.name);
      b.addEventListener("click", function () { dlg.close(); send("transfer", { service: s.id }); });
      sbox.appendChild(b);
    });
    (HQ.hall.windows || []).forEach(function (w) {
      if (String(w.id) === windowId) return;
      var b = document.createElement("button");
      b.type = "button"; b.className = "hq-btn"; b.setAttribute("data-to-window", w.id);
      b.textContent = HQ.windowName(w.id);
      b.addEventListener("click", function () { dlg.close(); send("transfer", { to_window: String(w.id) }); });
      wbox.appendChild(b);
    });
    dlg.showModal();
    byId("transfer-input").focus();
  }
  byId("form-transfer").addEventListener("submit", function (e) {
    e.preventDefault();
    var target = P.parseTransferCode(byId("transfer-input").value,
      (HQ.hall.services || []).map(function (s) { return s.id; }),
      (HQ.hall.windows || []).map(function (w) { return String(w.id); }).filter(function (w) { return w !== windowId; }));
    if (!target) { byId("transfer-message").textContent = HQ.t("p_bad_number"); return; }
    byId("dlg-transfer").close();
    send("transfer", target);
  });

  Array.prototype.forEach.call(document.querySelectorAll("dialog [data-close]"), function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  // The keypad's "-" cancels an open prompt (it has no Escape key).
  Array.prototype.forEach.call(document.querySelectorAll("dialog input"), function (input) {
    input.addEventListener("keydown", function (e) {
      if (keymap && (e.key === "-" || e.code === "NumpadSubtract")) { e.preventDefault(); input.closest("dialog").close(); }
    });
  });

  // ---- keyboard / USB numeric keypad ----
  document.addEventListener("keydown", function (e) {
    if (!keymap || !windowId || byId("pad").hidden) return;
    if (document.querySelector("dialog[open]")) return;
    var tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    // Enter or Space on a focused button activates that button, as keyboard users expect.
    if ((tag === "BUTTON" || tag === "SUMMARY") && (e.key === "Enter" || e.key === " ")) return;
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    var action = P.keyAction(keymap, e.key, e.code);
    if (!action || action === "help") return;
    e.preventDefault();
    press(action);
  });

  // ---- start ----
  fetch("/static/caller/keymap.json").then(function (r) { return r.json(); }).then(function (km) {
    keymap = km;
    if (windowId) buildButtons();
  }, function () { /* buttons still work without key bindings */ });

  if (token()) {
    HQ.api("GET", "/api/auth/me", null, token()).then(function (res) {
      if (res.ok && res.data && isClerk(res.data.staff)) { session.staff = res.data.staff; afterLogin(); }
      else showLogin(res.status === 401 ? "p_session_over" : null);
    });
  } else {
    showLogin();
  }
})();
