// How far the reader has read this room, and where they are in it: the "new messages"
// divider, reporting the read position (at most once every READ_EVERY_MS, and at once when
// the page is hidden or left: never a frame per message), and returning to a room at its
// first unread message, or where this tab left it.
//
// A message counts as read once its top is inside the timeline while the page is visible.
// Where a position goes (the socket for a member, localStorage for a guest) is the
// caller's: room-sidebar.js.

import { displayName } from "./room-name.js";

const READ_EVERY_MS = 2000;
const ANCHOR_KEY = "chatapp:anchor:";  // sessionStorage: where this tab left each room
const NEAR_BOTTOM_PX = 120;

const room = document.body.dataset.room;
const list = document.getElementById("messages");
const timeline = list ? list.closest(".timeline") : null;

let position = 0;       // how far the reader has read
let reported = 0;       // the last position the caller took
let lastReport = 0;
let timer = null;
let save = () => true;  // hands a position on; false if it could not (the socket is down)
let changed = () => {};

export function readPosition() {
  return position;
}

// New messages on the page after the read position, the reader's own aside.
export function unreadHere() {
  if (!list) return 0;
  const me = displayName();
  let n = 0;
  for (let li = list.lastElementChild; li; li = li.previousElementSibling) {
    if (+li.dataset.id <= position) break;
    const user = li.querySelector(".user");
    if (!(user && user.textContent === me)) n++;
  }
  return n;
}

// The first message after ``after`` (not the reader's own) carries the divider.
export function markFirstUnread(after) {
  if (!list) return null;
  const me = displayName();
  for (const li of list.querySelectorAll(".message[data-id]")) {
    if (+li.dataset.id <= after) continue;
    const user = li.querySelector(".user");
    if (user && user.textContent === me) continue;
    for (const old of list.querySelectorAll(".message.first-unread")) old.classList.remove("first-unread");
    li.classList.add("first-unread");
    return li;
  }
  return null;
}

// Another page of the same member read this room this far.
export function readElsewhere(id) {
  if (id > position) position = id;
  if (id > reported) reported = id;
  changed();
}

// The newest message the reader can see: the last one whose top is inside the timeline.
function visibleId() {
  if (!timeline || document.hidden) return 0;
  const bottom = timeline.getBoundingClientRect().bottom;
  for (let li = list.lastElementChild; li; li = li.previousElementSibling) {
    if (li.getBoundingClientRect().top < bottom - 4) return +li.dataset.id || 0;
  }
  return 0;
}

let looking = false;
function note() {
  if (looking) return;  // one look per frame, however many scroll events
  looking = true;
  requestAnimationFrame(() => { looking = false; noteNow(); });
}

function noteNow() {
  const id = visibleId();
  if (id > position) {
    position = id;
    schedule();
  }
  changed();
}

function schedule() {
  if (timer !== null || position <= reported) return;
  timer = setTimeout(report, Math.max(0, lastReport + READ_EVERY_MS - Date.now()));
}

// Hand the position on now, if it moved (also when the socket opens again).
export function report() {
  clearTimeout(timer);
  timer = null;
  if (position <= reported || !save(position)) return;
  reported = position;
  lastReport = Date.now();
}

// Returning to a room: the first unread message if there is one, else where this tab left
// it, else the latest (room-timeline.js's default). Not for a link to one message (?at=).
function restorePlace() {
  if (!timeline || new URLSearchParams(location.search).has("at")) return;
  const divider = list.querySelector(".message.first-unread");
  if (divider) {
    divider.scrollIntoView({ block: "start" });
    timeline.scrollTop -= 24;  // the divider's line and label, above the message
    return;
  }
  let anchor = null;
  try { anchor = JSON.parse(sessionStorage.getItem(ANCHOR_KEY + room) || "null"); } catch (e) { /* none */ }
  const li = anchor && document.getElementById("m" + anchor.id);
  if (li) timeline.scrollTop += li.getBoundingClientRect().top - timeline.getBoundingClientRect().top - anchor.offset;
}

function rememberPlace() {
  if (!timeline) return;
  const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < NEAR_BOTTOM_PX;
  try {
    if (atBottom) { sessionStorage.removeItem(ANCHOR_KEY + room); return; }
    const top = timeline.getBoundingClientRect().top;
    const li = Array.from(list.children).find((x) => x.getBoundingClientRect().bottom > top);
    if (li) {
      sessionStorage.setItem(ANCHOR_KEY + room,
        JSON.stringify({ id: +li.dataset.id, offset: li.getBoundingClientRect().top - top }));
    }
  } catch (e) { /* no storage */ }
}

function leaving() {
  noteNow();
  report();
  rememberPlace();
}

// lastRead: where the reader was when the page was made. onSave(id): hand a position on,
// true if it went. onChange(): the count of unread here may have changed.
export function setupReading({ lastRead, onSave, onChange }) {
  position = reported = lastRead;
  save = onSave;
  changed = onChange;
  restorePlace();
  if (timeline) {
    timeline.addEventListener("scroll", note, { passive: true });
    // New messages: read if they are in view; while the tab is hidden the first of them
    // gets the divider (unless one already marks what is unread).
    new MutationObserver((changes) => {
      if (document.hidden) {
        const marked = list.querySelector(".message.first-unread");
        if (!marked || +marked.dataset.id <= position) markFirstUnread(position);
      }
      if (changes.some((c) => c.addedNodes.length)) note();
    }).observe(list, { childList: true });
  }
  document.addEventListener("visibilitychange", () => { if (document.hidden) leaving(); else note(); });
  window.addEventListener("pagehide", leaving);
  window.addEventListener("focus", note);
  noteNow();
}
