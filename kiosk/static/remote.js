/* The phone's remote ticket page (/remote/{hall}, 远程取号): services → optional ID number →
 * a ticket (POST /api/halls/{hall}/remote-tickets, the kiosk's rules plus the hall file's
 * [remote]); then the visitor's ticket page (/t/{token}), which says when to set out, keeps
 * the screen awake and rings and vibrates on the call. */
(function () {
  "use strict";
  var HQ = window.HQ;
  HQ.init();
  var hall = HQ.hall;
  var config = hall.remote;
  var byId = function (id) { return document.getElementById(id); };
  var requestId = HQ.requestId();

  if (!config) { byId("off").hidden = false; return; }
  byId("remote-form").hidden = false;
  byId("hours-only").hidden = !config.within_hours;
  byId("book-link").hidden = !hall.appointments;
  var waiting = {};  // service → visitors waiting now (GET /state), to choose with open eyes

  hall.services.forEach(function (s) {
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.value = s.id;
    box.name = "service";
    box.addEventListener("change", function () { byId("take").disabled = services().length === 0; });
    var text = document.createElement("span");
    text.setAttribute("data-service", s.id);
    var count = document.createElement("span");
    count.className = "b-left";
    count.setAttribute("data-waiting", s.id);
    label.appendChild(box);
    label.appendChild(text);
    label.appendChild(count);
    byId("services").appendChild(label);
  });

  function services() {
    return Array.prototype.map.call(document.querySelectorAll("input[name=service]:checked"), function (b) { return b.value; });
  }

  function label() {
    document.querySelectorAll("[data-service]").forEach(function (el) {
      el.textContent = HQ.serviceName(el.getAttribute("data-service"));
    });
    document.querySelectorAll("[data-waiting]").forEach(function (el) {
      var n = waiting[el.getAttribute("data-waiting")];
      el.textContent = typeof n === "number" ? HQ.t("rm_waiting", { n: n }) : "";
    });
    var quota = byId("quota");
    quota.hidden = !config.daily_quota;
    if (config.daily_quota) quota.textContent = HQ.t("rm_quota", { n: config.daily_quota });
  }
  HQ.onLang(label);

  byId("remote-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var list = services();
    if (!list.length) return;
    byId("take").disabled = true;
    byId("message").textContent = "";
    var body = { services: list, lang: HQ.lang, request_id: requestId };
    var idNumber = byId("id-number").value.trim();
    if (idNumber) body.id_number = idNumber;
    HQ.api("POST", "/api/halls/" + encodeURIComponent(hall.id) + "/remote-tickets", body).then(function (res) {
      if (!res.ok) {
        requestId = HQ.requestId();
        byId("message").textContent = HQ.errorText(res);
        byId("take").disabled = false;
        return;
      }
      location.href = "/t/" + encodeURIComponent(res.data.ticket.token);
    });
  });

  HQ.api("GET", "/api/halls/" + encodeURIComponent(hall.id) + "/state").then(function (res) {
    if (res.ok && res.data && res.data.waiting) { waiting = res.data.waiting; label(); }
  });
  label();
})();
