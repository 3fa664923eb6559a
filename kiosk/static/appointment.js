/* The visitor's appointment page (/a/{token}): the 8-digit code and its QR for the kiosk's
 * 预约签到, the slot, its status, and a cancel button while it is booked. Once checked in it
 * links to the ticket's page. */
(function () {
  "use strict";
  var HQ = window.HQ;
  HQ.init();
  var data = HQ.readJSON("appointment-data") || {};
  var byId = function (id) { return document.getElementById(id); };
  var appointment = null;
  if (data.missing || !data.token) return;

  function render() {
    if (!appointment) return;
    var a = appointment;
    byId("view").hidden = false;
    byId("code").textContent = a.code.slice(0, 4) + " " + a.code.slice(4);
    byId("slot").textContent = a.date + " " + a.start + "–" + a.end;
    byId("services").textContent = a.services.map(function (s) { return HQ.serviceName(s); }).join(" + ");
    byId("status").textContent = HQ.t("ap_status_" + a.status, { number: a.number || "" });
    byId("window").textContent = HQ.t("ap_check_in_window", {
      from: HQ.hallTime(a.check_in_from).slice(11), until: HQ.hallTime(a.check_in_until).slice(11),
    });
    var booked = a.status === "booked";
    byId("cancel").hidden = !booked;
    byId("hint").hidden = !booked;
    byId("qr").hidden = !booked;
    var link = byId("ticket-link");
    link.hidden = !a.ticket_url;
    if (a.ticket_url) link.href = a.ticket_url;
  }
  HQ.onLang(render);

  function load() {
    return HQ.api("GET", "/api/appointments/" + encodeURIComponent(data.token)).then(function (res) {
      if (!res.ok) {
        byId("missing").hidden = res.status !== 404;
        byId("message").textContent = res.status === 404 ? "" : HQ.errorText(res);
        return;
      }
      appointment = res.data.appointment;
      byId("qr").src = "/api/appointments/" + encodeURIComponent(data.token) + "/qr.svg";
      render();
    });
  }

  byId("cancel").addEventListener("click", function () {
    HQ.ask(HQ.t("ap_cancel_confirm"), HQ.t("ap_cancel"), HQ.t("back")).then(function (yes) {
      if (!yes) return;
      HQ.api("DELETE", "/api/appointments/" + encodeURIComponent(data.token)).then(function (res) {
        if (!res.ok) { byId("message").textContent = HQ.errorText(res); return; }
        load();
      });
    });
  });

  load();
  setInterval(load, 30000);
})();
