/* The phone's booking page (/book/{hall}): services → date → a slot with places left →
 * optional ID or phone number → book; then the appointment page (/a/{token}) with the code
 * and its QR. Opened from the desk (its session cookie), the desk books for a visitor. */
(function () {
  "use strict";
  var HQ = window.HQ;
  HQ.init();
  var hall = HQ.hall;
  var config = hall.appointments;
  var byId = function (id) { return document.getElementById(id); };
  var chosenSlot = null;
  var requestId = HQ.requestId();

  byId("remote-link").hidden = !hall.remote; // 远程取号: for today, a ticket instead of a slot
  if (!config) { byId("off").hidden = false; return; }
  byId("book-form").hidden = false;

  config.services.forEach(function (id) {
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.value = id;
    box.name = "service";
    box.addEventListener("change", loadSlots);
    var text = document.createElement("span");
    text.setAttribute("data-service", id);
    label.appendChild(box);
    label.appendChild(text);
    byId("services").appendChild(label);
  });

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function isoDate(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  // dates in the hall's time zone: today (there) and the next days_ahead
  var todayThere = new Date(new Date().toLocaleString("en-US", { timeZone: hall.timezone || "Asia/Shanghai" }));
  for (var i = 0; i <= config.days_ahead; i++) {
    var d = new Date(todayThere.getFullYear(), todayThere.getMonth(), todayThere.getDate() + i);
    var option = document.createElement("option");
    option.value = isoDate(d);
    option.textContent = isoDate(d);
    byId("date").appendChild(option);
  }
  byId("date").addEventListener("change", loadSlots);

  function services() {
    return Array.prototype.map.call(document.querySelectorAll("input[name=service]:checked"), function (b) { return b.value; });
  }

  function label() {
    document.querySelectorAll("[data-service]").forEach(function (el) {
      el.textContent = HQ.serviceName(el.getAttribute("data-service"));
    });
    document.querySelectorAll("[data-left]").forEach(function (el) {
      var n = parseInt(el.getAttribute("data-left"), 10);
      el.textContent = n > 0 ? HQ.t("ap_left", { n: n }) : HQ.t("ap_full");
    });
  }
  HQ.onLang(label);

  // Each change of services or date asks again; only the latest answer is drawn. Two answers
  // in flight (a service ticked, then the date changed) once drew both lists, so a visitor
  // could pick a time of the day no longer shown.
  var slotsAsked = 0;

  function loadSlots() {
    var asked = ++slotsAsked;
    chosenSlot = null;
    byId("book").disabled = true;
    byId("slots").textContent = "";
    byId("no-slots").hidden = true;
    byId("slots-holiday").hidden = true;
    var list = services();
    if (!list.length) return;
    var path = "/api/halls/" + encodeURIComponent(hall.id) + "/slots?date=" + encodeURIComponent(byId("date").value) +
      "&service=" + encodeURIComponent(list.join(","));
    HQ.api("GET", path).then(function (res) {
      if (asked !== slotsAsked) return;
      byId("slots").textContent = "";
      if (!res.ok) { byId("message").textContent = HQ.errorText(res); return; }
      var open = res.data.slots.filter(function (s) { return s.left > 0; });
      byId("no-slots").hidden = open.length > 0;
      var holiday = byId("slots-holiday");  // a holiday of the hall's calendar: closed that day
      holiday.hidden = !res.data.holiday;
      holiday.textContent = res.data.holiday ? HQ.t("ap_holiday", {holiday: res.data.holiday}) : "";
      res.data.slots.forEach(function (s) {
        if (s.left <= 0 && open.length === 0) return;
        var b = document.createElement("button");
        b.type = "button";
        b.className = "hq-btn";
        b.disabled = s.left <= 0;
        b.setAttribute("role", "radio");
        b.setAttribute("aria-checked", "false");
        b.setAttribute("data-start", s.start);
        var time = document.createElement("span");
        time.textContent = s.start + "–" + s.end;
        var left = document.createElement("span");
        left.className = "b-left";
        left.setAttribute("data-left", String(s.left));
        b.appendChild(time);
        b.appendChild(left);
        b.addEventListener("click", function () {
          document.querySelectorAll("#slots .hq-btn").forEach(function (o) {
            o.setAttribute("aria-pressed", "false");
            o.setAttribute("aria-checked", "false");
          });
          b.setAttribute("aria-pressed", "true");
          b.setAttribute("aria-checked", "true");
          chosenSlot = s.start;
          byId("book").disabled = false;
        });
        byId("slots").appendChild(b);
      });
      label();
    });
  }

  byId("book-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!chosenSlot) return;
    byId("book").disabled = true;
    byId("message").textContent = "";
    var body = { services: services(), date: byId("date").value, start: chosenSlot, request_id: requestId };
    var idNumber = byId("id-number").value.trim();
    var phone = byId("phone").value.trim();
    if (idNumber) body.id_number = idNumber;
    if (phone) body.phone = phone;
    HQ.api("POST", "/api/halls/" + encodeURIComponent(hall.id) + "/appointments", body).then(function (res) {
      if (!res.ok) {
        requestId = HQ.requestId();
        byId("message").textContent = HQ.errorText(res);
        loadSlots();
        return;
      }
      location.href = "/a/" + encodeURIComponent(res.data.appointment.token);
    });
  });

  label();
})();
