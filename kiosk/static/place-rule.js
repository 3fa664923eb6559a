/* A phone's place in the hall, followed from the shared event frames: the twin of server/place.py
 * (tests/place_vectors.json holds the two together). No DOM, no I/O. Loads as a browser global
 * (HQPlace) or a CommonJS module.
 *
 * A place (from GET /api/tickets/{token}: "place"): seq, number, score, lines {line: [mode, count,
 * group]}, zero [lines], only, own_s, group_s {group: s}, able [windows], open [windows].
 * step(place, event) is the place after a hall event, or null when the phone must read its ticket
 * again (a gap in seq, its own ticket's event, a move in a line it does not know, a new day or
 * hall file). */
(function (root) {
  "use strict";

  var REREAD_TYPES = { "hall.reset": true, "hall.config": true };
  var NOT_CALLING = { paused: true, closed: true };

  function ahead(place) {
    var n = 0;
    for (var line in place.lines) n += place.lines[line][1];
    return n;
  }

  /* Python's round(): halves go to the even neighbour. */
  function roundHalfEven(x) {
    var r = Math.round(x);
    if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) r -= 1;
    return r;
  }

  function etaS(place) {
    var work = 0;
    for (var line in place.lines) {
      var held = place.lines[line];
      work += held[1] * (place.group_s[held[2]] || 0);
    }
    var windows = Math.max(1, place.open.length);
    return Math.max(0, roundHalfEven((work + 0.5 * place.own_s) / windows));
  }

  function step(place, event) {
    var seq = event.seq;
    if (typeof seq !== "number" || seq <= place.seq) return place;
    if (seq !== place.seq + 1 || REREAD_TYPES[event.type]) return null;
    if (event.ticket && event.ticket.number === place.number) return null;
    var next = JSON.parse(JSON.stringify(place));
    next.seq = seq;
    var own = parseFloat(place.score);
    var moves = event.moves || [];
    for (var i = 0; i < moves.length; i++) {
      var line = moves[i][0], score = moves[i][1], d = moves[i][2];
      var held = Object.prototype.hasOwnProperty.call(next.lines, line) ? next.lines[line] : null;
      if (held) {
        if (held[0] === 2 || parseFloat(score) < own) held[1] += d;
      } else if (!(next.only || next.zero.indexOf(line) >= 0)) {
        return null;
      }
    }
    var win = event.window, state = event.window_state;
    if (next.able.indexOf(win) >= 0 && state && typeof state === "object" && "status" in state) {
      var calling = !NOT_CALLING[state.status];
      var at = next.open.indexOf(win);
      if (calling && at < 0) next.open.push(win);
      else if (!calling && at >= 0) next.open.splice(at, 1);
    }
    return next;
  }

  var api = { ahead: ahead, etaS: etaS, step: step };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.HQPlace = api;
})(this);
