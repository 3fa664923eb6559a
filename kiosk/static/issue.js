/* The "take a ticket" form, shared by the kiosk (visitor alone) and the desk (staff on a visitor's
 * behalf): services (several = one combined ticket), the priority lane with a confirmation step,
 * an optional ID number against duplicate tickets, an optional mobile number for text messages
 * (halls with [sms]), then POST /api/halls/{hall}/tickets. */
(function (global) {
  "use strict";
  var HQ = global.HQ;

  // Mainland ID numbers: 15 digits (old cards) or 17 digits + a digit or X.
  var ID_RE = /^(\d{15}|\d{17}[\dX])$/;

  function el(tag, cls, key) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (key) e.setAttribute("data-i18n", key);
    return e;
  }
  function button(cls, key) {
    var b = el("button", "hq-btn " + (cls || ""), key);
    b.type = "button";
    return b;
  }

  /**
   * Build the form inside `root`. opts:
   *   token()      → a staff token to send as Bearer (desk), or null (kiosk)
   *   onIssued(a)  → called with the 201 answer {ticket, ahead, eta_s}
   *   onClosed()   → issuing has closed (409 hall_closed)
   *   onActivity() → any interaction (the kiosk restarts its idle timer)
   * Returns {reset(), setWaiting(map), element}.
   */
  HQ.IssueForm = function (root, opts) {
    var selected = [];
    var priority = false;
    var busy = false;
    var waiting = {};
    var activity = opts.onActivity || function () {};

    var form = el("form", "issue");
    form.noValidate = true;
    form.setAttribute("data-testid", "issue-form");

    var head = el("h2", "issue-title", "k_choose");
    var hint = el("p", "hq-muted", "k_choose_hint");
    var grid = el("div", "issue-services");
    grid.setAttribute("role", "group");
    grid.setAttribute("data-i18n-aria", "k_choose");
    var buttons = {};
    (HQ.hall.services || []).forEach(function (s) {
      var b = button("issue-service");
      b.setAttribute("aria-pressed", "false");
      b.setAttribute("data-service", s.id);
      var letter = el("span", "issue-prefix"); letter.textContent = s.prefix;
      letter.setAttribute("aria-hidden", "true");
      var name = el("span", "issue-name");
      var count = el("span", "issue-count");
      b.appendChild(letter); b.appendChild(name); b.appendChild(count);
      b.addEventListener("click", function () { toggle(s.id); });
      buttons[s.id] = { button: b, name: name, count: count, service: s };
      grid.appendChild(b);
    });

    var prio = button("issue-priority");
    prio.setAttribute("aria-pressed", "false");
    prio.setAttribute("data-priority", "");
    var prioText = el("span", "issue-priority-text", "k_priority");
    var prioHint = el("span", "issue-priority-hint", "k_priority_hint");
    prio.appendChild(prioText); prio.appendChild(prioHint);
    prio.addEventListener("click", function () {
      activity();
      if (priority) { setPriority(false); return; }
      HQ.ask(HQ.t("k_priority_title") + "\n" + HQ.t("k_priority_text"), HQ.t("k_priority_yes"), HQ.t("k_priority_no"))
        .then(function (yes) { setPriority(yes); prio.focus(); });
    });

    var idBox = el("details", "issue-id");
    var idSummary = el("summary", "hq-btn", "k_id");
    var idLabel = el("label", "visually-hidden", "k_id"); // the summary shows the same words
    idLabel.setAttribute("for", root.id + "-id");
    var idInput = el("input", "hq-input");
    idInput.id = root.id + "-id";
    idInput.setAttribute("inputmode", "numeric");
    idInput.setAttribute("autocomplete", "off");
    idInput.setAttribute("maxlength", "18");
    idInput.setAttribute("spellcheck", "false");
    idInput.setAttribute("data-id-number", "");
    var idHint = el("p", "hq-muted", "k_id_hint");
    // The number is kept here and shown masked as it is typed (4401********1234): a kiosk
    // screen is seen by the people queueing behind the visitor.
    var idValue = "";
    function setId(raw) {
      idValue = String(raw || "").toUpperCase().replace(/[^0-9X]/g, "").slice(0, 18);
      idInput.value = HQ.maskId(idValue);
      idInput.setAttribute("data-length", String(idValue.length));
    }
    idInput.addEventListener("input", function () {
      var shown = HQ.maskId(idValue), now = idInput.value;
      if (now.indexOf(shown) === 0) setId(idValue + now.slice(shown.length));           // typed at the end
      else if (shown.indexOf(now) === 0) setId(idValue.slice(0, idValue.length - (shown.length - now.length))); // erased
      else setId(now.indexOf("*") >= 0 ? "" : now);                                       // replaced or pasted
      activity();
    });
    // On-screen keypad: a kiosk has no keyboard.
    var pad = el("div", "issue-keypad");
    "123456789X0".split("").forEach(function (ch) {
      var k = button("issue-key"); k.textContent = ch;
      k.addEventListener("click", function () {
        if (idValue.length < 18) setId(idValue + ch);
        activity();
      });
      pad.appendChild(k);
    });
    var del = button("issue-key");
    del.textContent = "⌫";
    del.setAttribute("data-i18n-aria", "k_id_delete");
    del.addEventListener("click", function () { setId(idValue.slice(0, -1)); activity(); });
    var clr = button("issue-key issue-key-clear", "k_id_clear");
    clr.addEventListener("click", function () { setId(""); activity(); });
    pad.appendChild(del); pad.appendChild(clr);
    idBox.appendChild(idSummary); idBox.appendChild(idLabel); idBox.appendChild(idInput);
    idBox.appendChild(idHint); idBox.appendChild(pad);

    // A mobile number for text messages ("3 ahead", "your turn"), offered only when the hall
    // sends them ([sms]); kept here and shown masked as it is typed (138****5678), like the ID.
    var phoneValue = "";
    var phoneBox = null;
    var phoneInput = null;
    function maskPhone(v) { return v.replace(/./g, function (ch, i) { return i >= 3 && i < 7 ? "*" : ch; }); }
    function setPhone(raw) {
      phoneValue = String(raw || "").replace(/[^0-9]/g, "").slice(0, 11);
      if (!phoneInput) return;
      phoneInput.value = maskPhone(phoneValue);
      phoneInput.setAttribute("data-length", String(phoneValue.length));
    }
    if (HQ.hall.sms) {
      phoneBox = el("details", "issue-phone");
      var phoneSummary = el("summary", "hq-btn", "k_phone");
      var phoneLabel = el("label", "visually-hidden", "k_phone");
      phoneLabel.setAttribute("for", root.id + "-phone");
      phoneInput = el("input", "hq-input");
      phoneInput.id = root.id + "-phone";
      phoneInput.setAttribute("inputmode", "numeric");
      phoneInput.setAttribute("autocomplete", "off");
      phoneInput.setAttribute("maxlength", "11");
      phoneInput.setAttribute("data-phone", "");
      phoneInput.addEventListener("input", function () {
        var shown = maskPhone(phoneValue), now = phoneInput.value;
        if (now.indexOf(shown) === 0) setPhone(phoneValue + now.slice(shown.length));
        else if (shown.indexOf(now) === 0) setPhone(phoneValue.slice(0, phoneValue.length - (shown.length - now.length)));
        else setPhone(now.indexOf("*") >= 0 ? "" : now);
        activity();
      });
      var phonePad = el("div", "issue-keypad");
      "1234567890".split("").forEach(function (ch) {
        var k = button("issue-key"); k.textContent = ch;
        k.addEventListener("click", function () { setPhone(phoneValue + ch); activity(); });
        phonePad.appendChild(k);
      });
      var phoneDel = button("issue-key");
      phoneDel.textContent = "⌫";
      phoneDel.setAttribute("data-i18n-aria", "k_id_delete");
      phoneDel.addEventListener("click", function () { setPhone(phoneValue.slice(0, -1)); activity(); });
      var phoneClr = button("issue-key issue-key-clear", "k_id_clear");
      phoneClr.addEventListener("click", function () { setPhone(""); activity(); });
      phonePad.appendChild(phoneDel); phonePad.appendChild(phoneClr);
      phoneBox.appendChild(phoneSummary); phoneBox.appendChild(phoneLabel); phoneBox.appendChild(phoneInput);
      phoneBox.appendChild(el("p", "hq-muted", "k_phone_hint")); phoneBox.appendChild(phonePad);
    }

    var message = el("div", "hq-message");
    message.setAttribute("role", "alert");
    message.setAttribute("data-issue-message", "");

    var submit = el("button", "hq-btn hq-primary hq-big hq-wide issue-submit", "k_take");
    submit.type = "submit";
    submit.setAttribute("data-submit", "");

    form.appendChild(head); form.appendChild(hint); form.appendChild(grid); form.appendChild(prio);
    form.appendChild(idBox);
    if (phoneBox) form.appendChild(phoneBox);
    form.appendChild(message); form.appendChild(submit);
    root.appendChild(form);

    function toggle(id) {
      activity();
      var i = selected.indexOf(id);
      if (i >= 0) selected.splice(i, 1); else selected.push(id);
      showMessage("");
      render();
    }
    function setPriority(on) {
      priority = on;
      render();
    }
    function showMessage(text, isError) {
      message.textContent = text;
      message.classList.toggle("hq-error", !!isError);
    }
    function render() {
      Object.keys(buttons).forEach(function (id) {
        var b = buttons[id];
        b.button.setAttribute("aria-pressed", selected.indexOf(id) >= 0 ? "true" : "false");
        b.name.textContent = HQ.name(b.service.name);
        b.count.textContent = waiting[id] === undefined ? "" : HQ.t("k_waiting", { n: waiting[id] });
      });
      prio.setAttribute("aria-pressed", priority ? "true" : "false");
      prioText.textContent = HQ.t(priority ? "k_priority_on" : "k_priority");
      submit.disabled = busy;
      submit.textContent = HQ.t(busy ? "k_taking" : "k_take");
      submit.setAttribute("aria-disabled", selected.length ? "false" : "true");
    }

    // One request_id per visitor action: an automatic retry after a lost answer (no response,
    // a 502/503/504 from a proxy) sends the same id, so the server answers with the ticket it
    // already issued instead of issuing a second, ghost ticket.
    var RETRY_DELAYS_MS = [400, 1000, 2000, 4000];
    function lost(res) { return res.status === 0 || res.status === 502 || res.status === 503 || res.status === 504; }
    function post(body, attempt) {
      var path = "/api/halls/" + encodeURIComponent(HQ.hall.id) + "/tickets";
      return HQ.api("POST", path, body, opts.token ? opts.token() : null).then(function (res) {
        if (!lost(res) || attempt >= RETRY_DELAYS_MS.length) return res;
        return new Promise(function (resolve) { setTimeout(resolve, RETRY_DELAYS_MS[attempt]); })
          .then(function () { return post(body, attempt + 1); });
      });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      activity();
      if (busy) return;
      if (!selected.length) { showMessage(HQ.t("k_select_first"), true); return; }
      var id = idValue;
      if (id && !ID_RE.test(id)) { showMessage(HQ.t("k_id_invalid"), true); idBox.open = true; idInput.focus(); return; }
      var body = { services: selected.slice(), priority: priority, lang: HQ.lang, request_id: HQ.requestId() };
      if (id) body.id_number = id;
      if (phoneValue) {
        if (!/^1[3-9]\d{9}$/.test(phoneValue)) {
          showMessage(HQ.t("err_bad_phone"), true); phoneBox.open = true; phoneInput.focus(); return;
        }
        body.phone = phoneValue;
      }
      busy = true; showMessage(""); render();
      post(body, 0).then(function (res) {
          busy = false; render();
          var err = (res.data && res.data.error) || {};
          if (res.status === 201 || (res.ok && res.data && res.data.ticket)) { opts.onIssued(res.data); return; }
          if (err.code === "hall_closed" && opts.onClosed) opts.onClosed();
          // Staff (the desk) are told which ticket the person holds; the kiosk never is.
          else if (err.code === "duplicate_ticket" && err.number) {
            showMessage(HQ.errorText(res) + " " + HQ.t("d_holder_tickets", { numbers: err.number }), true);
          } else showMessage(HQ.errorText(res), true);
        });
    });

    HQ.applyLabels(form); // built after the page's labels were applied; later switches cover it
    HQ.onLang(render);
    render();

    return {
      element: form,
      reset: function () {
        selected = []; priority = false; busy = false;
        setId(""); idBox.open = false; setPhone(""); if (phoneBox) phoneBox.open = false;
        showMessage(""); render();
      },
      setWaiting: function (map) { waiting = map || {}; render(); },
    };
  };
})(window);
