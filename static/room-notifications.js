// Notifications, on the page's side: the bell in the room's top bar, and what the page
// shows by itself while its tab is in the background.
//
// - The bell (members only: templates/_notifications.html) says whether notifications are
//   on in this browser, off, or blocked by it (and how to unblock them). "Turn on" asks the
//   browser's permission (only on that click, never on load), registers the service worker
//   (/sw.js), subscribes to Web Push with the server's key and sends the subscription to
//   POST /api/push/subscriptions. "Turn off" unsubscribes and tells the server.
// - While the tab is hidden, and once the member turned them on in this browser, a mention
//   of the viewer or a message in a DM arriving on this page's socket shows a notification
//   here (the server pushes only to members with no socket open: chatapp/push/notifier.py);
//   so does an activity frame for another room, which the sidebar passes on as a
//   "chatapp:attention" event. Clicking one focuses the tab and opens the message.
//
// docs/protocol.md ("Push notifications API") has the calls; static/sw.js the worker.

const control = document.getElementById("notify-control");
const data = document.body.dataset;
const room = data.room || "";
const viewerName = (data.memberName || "").toLowerCase();
// "on": this member turned notifications on in this browser. Per member: a browser that
// allowed notifications for the site does not sign up whoever logs in next.
const OPT_IN_KEY = "chatapp.notifications." + viewerName;
const MAX_BODY = 200;
const SUBSCRIBE_MS = 15000;

let ui = null;
let state = "off";
let busy = false;

// ---- what the browser can do

function supported() {
  return "Notification" in window;
}

function pushSupported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window;
}

let optedInHere = false;  // the same, for a browser that keeps no storage

function optedIn() {
  try { return localStorage.getItem(OPT_IN_KEY) === "on" || optedInHere; } catch { return optedInHere; }
}

function setOptedIn(value) {
  optedInHere = value;
  try {
    if (value) localStorage.setItem(OPT_IN_KEY, "on"); else localStorage.removeItem(OPT_IN_KEY);
  } catch { /* no storage: it lasts as long as the page */ }
}

function b64urlBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const held = subscription.options && subscription.options.applicationServerKey;
  if (!held) return true;  // the browser does not say: assume it is ours
  const a = new Uint8Array(held);
  return a.length === key.length && a.every((v, i) => v === key[i]);
}

// ---- talking to the server

async function api(path, body) {
  const options = { credentials: "same-origin", headers: { "X-CSRF-Token": control.dataset.pushToken } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.detail || "The server said no (" + response.status + ").");
  return answer;
}

// A browser with no way to reach its push service (no network, or none built in) may never
// answer a subscribe; the control must not spin for ever.
function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what + " took too long")), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function registration() {
  return navigator.serviceWorker.register("/sw.js", { scope: "/" });
}

// The browser's subscription for the server's current key: a subscription made with an
// older key (the server's key file was replaced) is dropped and made again.
async function subscribe() {
  const { key } = await api(control.dataset.keyPath);
  const serverKey = b64urlBytes(key);
  const reg = await registration();
  await navigator.serviceWorker.ready;
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, serverKey)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  if (!subscription) {
    subscription = await withTimeout(
      reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey }),
      SUBSCRIBE_MS, "the browser's push service");
  }
  await api(control.dataset.subscribePath, subscription.toJSON());
  return subscription;
}

async function currentSubscription() {
  if (!pushSupported()) return null;
  const reg = await navigator.serviceWorker.getRegistration("/");
  return reg ? reg.pushManager.getSubscription() : null;
}

function pushProblem(err) {
  return "This browser could not sign up for push messages (" + (err && err.message ? err.message : String(err))
    + "), so nothing arrives once every chatapp tab is closed.";
}

// ---- the control's states

const TEXT = {
  unsupported: ["This browser cannot show notifications.", ""],
  off: ["Notifications are off in this browser.",
    "Turn them on to hear about mentions and direct messages, even when chatapp is closed."],
  on: ["Notifications are on in this browser.",
    "Mentions and direct messages reach you here, even when chatapp is closed. Each room's notification level still applies."],
  "tab-only": ["Notifications are on while chatapp is open.",
    "This browser could not sign up for push messages, so nothing arrives once every chatapp tab is closed."],
  blocked: ["Notifications are blocked by this browser.",
    "To allow them, open this site's settings (the icon to the left of the address), set Notifications to Allow, then reload the page."],
  working: ["Asking your browser…", ""],
};

