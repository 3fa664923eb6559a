/* The printed / on-screen ticket (kiosk and desk reprint) and thermal-paper print setup.
 * The ticket carries labels in every hall language, since one printout serves whoever holds it. */
(function (global) {
  "use strict";
  var HQ = global.HQ;

  /**
   * An element holding `textOf(lang)` in every hall language, one <span data-l> each: the print
   * shows them all ("前面还有 / People ahead"), the screen only the page's language (ticket.css).
   */
  function multi(tag, cls, textOf) {
    var e = el(tag, cls);
    HQ.languages().forEach(function (l, i) {
      if (i) e.appendChild(el("span", "t-sep", " / "));
      var span = el("span", null, textOf(l));
      span.setAttribute("data-l", l);
      span.setAttribute("lang", l === "zh" ? "zh-CN" : l);
      e.appendChild(span);
    });
    return e;
  }
  function label(tag, cls, key, vars) {
    return multi(tag, cls, function (l) { return HQ.t(key, vars, l); });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  /** Short address of the visitor page for a ticket token (what the QR code encodes). */
  HQ.ticketUrl = function (token) {
    return location.origin + "/t/" + encodeURIComponent(token);
  };

  /**
   * Fill `container` with the ticket for an API answer {ticket, ahead, eta_s}.
   * Returns the QR <img> so a caller can wait for it to load before printing.
   */
  HQ.renderTicket = function (container, answer) {
    var t = answer.ticket;
    container.textContent = "";
    var card = el("article", "ticket");
    card.setAttribute("aria-label", HQ.t("k_your_ticket") + " " + t.number);
    card.appendChild(multi("div", "t-hall", function (l) { return HQ.name(HQ.hall.name, l); }));
    var number = el("div", "t-number", t.number);
    number.setAttribute("data-ticket-number", t.number);
    card.appendChild(number);
    if (t.priority) card.appendChild(label("div", "t-priority", "priority"));
    var services = el("ul", "t-services");
    (t.services || []).forEach(function (id) {
      services.appendChild(multi("li", null, function (l) { return HQ.serviceName(id, l); }));
    });
    card.appendChild(services);
    var facts = el("dl", "t-facts");
    facts.appendChild(label("dt", null, "t_people_ahead"));
    var ahead = el("dd", "t-ahead", String(answer.ahead));
    ahead.setAttribute("data-ahead", String(answer.ahead));
    facts.appendChild(ahead);
    facts.appendChild(label("dt", null, "t_wait"));
    facts.appendChild(multi("dd", "t-eta", function (l) { return HQ.formatWait(answer.eta_s, l); }));
    card.appendChild(facts);
    var img = null;
    if (t.token) {
      var qr = el("div", "t-qr-box");
      img = el("img", "t-qr");
      img.alt = HQ.t("t_scan");
      img.src = "/api/tickets/" + encodeURIComponent(t.token) + "/qr.svg";
      qr.appendChild(img);
      qr.appendChild(label("div", "t-scan", "t_scan"));
      // the server's address for visitors (--public-url), not this kiosk's own origin
      var url = el("div", "t-url", answer.url || HQ.ticketUrl(t.token));
      qr.appendChild(url);
      card.appendChild(qr);
    }
    // The hall's clock, not the browser's: a kiosk PC set to another zone prints the wrong time.
    var time = el("div", "t-time", HQ.hallTime(t.issued_at || Date.now()));
    time.setAttribute("data-issued-at", String(t.issued_at || ""));
    card.appendChild(time);
    card.appendChild(label("p", "t-note", "t_note"));
    container.appendChild(card);
    return img;
  };

  /** Resolves once `img` has loaded (or failed, or `ms` passed): print only a complete ticket. */
  HQ.whenLoaded = function (img, ms) {
    return new Promise(function (resolve) {
      if (!img || img.complete) { resolve(); return; }
      var done = function () { resolve(); };
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", done, { once: true });
      setTimeout(done, ms || 3000);
    });
  };

  // Thermal paper rolls: printable width and a page long enough for one ticket.
  var PAPER = {
    "58": { size: "58mm 140mm", margin: "2mm 5mm" },
    "80": { size: "80mm 150mm", margin: "3mm 4mm" },
  };

  /**
   * Apply ?paper=58|80 (or a `paper` argument): a body class for the ticket's print layout and the
   * matching @page size. Without it, printing uses the browser's page (A4/Letter), ticket centred.
   * Returns the paper in use ("58", "80" or "").
   */
  HQ.setupPaper = function (paper) {
    var p = paper || new URLSearchParams(location.search).get("paper") || "";
    if (!PAPER[p]) return "";
    document.body.classList.add("paper-" + p);
    var style = document.createElement("style");
    style.setAttribute("data-paper", p);
    style.textContent = "@page { size: " + PAPER[p].size + "; margin: " + PAPER[p].margin + "; }";
    document.head.appendChild(style);
    return p;
  };
})(window);
