/* Consultation desk (咨询台) page: staff log in, issue tickets for visitors, find a ticket by number,
 * cancel or reprint it, and watch queue lengths and the longest wait live. */
(function () {
  "use strict";
  var HQ = window.HQ;
  HQ.init();
  HQ.setupPaper();

  var hallId = HQ.hall.id;
  var KEY = "hallq.desk." + hallId;
  var session = load();
  var state = null;
  var found = null;
  var connection = document.querySelector("[data-connection]");
  var pollTimer = null;

  function byId(id) { return document.getElementById(id); }
  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function token() { return session && session.token; }
  function allowed(staff) { return staff && (staff.role === "desk" || staff.role === "admin"); }

  // ---- session ----
  function showLogin(messageKey) {
    session = null;
    sessionStorage.removeItem(KEY);
    byId("desk").hidden = true;
    byId("logout").hidden = true;
    byId("who").textContent = "";
    byId("login").hidden = false;
    byId("login-message").textContent = messageKey ? HQ.t(messageKey) : "";
    byId("login-staff").focus();
  }
  function showDesk() {
    byId("login").hidden = true;
    byId("desk").hidden = false;
    byId("logout").hidden = false;
    byId("who").textContent = session.staff.name || session.staff.id;
    startLive();
  }
  /** A 401 on any call means the token expired or was revoked: back to the login form. */
  function guard(res) {
    if (res.status === 401) { showLogin("p_session_over"); return false; }
    return true;
  }

  byId("login").addEventListener("submit", function (e) {
    e.preventDefault();
    var staff = byId("login-staff").value.trim();
    var pin = byId("login-pin").value;
    HQ.api("POST", "/api/auth/login", { hall: hallId, staff: staff, pin: pin }).then(function (res) {
      byId("login-pin").value = "";
      if (!res.ok) {
        byId("login-message").textContent = res.status === 401 ? HQ.t("d_bad_login") : HQ.errorText(res);
        return;
      }
      if (!allowed(res.data.staff)) { byId("login-message").textContent = HQ.t("d_not_desk"); return; }
      session = { token: res.data.token, staff: res.data.staff };
      sessionStorage.setItem(KEY, JSON.stringify(session));
      showDesk();
    });
  });

  byId("logout").addEventListener("click", function () {
    var t = token();
    showLogin();
    if (t) HQ.api("POST", "/api/auth/logout", {}, t);
  });

  // ---- issuing ----
  var form = HQ.IssueForm(byId("issue"), {
    token: token,
    onIssued: function (answer) {
      byId("issued").hidden = false;
      HQ.renderTicket(byId("issued-card"), answer);
      byId("issued").dataset.answer = JSON.stringify(answer);
      form.reset();
      refresh();
      byId("issued-print").focus();
    },
    onClosed: function () { alertMessage(HQ.t("k_closed_title")); },
  });
  function alertMessage(text) { byId("find-message").textContent = text; }

  function printTicket(answer) {
    var img = HQ.renderTicket(byId("print-area"), answer);
    HQ.whenLoaded(img, 3000).then(function () { window.print(); });
  }
  byId("issued-print").addEventListener("click", function () {
    printTicket(JSON.parse(byId("issued").dataset.answer));
  });

  // ---- find, cancel, reprint ----
  byId("find").addEventListener("submit", function (e) {
    e.preventDefault();
    var typed = byId("find-number").value.trim();
    if (!typed) return;
    // "a12" is A012, as the docs promise: letter case and zero padding are normalised here.
    var number = HQ.normalizeNumber(typed);
    if (!number) { alertMessage(HQ.t("err_bad_ticket_number")); return; }
    byId("find-number").value = number;
    find(number);
  });
  /** Look a ticket up; `quiet` (a refresh after a hall event) leaves the message line alone. */
  function find(number, quiet) {
    return HQ.api("GET", "/api/halls/" + encodeURIComponent(hallId) + "/tickets?number=" + encodeURIComponent(number), null, token())
      .then(function (res) {
        if (!guard(res)) return;
        if (res.status === 404) {
          found = null; byId("find-result").hidden = true;
          if (!quiet) alertMessage(HQ.t("d_not_found", { number: number }));
          return;
        }
        if (!res.ok) { if (!quiet) alertMessage(HQ.errorText(res)); return; }
        if (!quiet) alertMessage("");
        found = res.data;
        renderFound();
      });
  }
  function renderFound() {
    if (!found) return;
    var t = found.ticket;
    byId("find-result").hidden = false;
    byId("found-number").textContent = t.number + (t.priority ? " · " + HQ.t("priority") : "");
    byId("found-status").textContent = HQ.t("st_" + t.status);
    byId("found-services").textContent = t.services.map(function (s) { return HQ.serviceName(s); }).join(HQ.t("list_sep"));
    byId("found-window").textContent = t.window ? HQ.windowName(t.window) : "–";
    var waiting = t.status === "waiting";
    byId("found-ahead").textContent = waiting ? String(found.ahead) : "–";
    byId("found-eta").textContent = waiting ? HQ.formatWait(found.eta_s) : "–";
    byId("cancel-ticket").disabled = !waiting;
    byId("reprint").disabled = !waiting;
    // text messages ([sms]): the desk may leave the visitor's number for them (only its masked form comes back)
    byId("found-sms").hidden = !(HQ.hall && HQ.hall.sms) || !(waiting || t.status === "called" || t.status === "suspended");
  }
  byId("found-sms").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!found || !found.ticket.token) return;
    var path = "/api/tickets/" + encodeURIComponent(found.ticket.token) + "/phone";
    HQ.api("POST", path, { phone: byId("found-sms-phone").value }, token()).then(function (res) {
      if (!guard(res)) return;
      if (!res.ok) { byId("found-sms-message").textContent = HQ.errorText(res); return; }
      byId("found-sms-phone").value = "";
      byId("found-sms-message").textContent = HQ.t("d_sms_left", { phone: res.data.phone });
    });
  });
  // ---- find by ID number (staff only: the kiosk never tells whose ticket is whose) ----
  var idRaw = "";
  byId("find-id-number").addEventListener("input", function (e) {
    var input = e.target, shown = HQ.maskId(idRaw), now = input.value;
    if (now.indexOf(shown) === 0) idRaw += now.slice(shown.length);
    else if (shown.indexOf(now) === 0) idRaw = idRaw.slice(0, idRaw.length - (shown.length - now.length));
    else idRaw = now.indexOf("*") >= 0 ? "" : now;
    idRaw = idRaw.toUpperCase().replace(/[^0-9X]/g, "").slice(0, 18);
    input.value = HQ.maskId(idRaw);
  });
  byId("find-id").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!/^(\d{15}|\d{17}[\dX])$/.test(idRaw)) { alertMessage(HQ.t("k_id_invalid")); return; }
    HQ.api("POST", "/api/halls/" + encodeURIComponent(hallId) + "/tickets/by-id", { id_number: idRaw }, token())
      .then(function (res) {
        if (!guard(res)) return;
        if (!res.ok) { alertMessage(HQ.errorText(res)); return; }
        var list = (res.data && res.data.tickets) || [];
        var box = byId("find-id-result");
        box.textContent = "";
        if (!list.length) { alertMessage(HQ.t("d_find_id_none")); return; }
        alertMessage(HQ.t("d_holder_tickets", { numbers: list.map(function (x) { return x.ticket.number; }).join(HQ.t("list_sep")) }));
        list.forEach(function (x) {
          var b = document.createElement("button");
          b.type = "button"; b.className = "hq-btn"; b.textContent = x.ticket.number;
          b.setAttribute("data-found-number", x.ticket.number);
          b.addEventListener("click", function () { byId("find-number").value = x.ticket.number; find(x.ticket.number); });
          box.appendChild(b);
        });
        find(list[0].ticket.number, true);
      });
  });

  byId("reprint").addEventListener("click", function () { if (found) printTicket(found); });
  byId("cancel-ticket").addEventListener("click", function () {
    if (!found) return;
    var t = found.ticket;
    HQ.ask(HQ.t("d_cancel_confirm", { number: t.number }), HQ.t("d_cancel_ticket"), HQ.t("back")).then(function (yes) {
      if (!yes) return;
      HQ.api("DELETE", "/api/tickets/" + encodeURIComponent(t.token), null, token()).then(function (res) {
        if (!guard(res)) return;
        if (!res.ok) { alertMessage(HQ.errorText(res)); return; }
        find(t.number).then(function () { alertMessage(HQ.t("d_cancelled", { number: t.number })); });
        refresh();
      });
    });
  });

  // ---- live queue ----
  function renderState() {
    if (!state) return;
    var body = byId("queue").tBodies[0];
    body.textContent = "";
    // No total count: a combined ticket waits in each of its services, so a sum would
    // count it several times. The longest wait over all services is well defined.
    var oldest = null, now = Date.now();
    (HQ.hall.services || []).forEach(function (s) {
      var n = (state.waiting && state.waiting[s.id]) || 0;
      var since = state.waiting_since && state.waiting_since[s.id];
      if (n && since && (oldest === null || since < oldest)) oldest = since;
      var tr = document.createElement("tr");
      tr.setAttribute("data-service", s.id);
      [HQ.name(s.name), String(n), n && since ? HQ.clock(now - since) : "–"].forEach(function (v, i) {
        var td = document.createElement("td"); td.textContent = v; if (i) td.className = "num"; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    byId("queue-longest").textContent = oldest ? HQ.clock(now - oldest) : "–";
    var wbody = byId("windows").tBodies[0];
    wbody.textContent = "";
    (state.windows || []).forEach(function (w) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-window", w.id);
      [HQ.windowName(w.id), HQ.t("ws_" + w.status), w.ticket ? w.ticket.number : ""].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      wbody.appendChild(tr);
    });
  }

  function refresh() {
    return HQ.api("GET", "/api/halls/" + encodeURIComponent(hallId) + "/state").then(function (res) {
      if (!res.ok || !res.data) {
        connection.hidden = false;
        connection.textContent = HQ.t(res.status === 503 ? "redis_down" : "offline");
        return;
      }
      connection.hidden = true;
      state = res.data.state || res.data;
      renderState();
    });
  }
  var refreshSoon = HQ.debounce(refresh, 250);

  function startLive() {
    refresh();
    if (pollTimer) return;
    // With the display socket, events trigger a refetch of /state (it carries waiting_since, which
    // events do not); the slow poll is only a safety net. Without it, poll faster.
    if (typeof window.HallSocket === "function") {
      new window.HallSocket({
        url: HQ.wsUrl("/ws/halls/" + encodeURIComponent(hallId) + "/display"),
        onSnapshot: function (s) { if (s && s.waiting) { state = s; renderState(); } },
        onEvent: function (evt) {
          refreshSoon();
          if (found && evt.ticket && evt.ticket.number === found.ticket.number) find(found.ticket.number, true);
        },
        onStatus: function (status) {
          connection.hidden = status === "online";
          connection.textContent = HQ.t(status === "redis-down" ? "redis_down" : "offline");
        },
      }).start();
      pollTimer = setInterval(refresh, 15000);
    } else {
      pollTimer = setInterval(refresh, 3000);
    }
  }
  setInterval(renderState, 1000); // the longest-wait clocks tick
  HQ.onLang(function () { renderState(); renderFound(); });

  if (token()) {
    HQ.api("GET", "/api/auth/me", null, token()).then(function (res) {
      if (res.ok && res.data && allowed(res.data.staff)) { session.staff = res.data.staff; showDesk(); }
      else showLogin(res.status === 401 ? "p_session_over" : null);
    });
  } else {
    showLogin();
  }
})();