function show(next, problem = "") {
  state = next;
  control.dataset.state = next;
  const [text, help] = TEXT[next];
  ui.state.textContent = text;
  ui.help.textContent = problem || help;
  ui.help.classList.toggle("notify-problem", !!problem);
  ui.on.hidden = !(next === "off");
  ui.off.hidden = !(next === "on" || next === "tab-only");
  ui.on.disabled = ui.off.disabled = busy;
  const label = { on: "Notifications: on", "tab-only": "Notifications: on while open", blocked: "Notifications: blocked",
    unsupported: "Notifications: not available", off: "Notifications: off", working: "Notifications" }[next];
  ui.toggle.setAttribute("aria-label", label);
  ui.toggle.title = label;
}

async function settle() {
  if (!supported()) return show("unsupported");
  if (Notification.permission === "denied") return show("blocked");
  if (Notification.permission !== "granted" || !optedIn()) return show("off");
  if (!pushSupported()) return show("tab-only");
  try {
    // Confirmed on every page: it ties the subscription to this login (a new login in this
    // browser, or a subscription the browser renewed, would otherwise go unheard). With the
    // permission already granted, subscribing again asks nothing.
    const subscription = await currentSubscription();
    if (subscription) await api(control.dataset.subscribePath, subscription.toJSON());
    else await subscribe();
    return show("on");
  } catch (err) {
    return show("tab-only", pushProblem(err));
  }
}

async function turnOn() {
  busy = true;
  show("working");
  let problem = "";
  try {
    const permission = await Notification.requestPermission();
    if (permission === "granted") {
      setOptedIn(true);
      if (pushSupported()) {
        try {
          await subscribe();
        } catch (err) {
          problem = pushProblem(err);
        }
      }
    }
  } finally {
    busy = false;
  }
  if (Notification.permission === "granted" && !problem) {
    await settle();
  } else if (Notification.permission === "granted") {
    show("tab-only", problem);
  } else {
    show(Notification.permission === "denied" ? "blocked" : "off");
  }
}

async function turnOff() {
  busy = true;
  show("working");
  setOptedIn(false);
  let problem = "";
  try {
    const subscription = await currentSubscription();
    if (subscription) {
      const endpoint = subscription.endpoint;
      await subscription.unsubscribe();
      await api(control.dataset.unsubscribePath, { endpoint });
    }
  } catch (err) {
    problem = "Could not tell the server: " + (err && err.message ? err.message : err) + ".";
  } finally {
    busy = false;
  }
  show("off", problem);
}

// ---- the panel

function openPanel(open) {
  ui.panel.hidden = !open;
  ui.toggle.setAttribute("aria-expanded", String(open));
  if (open) (ui.on.hidden ? ui.off.hidden ? ui.toggle : ui.off : ui.on).focus();
}

function setupPanel() {
  ui = {
    toggle: document.getElementById("notify-toggle"),
    panel: document.getElementById("notify-panel"),
    state: document.getElementById("notify-state"),
    help: document.getElementById("notify-help"),
    on: document.getElementById("notify-on"),
    off: document.getElementById("notify-off"),
  };
  ui.toggle.addEventListener("click", () => openPanel(ui.panel.hidden));
  ui.on.addEventListener("click", () => { turnOn(); });
  ui.off.addEventListener("click", () => { turnOff(); });
  document.addEventListener("click", (event) => {
    if (!ui.panel.hidden && !control.contains(event.target)) openPanel(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !ui.panel.hidden) {
      openPanel(false);
      ui.toggle.focus();
    }
  });
}

// ---- notifications shown by the page

function allowedHere() {
  return supported() && Notification.permission === "granted" && !!viewerName && optedIn()
    && document.visibilityState === "hidden";
}

function isDm(name) {
  return name.startsWith("dm-");
}

function roomUrl(name, id) {
  return "/rooms/" + encodeURIComponent(name) + "?at=" + id;
}

function excerpt(text) {
  const line = String(text || "").split(/\s+/).filter(Boolean).join(" ");
  return line.length <= MAX_BODY ? line : line.slice(0, MAX_BODY - 1).trimEnd() + "…";
}

