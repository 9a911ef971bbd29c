// The sidebar of the person's rooms and DMs, with live unread and mention counts, and the
// tab title's unread total: `(3) #general · chatapp`.
//
// A member's sidebar is rendered by the server (templates/_sidebar.html, its state on the
// nav as JSON) and refreshed by the `sidebar` frame each time the socket (re)connects;
// `activity` frames say a room got a message (or mentioned the reader), `read` frames that
// another page of theirs read a room. A guest's sidebar is the rooms this browser visited
// (localStorage), with their read positions; the page asks the server for counts with one
// `watch` frame (docs/protocol.md, "Attention"). Reading this room, the divider and the
// read reports are room-reading.js's; the drawer and the menus room-sidebar-menu.js's.
//
// Other modules hear about mentions and DMs with onAttention(callback), or the
// "chatapp:attention" event on document (detail: the activity frame): room-notifications.js
// shows a browser notification from it while the tab is in the background.

import { displayName } from "./room-name.js";
import { markFirstUnread, readElsewhere, report, setupReading, unreadHere } from "./room-reading.js";
import { decorateAvatar } from "./room-render.js";
import { setupDrawer, setupLevelForm, setupMenu } from "./room-sidebar-menu.js";

const GUEST_KEY = "chatapp:rooms";  // {room: {read: id, seen: ms}}
const GUEST_ROOMS = 50;             // the most a guest's sidebar keeps (and a watch may ask for)

const nav = document.getElementById("rooms-nav");
const navData = nav ? nav.dataset : {};
const member = navData.member === "1";
const countLimit = parseInt(navData.countLimit, 10) || 100;
const current = document.body.dataset.room;
const roomsList = document.getElementById("rooms-list");
const dmsList = document.getElementById("dms-list");
const itemTemplate = document.getElementById("rooms-item-template");
const baseTitle = document.title;

const rooms = new Map();   // room -> state (see track())
const listeners = [];
const told = new Set();    // "room:id" already passed on as attention
let send = () => false;
let strayMentions = 0;     // mentions in rooms not in the sidebar (the Mentions link counts them)

// ---- state of one room

// base: the server's count as of baseLatest; fresh: ids that came after, by activity.
function track(room, fields) {
  let r = rooms.get(room);
  if (!r) {
    r = { room, visibility: "public", other: null, lastRead: 0, base: 0, baseLatest: 0, mentionBase: 0,
      fresh: new Set(), freshMentions: new Set(), level: "mentions", el: null };
    rooms.set(room, r);
  }
  Object.assign(r, fields);
  return r;
}

function unread(r) {
  if (r.room === current) return 0;
  let n = r.lastRead >= r.baseLatest ? 0 : r.base;
  for (const id of r.fresh) if (id > r.lastRead) n++;
  return n;
}

function mentions(r) {
  if (r.room === current) return 0;
  let n = r.lastRead >= r.baseLatest ? 0 : r.mentionBase;
  for (const id of r.freshMentions) if (id > r.lastRead) n++;
  return n;
}

function shown(n) {
  return n >= countLimit ? (countLimit - 1) + "+" : String(n);
}

function label(r) {
  return r.visibility === "dm" ? (r.other || "Direct message") : r.room;
}

// ---- the list

// The page's own rooms: the server's list (the `sidebar` frame's entries, on the nav) and
// the items it rendered for them.
function fromPage() {
  let entries = [];
  try { entries = JSON.parse(navData.rooms || "[]"); } catch (e) { /* none */ }
  for (const e of entries) {
    const r = track(e.room, {
      visibility: e.visibility, other: e.other || null, lastRead: e.last_read, base: e.unread,
      baseLatest: e.latest, mentionBase: e.mentions, level: e.level,
    });
    r.el = nav.querySelector('.rooms-item[data-room="' + CSS.escape(e.room) + '"]');
    const avatar = r.el && r.el.querySelector(".rooms-icon.avatar");
    if (avatar) decorateAvatar(avatar, r.other || "?");
  }
}

