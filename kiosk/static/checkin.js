/* 预约签到: the kiosk's check-in for an appointment, by its 8-digit code (typed, or scanned
 * from the phone's QR by a keyboard-wedge scanner) or by the ID number it was booked with.
 * POST /api/halls/{hall}/appointments/check-in → the same answer as a ticket. */
(function (global) {
  "use strict";
  var HQ = global.HQ;

  /**
   * Wire the check-in form inside `root` (its #checkin-input, #checkin-go, #checkin-back,
   * #checkin-message). opts: onTicket(answer), onBack(), onActivity().
   * Returns {reset(), focus()}.
   */
  HQ.CheckInForm = function (root, opts) {
    var input = root.querySelector("#checkin-input");
    var message = root.querySelector("#checkin-message");
    var go = root.querySelector("#checkin-go");
    var busy = false;
    var activity = opts.onActivity || function () {};

    function reset() {
      input.value = "";
      message.textContent = "";
      busy = false;
      go.disabled = false;
    }

    root.querySelector("form").addEventListener("submit", function (e) {
      e.preventDefault();
      activity();
      if (busy) return;
      var raw = input.value.replace(/\s+/g, "").toUpperCase();
      if (!raw) { message.textContent = HQ.t("k_check_in_hint"); return; }
      var body = { lang: HQ.lang };
      if (/^\d{8}$/.test(raw)) body.code = raw; else body.id_number = raw;
      busy = true;
      go.disabled = true;
      HQ.api("POST", "/api/halls/" + encodeURIComponent(HQ.hall.id) + "/appointments/check-in", body).then(function (res) {
        busy = false;
        go.disabled = false;
        if (!res.ok) {
          var err = (res.data && res.data.error) || {};
          // err_too_early is the pad's no-show word: an appointment says when check-in opens
          message.textContent = err.code === "too_early" && err.opens_at
            ? HQ.t("ap_too_early", { start: err.start, opens: HQ.hallTime(err.opens_at).slice(11) })
            : HQ.errorText(res);
          return;
        }
        reset();
        opts.onTicket(res.data);
      });
    });
    root.querySelector("#checkin-back").addEventListener("click", function () { reset(); opts.onBack(); });
    return { reset: reset, focus: function () { input.focus(); } };
  };
})(window);
