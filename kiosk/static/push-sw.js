// hallq's Web Push service worker (served at /push-sw.js, registered with the scope /t/).
// Shows "3 ahead of you" / "your turn at window 3" when the visitor's page is in the background
// or the phone is locked; a tap opens (or focuses) the ticket page. See docs/protocol.md.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const title = data.title || "hallq";
  const options = {
    body: data.body || "",
    tag: data.tag || "hallq",
    renotify: true,
    requireInteraction: data.kind === "call",
    vibrate: data.kind === "call" ? [300, 150, 300, 150, 600] : [200],
    data: { url: data.url || "/" },
    lang: data.lang || "",
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow ? self.clients.openWindow(url) : undefined;
    }),
  );
});
