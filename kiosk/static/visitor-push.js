/* "Notify me" on the visitor's page (/t/{token}): Web Push, offered only where the browser has
 * PushManager (not in WeChat and most domestic browsers, where the open page's sound, vibration and
 * Wake Lock remain the channel). A tap asks for permission, registers /push-sw.js (scope /t/),
 * subscribes with the server's VAPID key (GET /api/push/key) and hands the subscription to
 * POST /api/tickets/{token}/push; a second tap unsubscribes (DELETE). See docs/protocol.md. */
(function () {
  "use strict";
  var HQ = window.HQ;
  var data = HQ.readJSON("visitor-data") || {};
  var token = data.token;
  var button = document.getElementById("push");
  var message = document.getElementById("push-message");
  if (!button || !token || data.missing) return;
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;

  var SUBSCRIBED_KEY = "hallq.push." + token;
  var path = "/api/tickets/" + encodeURIComponent(token) + "/push";

  function remembered() { try { return localStorage.getItem(SUBSCRIBED_KEY) === "1"; } catch (e) { return false; } }
  function remember(on) {
    try { if (on) localStorage.setItem(SUBSCRIBED_KEY, "1"); else localStorage.removeItem(SUBSCRIBED_KEY); } catch (e) { /* private mode */ }
  }
  function show(on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.setAttribute("data-i18n", on ? "v_push_is_on" : "v_push_on");
    button.textContent = HQ.t(on ? "v_push_is_on" : "v_push_on");
  }
  function say(key, vars) {
    message.setAttribute("data-i18n", key);
    message.textContent = key ? HQ.t(key, vars) : "";
  }
  function keyBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "===".slice((b64.length + 3) % 4);
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function failed(err) {
    button.disabled = false;
    say("v_push_failed", { message: err && err.code ? HQ.refusalText(err) : String((err && err.message) || err || "") });
  }

  function subscribe() {
    button.disabled = true;
    Promise.resolve(Notification.requestPermission()).then(function (permission) {
      if (permission !== "granted") { button.disabled = false; say("v_push_denied"); return null; }
      return navigator.serviceWorker.register("/push-sw.js", { scope: "/t/" }).then(function () {
        return Promise.all([navigator.serviceWorker.ready, HQ.api("GET", "/api/push/key")]);
      }).then(function (both) {
        var registration = both[0], res = both[1];
        if (!res.ok) throw (res.data && res.data.error) || { code: "http_error" };
        return registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(res.data.public_key),
        });
      }).then(function (subscription) {
        var body = subscription.toJSON ? subscription.toJSON() : subscription;
        return HQ.api("POST", path, body);
      }).then(function (res) {
        if (!res.ok) throw (res.data && res.data.error) || { code: "http_error" };
        button.disabled = false;
        remember(true);
        show(true);
        say("v_push_done");
      });
    }).catch(failed);
  }

  function unsubscribe() {
    button.disabled = true;
    HQ.api("DELETE", path).then(function () {
      remember(false);
      show(false);
      say("");
      button.disabled = false;
    }, failed);
  }

  button.addEventListener("click", function () {
    if (button.getAttribute("aria-pressed") === "true") unsubscribe(); else subscribe();
  });
  HQ.onLang(function () { show(button.getAttribute("aria-pressed") === "true"); });
  show(remembered() && Notification.permission === "granted");
  button.hidden = false;
})();
