/* Pure rules of the clerk pad, shared by the page and its tests (no DOM, no I/O):
 * which actions are possible now, which key means which action, and how a numeric keypad spells
 * a ticket number or a transfer target. Loads as a browser global (HQPad) or a CommonJS module. */
(function (root) {
  "use strict";

  var ACTIONS = ["call_next", "recall", "no_show", "start", "complete", "transfer", "call",
    "suspend", "resume", "pause", "unpause"];

  /**
   * Which pad actions make sense for a window status (idle|calling|serving|paused|closed) and the
   * status of its current ticket (called|serving|…, or null for none). The server stays the judge;
   * this only disables buttons that would certainly be refused.
   */
  function allowedActions(windowStatus, ticketStatus) {
    var paused = windowStatus === "paused";
    var called = ticketStatus === "called";
    var active = called || ticketStatus === "serving";
    return {
      call_next: !paused,
      recall: called,
      no_show: called,
      start: called,
      complete: active,
      transfer: active,
      call: !paused,
      suspend: active,
      resume: !paused,
      pause: !paused,
      unpause: paused,
    };
  }

  /** The action bound to a key press ({key, code} as in a KeyboardEvent), or null. */
  function keyAction(keymap, key, code) {
    var b = keymap.bindings;
    for (var i = 0; i < b.length; i++) {
      if (code && b[i].codes && b[i].codes.indexOf(code) >= 0) return b[i].action;
    }
    for (var j = 0; j < b.length; j++) {
      if (b[j].keys.indexOf(key) >= 0) return b[j].action;
    }
    return null;
  }

  /** Whether a key press cancels an open prompt. */
  function isCancelKey(keymap, key, code) {
    var c = keymap.cancel;
    return c.keys.indexOf(key) >= 0 || (!!code && c.codes.indexOf(code) >= 0);
  }

  /** Key labels of an action for button hints: "Enter / +". */
  function keyHint(keymap, action) {
    for (var i = 0; i < keymap.bindings.length; i++) {
      if (keymap.bindings[i].action === action) return keymap.bindings[i].keys.join(" / ");
    }
    return "";
  }

  /**
   * A ticket number from what the clerk typed: "A12", "a012" → "A012"; digits only (a numeric
   * keypad has no letters) mean service position then number: "1012" → first prefix + "012",
   * "45" → fourth prefix + "005". Null when it cannot be a ticket of this hall.
   */
  function parseTicketCode(input, prefixes) {
    var s = String(input || "").trim().toUpperCase();
    var m = /^([A-Z])(\d{1,3})$/.exec(s);
    if (m) return prefixes.indexOf(m[1]) >= 0 ? m[1] + m[2].padStart(3, "0") : null;
    m = /^(\d)(\d{1,3})$/.exec(s);
    if (m) {
      var prefix = prefixes[parseInt(m[1], 10) - 1];
      return prefix ? prefix + m[2].padStart(3, "0") : null;
    }
    return null;
  }

  /**
   * A transfer target from what the clerk typed: a service id, or its position "1".."9"
   * → {service}; "0" followed by a window id ("05") → {to_window}. Null otherwise.
   */
  function parseTransferCode(input, serviceIds, windowIds) {
    var s = String(input || "").trim();
    if (serviceIds.indexOf(s) >= 0) return { service: s };
    var m = /^0(.+)$/.exec(s);
    if (m && windowIds.indexOf(m[1]) >= 0) return { to_window: m[1] };
    if (/^[1-9]$/.test(s) && serviceIds[parseInt(s, 10) - 1]) return { service: serviceIds[parseInt(s, 10) - 1] };
    return null;
  }

  var api = {
    ACTIONS: ACTIONS,
    allowedActions: allowedActions,
    keyAction: keyAction,
    isCancelKey: isCancelKey,
    keyHint: keyHint,
    parseTicketCode: parseTicketCode,
    parseTransferCode: parseTransferCode,
  };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.HQPad = api;
})(this);
