// The service worker: shows a Web Push from the server, and opens its message when clicked.
//
// Served at /sw.js (not /static/) so that its scope is the whole site. It has no fetch
// handler: pages load exactly as they would without it. The push payload is the JSON of
// chatapp/push/payload.py: {title, body, url, room, id, tag}.

const FALLBACK_TITLE = "chatapp";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function readPayload(event) {
  if (!event.data) return {};
  try {
    const data = event.data.json();
    return data && typeof data === "object" ? data : {};
  } catch {
    return { body: event.data.text() };
  }
}

// Only a path of this site: a payload can never send a click elsewhere.
function samePath(url) {
  try {
    const target = new URL(typeof url === "string" ? url : "/", self.location.origin);
    return target.origin === self.location.origin ? target : new URL("/", self.location.origin);
  } catch {
    return new URL("/", self.location.origin);
  }
}

self.addEventListener("push", (event) => {
  const data = readPayload(event);
  const title = typeof data.title === "string" && data.title ? data.title : FALLBACK_TITLE;
  const options = {
    body: typeof data.body === "string" ? data.body : "",
    // One per room: a room's newer message replaces its older one instead of piling up,
    // and still alerts (renotify).
    tag: typeof data.tag === "string" && data.tag ? data.tag : undefined,
    renotify: typeof data.tag === "string" && !!data.tag,
    icon: "/static/notification-icon.png",
    badge: "/static/notification-badge.png",
    data: { url: samePath(data.url).href, room: data.room, id: data.id },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

// A tab showing that room is focused and told to open the message (the page does it,
// keeping its place and socket); with none, a new tab opens at the message.
async function openMessage(target, id) {
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const same = tabs.find((tab) => new URL(tab.url).pathname === target.pathname);
  if (same) {
    await same.focus();
    same.postMessage({ type: "chatapp:open", url: target.pathname + target.search, id });
    return;
  }
  await self.clients.openWindow(target.href);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(openMessage(samePath(data.url), data.id));
});
