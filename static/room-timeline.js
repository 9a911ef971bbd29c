// The messages on screen: kept in id order and never twice, grouped by author, at most CAP
// of them, and scrolled the way a chat is (new messages are followed only from the bottom).
//
// Everything here costs the same however many messages are shown: ids are looked up in a
// Map, a newer message is appended without searching, and a batch of messages is inserted
// with one DOM operation and one layout read (the scroll position) for the whole batch.
// Which messages get here, and when, is room-live.js's business.

import { decorateAvatar, formatTime, renderMessage } from "./room-render.js";
import { displayName } from "./room-name.js";

export const CAP = 500;  // messages kept in the DOM; the rest are a history page away
const GROUP_GAP_MS = 5 * 60 * 1000;  // a name is shown again after five quiet minutes
const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 40;

const list = document.getElementById("messages");
const timeline = list.closest(".timeline");
const emptyEl = document.getElementById("empty");
const byId = new Map();  // id → <li>, for everything in the list

function idOf(li) {
  return parseInt(li.dataset.id, 10);
}

function authorOf(li) {
  const u = li && li.querySelector(".user");
  return u ? u.textContent : null;
}

function timeOf(li) {
  const t = li && li.querySelector("time");
  return t ? Date.parse(t.getAttribute("datetime")) : NaN;
}

// A message by the same person shortly after their last one is drawn without name and
// avatar, as chat apps do; the name stays in the DOM for scripts and screen readers.
function group(li) {
  if (!li) return;
  const prev = li.previousElementSibling;
  const gap = timeOf(li) - timeOf(prev);
  li.classList.toggle("continued", !!prev && authorOf(prev) === authorOf(li) && gap >= 0 && gap < GROUP_GAP_MS);
}

function setEmpty() {
  emptyEl.hidden = byId.size > 0;
}

function render(m) {
  const li = renderMessage(m);
  li.classList.toggle("mine", m.user === displayName());
  return li;
}

export function markMine() {
  const me = displayName();
  for (const li of byId.values()) li.classList.toggle("mine", authorOf(li) === me);
}

export function count() {
  return byId.size;
}

export function firstId() {
  const first = list.firstElementChild;
  return first ? idOf(first) : 0;
}

export function lastId() {
  const last = list.lastElementChild;
  return last ? idOf(last) : 0;
}

export function has(id) {
  return byId.has(id);
}

export function element(id) {
  return byId.get(id) || null;
}

export function nearBottom() {
  return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < NEAR_BOTTOM_PX;
}

export function scrollToBottom() {
  timeline.scrollTop = timeline.scrollHeight;
}

// The one place an element leaves the list, so the Map never holds a removed message.
function drop(li) {
  byId.delete(idOf(li));
  li.remove();
}

// Newer messages, oldest first, at the end (one that is older than the last, which a
// reconnect can bring, goes to its place: a walk back from the end, as it is never far).
// follow: scroll down even if the reader was not at the bottom (their own message).
// Returns how many of the oldest were dropped to stay under the cap.
export function append(messages, follow = false) {
  const stick = follow || nearBottom();
  messages = messages.slice().sort((a, b) => a.id - b.id);
  const batch = document.createDocumentFragment();
  let last = lastId();
  let firstNew = null;
  for (const m of messages) {
    if (byId.has(m.id)) continue;  // a resume and a live frame may both carry it
    const li = render(m);
    byId.set(m.id, li);
    if (m.id > last) {
      batch.append(li);
      last = m.id;
      firstNew ||= li;
    } else {
      let later = list.lastElementChild;
      while (later.previousElementSibling && idOf(later.previousElementSibling) > m.id) later = later.previousElementSibling;
      list.insertBefore(li, later);
      group(li);
      group(li.nextElementSibling);
    }
  }
  list.append(batch);
  for (let li = firstNew; li; li = li.nextElementSibling) group(li);
  const dropped = stick ? trimOldest() : 0;
  setEmpty();
  if (stick) scrollToBottom();
  return dropped;
}

// At the bottom, the oldest go once there are too many; the reader is not looking at them.
function trimOldest() {
  let dropped = 0;
  while (byId.size > CAP) { drop(list.firstElementChild); dropped++; }
  if (dropped) group(list.firstElementChild);
  return dropped;
}

// A page of older history goes above what is there, without moving what the reader sees;
// the newest go if that makes too many (returns how many did).
export function prepend(page) {
  const height = timeline.scrollHeight;
  const batch = document.createDocumentFragment();
  const added = [];
  for (const m of page) {
    if (byId.has(m.id) || (list.firstElementChild && m.id > firstId())) continue;
    const li = render(m);
    byId.set(m.id, li);
    batch.append(li);
    added.push(li);
  }
  const oldFirst = list.firstElementChild;
  list.prepend(batch);
  for (const li of added) group(li);
  group(oldFirst);
  let dropped = 0;
  while (byId.size > CAP) { drop(list.lastElementChild); dropped++; }
  setEmpty();
  timeline.scrollTop += timeline.scrollHeight - height;
  return dropped;
}

// Everything goes, for a fresh page of the latest messages (after a reset or a jump).
export function replaceAll(messages) {
  byId.clear();
  list.replaceChildren();
  append(messages, true);
  setEmpty();
}

export function removeMessage(id) {
  const li = byId.get(id);
  if (!li) return;
  const next = li.nextElementSibling;
  drop(li);
  group(next);
  setEmpty();
}

export function clearMessages() {
  byId.clear();
  list.replaceChildren();
  setEmpty();
}

export function onScroll(callback) {
  timeline.addEventListener("scroll", callback, { passive: true });
}

export function nearTop() {
  return timeline.scrollTop < NEAR_TOP_PX;
}

// The server rendered the history: give it local times, avatar colours, groups and "mine",
// then show the message the page was opened at, or the latest. True if it was opened at
// one (the reader is reading history, not following the room).
export function setupTimeline() {
  for (const li of list.querySelectorAll(".message[data-id]")) {
    byId.set(idOf(li), li);
    const t = li.querySelector("time[datetime]");
    if (t) formatTime(t);
    const avatar = li.querySelector(".avatar");
    if (avatar) decorateAvatar(avatar, authorOf(li) || "");
    group(li);
  }
  markMine();
  const highlighted = list.querySelector(".message.highlight");
  if (highlighted) highlighted.scrollIntoView({ block: "center" });
  else scrollToBottom();
  return !!highlighted;
}
