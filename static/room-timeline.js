// The messages on screen: kept in id order and never twice, grouped by author, and
// scrolled the way a chat is (new messages are followed only from the bottom).

import { decorateAvatar, formatTime, renderMessage } from "./room-render.js";
import { displayName } from "./room-name.js";

const GROUP_GAP_MS = 5 * 60 * 1000;  // a name is shown again after five quiet minutes
const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 40;

const list = document.getElementById("messages");
const timeline = list.closest(".timeline");
const emptyEl = document.getElementById("empty");

function messages() {
  return list.querySelectorAll(".message[data-id]");
}

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

function regroupAll() {
  for (const li of messages()) group(li);
}

function setEmpty(empty) {
  emptyEl.hidden = !empty;
}

export function markMine() {
  const me = displayName();
  for (const li of messages()) li.classList.toggle("mine", authorOf(li) === me);
}

export function firstId() {
  const first = list.querySelector(".message[data-id]");
  return first ? idOf(first) : 0;
}

export function lastId() {
  const all = messages();
  return all.length ? idOf(all[all.length - 1]) : 0;
}

function shown(id) {
  return document.getElementById("m" + id) !== null;
}

function nearBottom() {
  return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < NEAR_BOTTOM_PX;
}

export function scrollToBottom() {
  timeline.scrollTop = timeline.scrollHeight;
}

// follow: scroll down even if the reader was not at the bottom (their own message).
export function addMessage(m, follow) {
  if (shown(m.id)) return;  // a resume and a live frame may both carry it
  const stick = nearBottom();
  const li = renderMessage(m);
  li.classList.toggle("mine", m.user === displayName());
  // Messages arrive in id order; keep the list sorted even if one arrives out of turn.
  const later = m.id > lastId() ? null : Array.from(messages()).find((el) => idOf(el) > m.id);
  list.insertBefore(li, later || null);
  group(li);
  group(li.nextElementSibling);
  setEmpty(false);
  if (stick || follow) scrollToBottom();
}

// A page of older history goes above what is there, without moving what the reader sees.
export function addOlder(page) {
  const height = timeline.scrollHeight;
  const anchor = list.firstChild;
  for (const m of page) {
    if (shown(m.id)) continue;
    const li = renderMessage(m);
    li.classList.toggle("mine", m.user === displayName());
    list.insertBefore(li, anchor);
  }
  regroupAll();
  timeline.scrollTop += timeline.scrollHeight - height;
}

export function removeMessage(id) {
  const li = document.getElementById("m" + id);
  if (!li) return;
  const next = li.nextElementSibling;
  li.remove();
  group(next);
  if (!list.querySelector(".message")) setEmpty(true);
}

export function clearMessages() {
  list.replaceChildren();
  setEmpty(true);
}

export function onNearTop(callback) {
  timeline.addEventListener("scroll", () => { if (timeline.scrollTop < NEAR_TOP_PX) callback(); });
}

// The server rendered the history: give it local times, avatar colours, groups and "mine",
// then show the message the page was opened at, or the latest.
export function setupTimeline() {
  for (const t of list.querySelectorAll("time[datetime]")) formatTime(t);
  for (const li of messages()) {
    const avatar = li.querySelector(".avatar");
    if (avatar) decorateAvatar(avatar, authorOf(li) || "");
  }
  regroupAll();
  markMine();
  const highlighted = list.querySelector(".message.highlight");
  if (highlighted) highlighted.scrollIntoView({ block: "center" });
  else scrollToBottom();
}
