/* Kiosk (取号机) page: choose services → ticket with QR → back to the start screen by itself.
 * Query parameters: ?paper=58|80 (thermal roll layout), ?autoprint=1 (print each ticket at once;
 * run Chromium with --kiosk-printing for silent printing), ?timeout=S (seconds on the ticket
 * screen, default 30). */
(function () {
  "use strict";
  var HQ = window.HQ;
  var params = new URLSearchParams(location.search);
  var TICKET_TIMEOUT_S = Math.max(5, parseInt(params.get("timeout") || "30", 10) || 30);
  var IDLE_START_S = 60;      // a half-filled start screen is cleared after this long untouched
  var STATE_POLL_MS = 10000;  // issuing_open and queue lengths; the kiosk needs no sub-second view
  var AUTOPRINT = params.get("autoprint") === "1";

  HQ.init();
  try { sessionStorage.removeItem("hallq.lang"); } catch (e) { /* a kiosk restarts in the hall's first language */ }
  HQ.setLang(HQ.languages()[0]);
  HQ.setupPaper();

  var screens = { start: byId("start"), ticket: byId("ticket"), closed: byId("closed"), checkin: byId("checkin") };
  var current = "start";
  var issuingOpen = true;
  var deadline = 0;
  var lastActivity = Date.now();
  var connection = document.querySelector("[data-connection]");

  var form = HQ.IssueForm(byId("issue"), {
    token: null,
    onActivity: touch,
    onIssued: function (answer) {
      showTicket(answer);
      refreshState();
    },
    onClosed: function () { issuingOpen = false; show("closed"); },
  });

  function byId(id) { return document.getElementById(id); }

  // 预约签到: shown when the hall takes appointments; its ticket is shown like any other
  var checkIn = HQ.CheckInForm(byId("checkin"), {
    onActivity: touch,
    onTicket: function (answer) { showTicket(answer); refreshState(); },
    onBack: function () { backToStart(); },
  });
  byId("checkin-open").hidden = !HQ.hall.appointments;
  byId("checkin-open").addEventListener("click", function () { show("checkin"); checkIn.focus(); });

  function touch() {
    lastActivity = Date.now();
    if (current === "ticket") deadline = Date.now() + TICKET_TIMEOUT_S * 1000;
  }

  function show(name) {
    current = name;
    Object.keys(screens).forEach(function (k) { screens[k].hidden = k !== name; });
    document.body.setAttribute("data-screen", name);
  }

  function showTicket(answer) {
    var img = HQ.renderTicket(byId("ticket-card"), answer);
    show("ticket");
    touch();
    tick();
    byId("done").focus();
    if (AUTOPRINT) HQ.whenLoaded(img, 3000).then(function () { window.print(); });
  }

  // Large text for elderly visitors: a toggle in the header, off again for the next visitor.
  var bigText = byId("big-text");
  function setBigText(on) {
    document.documentElement.classList.toggle("big-text", on);
    bigText.setAttribute("aria-pressed", on ? "true" : "false");
  }
  bigText.addEventListener("click", function () { setBigText(bigText.getAttribute("aria-pressed") !== "true"); });

  function backToStart() {
    setBigText(false);
    show(issuingOpen ? "start" : "closed"); // first: the language listeners look at the screen
    form.reset();
    checkIn.reset();
    HQ.setLang(HQ.languages()[0]);
    byId("ticket-card").textContent = "";
    window.scrollTo(0, 0);
  }

  function tick() {
    if (current === "ticket") {
      var left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) { backToStart(); return; }
      byId("countdown").textContent = HQ.t("k_back_in", { n: left });
    } else if ((current === "start" || current === "checkin") && Date.now() - lastActivity > IDLE_START_S * 1000) {
      lastActivity = Date.now();
      backToStart();
    }
  }

  function refreshState() {
    return HQ.api("GET", "/api/halls/" + encodeURIComponent(HQ.hall.id) + "/state").then(function (res) {
      if (!res.ok || !res.data) {
        connection.hidden = false;
        connection.textContent = HQ.t(res.status === 503 ? "redis_down" : "offline");
        return;
      }
      connection.hidden = true;
      var state = res.data.state || res.data;
      form.setWaiting(state.waiting || {});
      var open = state.issuing_open !== false;
      var holiday = byId("closed-holiday");  // a holiday of the hall's calendar closes it all day
      holiday.hidden = !state.holiday;
      holiday.textContent = state.holiday ? HQ.t("k_closed_holiday", {holiday: state.holiday}) : "";
      if (open !== issuingOpen) {
        issuingOpen = open;
        if (!open && current === "start") show("closed");
        if (open && current === "closed") backToStart();
      }
    });
  }

  document.addEventListener("pointerdown", touch, true);
  document.addEventListener("keydown", touch, true);
  byId("done").addEventListener("click", backToStart);
  byId("print").addEventListener("click", function () { touch(); window.print(); });
  HQ.onLang(function () { if (current === "ticket") tick(); });

  show("start");
  refreshState();
  setInterval(refreshState, STATE_POLL_MS);
  setInterval(tick, 1000);
})();