function element(r) {
  if (r.el) return r.el;
  const li = itemTemplate.content.firstElementChild.cloneNode(true);
  li.dataset.room = r.room;
  li.dataset.visibility = r.visibility;
  li.querySelector(".rooms-link").href = "/rooms/" + encodeURIComponent(r.room);
  li.querySelector(".rooms-label").textContent = label(r);
  const icon = li.querySelector(".rooms-icon");
  if (r.visibility === "dm") {
    icon.classList.add("avatar");
    decorateAvatar(icon, label(r));
  } else if (r.visibility === "private") {
    icon.textContent = "🔒";
  }
  const menu = li.querySelector(".rooms-menu-button");
  if (menu) menu.setAttribute("aria-label", "Notifications for " + (r.visibility === "dm" ? label(r) : "#" + r.room));
  if (r.room === current) {
    li.classList.add("current");
    li.querySelector(".rooms-link").setAttribute("aria-current", "page");
  }
  r.el = li;
  return li;
}

function place(r) {
  const li = element(r);
  const target = r.visibility === "dm" && dmsList ? dmsList : roomsList;
  if (li.parentElement === target) return;
  // Rooms by name; DMs keep the newest first, so a new one goes on top.
  if (target === dmsList) { target.prepend(li); return; }
  const after = Array.from(target.children).find((x) => x.dataset.room > r.room);
  target.insertBefore(li, after || null);
}

function paint(r) {
  if (!r.el) return;
  const u = unread(r);
  const m = mentions(r);
  const li = r.el;
  li.dataset.unread = String(u);
  li.dataset.mentions = String(m);
  li.dataset.level = r.level;
  li.dataset.lastRead = String(r.lastRead);
  li.classList.toggle("unread", u > 0);
  li.classList.toggle("mentioned", m > 0);
  li.classList.toggle("muted", r.level === "nothing");
  const ub = li.querySelector(".rooms-unread");
  ub.hidden = u === 0;
  ub.textContent = shown(u);
  const mb = li.querySelector(".rooms-mentions");
  mb.hidden = m === 0;
  mb.textContent = "@" + shown(m);
}

function paintAll() {
  for (const r of rooms.values()) paint(r);
  for (const [listEl, empty] of [[roomsList, "rooms-empty"], [dmsList, "dms-empty"]]) {
    const p = document.getElementById(empty);
    if (listEl && p) p.hidden = listEl.children.length > 0;
  }
  title();
}

// ---- the tab title and the phone's badge

function title() {
  let total = unreadHere();
  let capped = false;
  let mentionTotal = strayMentions;
  for (const r of rooms.values()) {
    const m = mentions(r);
    mentionTotal += m;
    if (r.level === "nothing") continue;
    const u = unread(r);
    total += u;
    capped ||= u >= countLimit;
  }
  const text = capped || total >= countLimit ? (countLimit - 1) + "+" : String(total);
  document.title = total ? "(" + text + ") " + baseTitle : baseTitle;
  const badge = document.getElementById("rooms-toggle-badge");
  if (badge) {
    const others = total - unreadHere();
    badge.hidden = others <= 0 && mentionTotal <= 0;
    badge.textContent = mentionTotal ? "@" : shown(Math.max(others, 0));
    badge.classList.toggle("mention", mentionTotal > 0);
  }
  const mentionsTotal = document.getElementById("rooms-mentions-total");
  if (mentionsTotal) {
    mentionsTotal.hidden = mentionTotal === 0;
    mentionsTotal.textContent = shown(mentionTotal);
  }
}

// ---- frames

function applySidebar(frame) {
  const seen = new Set();
  for (const e of frame.rooms || []) {
    seen.add(e.room);
    const r = track(e.room, {
      visibility: e.visibility, other: e.other || null, lastRead: e.last_read, base: e.unread,
      baseLatest: e.latest, mentionBase: e.mentions, level: e.level,
    });
    r.fresh = new Set();
    r.freshMentions = new Set();
    place(r);
  }
  for (const [room, r] of rooms) {
    if (!seen.has(room) && room !== current) {  // left the room, or it was deleted
      if (r.el) r.el.remove();
      rooms.delete(room);
    }
  }
  paintAll();
}

function applyActivity(frame) {
  const me = displayName();
  if (frame.user === me && !member) return;  // a guest's own message, from another tab
  let r = rooms.get(frame.room);
  if (!r) {
    if (frame.mention && !member) return;
    if (frame.mention && !frame.dm) { strayMentions++; title(); passOn(frame); return; }
    // A room that just joined the sidebar: a new DM, or a private room one was added to.
    r = track(frame.room, { visibility: frame.dm ? "dm" : "public", other: frame.dm ? frame.user : null });
    place(r);
  }
  if (frame.id > r.lastRead) {
    if (frame.mention) r.freshMentions.add(frame.id);
    if (frame.id > r.baseLatest) r.fresh.add(frame.id);  // base counted those up to baseLatest
  }
  paint(r);
  title();
  passOn(frame);
}