// Whether a chat frame's message mentions the viewer: a rendered mention
// (<span class="mention">@name</span>, chatapp/formatting.py) naming them or @here; or,
// from a renderer that marks none, "@name" or "@here" in the text.
function mentionsViewer(frame) {
  if (!viewerName) return false;
  const doc = new DOMParser().parseFromString(frame.html || "", "text/html");  // never shown
  const marked = doc.querySelectorAll(".mention");
  if (marked.length) {
    return Array.from(marked).some((el) => {
      const name = (el.textContent || "").replace(/^@/, "").replace(/^"(.*)"$/, "$1").toLowerCase();
      return name === viewerName || name === "here";
    });
  }
  const escaped = viewerName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp("(^|[^\\w@])@(" + escaped + "|here)(?![\\w-])", "i").test(String(frame.message || ""));
}

function openMessage(url, id) {
  window.focus();
  const target = new URL(url, location.origin);
  const here = target.pathname === location.pathname;
  const element = here && id ? document.getElementById("m" + id) : null;
  if (element) {
    document.querySelectorAll(".message.highlight").forEach((li) => li.classList.remove("highlight"));
    element.classList.add("highlight");
    element.scrollIntoView({ block: "center" });
  } else if (target.origin === location.origin) {
    location.assign(target.pathname + target.search);
  }
}

function showNotification(title, body, name, id) {
  const url = roomUrl(name, id);
  try {
    const shown = new Notification(title, {
      body, tag: "chatapp:" + name, renotify: true, icon: "/static/notification-icon.png",
      data: { url, room: name, id },
    });
    shown.addEventListener("click", () => { shown.close(); openMessage(url, id); });
  } catch {
    // Some browsers (Android's Chrome) allow notifications only from a service worker.
    if (pushSupported()) {
      navigator.serviceWorker.getRegistration("/").then((reg) => reg && reg.showNotification(title, {
        body, tag: "chatapp:" + name, renotify: true, icon: "/static/notification-icon.png", data: { url, room: name, id },
      })).catch(() => {});
    }
  }
}

// The member's level for this room ("all", "mentions" or "nothing"), as the sidebar shows
// it (templates/_sidebar.html keeps it current); "" when the page has no sidebar.
function roomLevel() {
  const item = document.querySelector("#rooms-nav .rooms-item.current");
  return (item && item.dataset.level) || "";
}

// A chat frame for the room this page has open (room-main.js calls this for each).
export function noticeChat(frame) {
  if (!allowedHere() || !frame || frame.type !== "chat" || !frame.id) return;
  if (viewerName && String(frame.user || "").toLowerCase() === viewerName) return;  // one's own
  const level = roomLevel();
  if (level === "nothing") return;
  const dm = isDm(room);
  const mention = mentionsViewer(frame);
  if (!dm && !mention && level !== "all") return;
  const title = dm ? frame.user + " (direct message)"
    : mention ? frame.user + " mentioned you in #" + room : frame.user + " in #" + room;
  const body = excerpt(frame.message) || (frame.file ? "sent a file: " + frame.file.name : "sent a message");
  showNotification(title, body, room, frame.id);
}

// An activity frame for another room, passed on by the sidebar: {type: "activity", room, id,
// user, mention, dm?, excerpt?} (docs/protocol.md). A DM's arrives once as a message and,
// if it mentions the viewer, again as a mention: its tag makes the second replace the first.
function noticeActivity(frame) {
  if (!allowedHere() || !frame || !frame.room || !frame.id || frame.room === room) return;
  const dm = !!frame.dm || isDm(frame.room);
  if (!dm && !frame.mention) return;
  const who = frame.user || "Someone";
  const title = dm ? who + " (direct message)" : who + " mentioned you in #" + frame.room;
  showNotification(title, excerpt(frame.excerpt) || "Open it to read it.", frame.room, frame.id);
}

export function setupNotifications() {
  document.addEventListener("chatapp:attention", (event) => noticeActivity(event.detail));
  if (pushSupported()) {
    // The worker asks a tab showing the room to open a clicked push's message.
    navigator.serviceWorker.addEventListener("message", (event) => {
      const msg = event.data || {};
      if (msg.type === "chatapp:open" && typeof msg.url === "string") openMessage(msg.url, msg.id);
    });
    navigator.serviceWorker.startMessages();  // a page the worker does not control hears it too
  }
  if (!control) return;  // a guest's page: no control, no push
  setupPanel();
  settle();
}