function passOn(frame) {
  if (!frame.mention && !frame.dm) return;
  const key = frame.room + ":" + frame.id;
  if (told.has(key)) return;  // a DM that also mentions: one notice
  told.add(key);
  if (told.size > 500) told.clear();
  for (const callback of listeners) {
    try { callback(frame); } catch (e) { console.error(e); }
  }
  document.dispatchEvent(new CustomEvent("chatapp:attention", { detail: frame }));
}

function applyRead(frame) {
  if (frame.room === current) {
    readElsewhere(frame.id);  // another page of ours read it: this one need not say so
    return;
  }
  const r = rooms.get(frame.room);
  if (!r) return;
  if (frame.id > r.lastRead) r.lastRead = frame.id;
  paint(r);
  title();
}

function applyWatching(frame) {
  for (const [room, counts] of Object.entries(frame.rooms || {})) {
    const r = rooms.get(room);
    if (!r) continue;
    Object.assign(r, { base: counts.unread, baseLatest: counts.latest, fresh: new Set() });
  }
  paintAll();
}

// Frames this module owns (docs/protocol.md, "Attention"); false for any other.
export function handle(frame) {
  switch (frame.type) {
    case "sidebar": applySidebar(frame); return true;
    case "activity": applyActivity(frame); return true;
    case "read": applyRead(frame); return true;
    case "watching": applyWatching(frame); return true;
    default: return false;
  }
}

export function onAttention(callback) {
  listeners.push(callback);
}

// ---- guests: the rooms this browser visited

function guestRooms() {
  try {
    const stored = JSON.parse(localStorage.getItem(GUEST_KEY) || "{}");
    return stored && typeof stored === "object" ? stored : {};
  } catch (e) { return {}; }
}

function saveGuest(update) {
  try {
    const stored = guestRooms();
    update(stored);
    const keep = Object.entries(stored).sort((a, b) => (b[1].seen || 0) - (a[1].seen || 0)).slice(0, GUEST_ROOMS);
    localStorage.setItem(GUEST_KEY, JSON.stringify(Object.fromEntries(keep)));
  } catch (e) { /* no storage: the sidebar lasts as long as the page */ }
}

// The rooms this browser visited; the read position of this one, where the divider goes.
function setupGuest() {
  const stored = guestRooms();
  const here = stored[current];
  for (const [room, entry] of Object.entries(stored)) {
    if (room !== current) place(track(room, { lastRead: entry.read || 0 }));
  }
  place(track(current, {}));
  const lastRead = here ? here.read || 0 : 0;
  saveGuest((s) => { s[current] = { read: lastRead, seen: Date.now() }; });
  if (here) markFirstUnread(lastRead);
  return lastRead;
}

// Sent on every (re)connect: what the server counts for us, and activity from then on.
function watch() {
  const asked = {};
  for (const r of rooms.values()) if (r.room !== current) asked[r.room] = r.lastRead;
  if (Object.keys(asked).length) send({ type: "watch", rooms: asked });
}

// ---- setup

function leveled(room, level) {
  const r = rooms.get(room);
  if (r) { r.level = level; paint(r); }
  title();
}

function left(room) {
  const r = rooms.get(room);
  if (r && r.el) r.el.remove();
  rooms.delete(room);
  paintAll();
}

// Where a read position goes: the socket for a member (false while it is down: it goes on
// reconnect), this browser's storage for a guest.
function save(id) {
  if (member) return send({ type: "read", room: current, id });
  saveGuest((s) => { s[current] = { read: id, seen: Date.now() }; });
  return true;
}

// send(frame): the page's socket; false when it is not open.
export function setupSidebar({ send: sendFrame }) {
  if (!nav) return;
  send = sendFrame;
  fromPage();
  const lastRead = member ? parseInt(navData.lastRead, 10) || 0 : setupGuest();
  paintAll();
  setupReading({ lastRead, onSave: save, onChange: title });
  setupDrawer();
  setupMenu({ room: (name) => rooms.get(name), leveled, left });
  setupLevelForm({ leveled });
}

// The socket is (again) open: a guest asks for its rooms' counts; a position not yet
// reported goes now.
export function connected() {
  if (!nav) return;
  if (!member) watch();
  else report();
}
