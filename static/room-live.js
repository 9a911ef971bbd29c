// What the socket brings, on its way to the screen: chat frames are rendered in batches
// (all that arrived before the page gets to run a task of its own), and only while the page
// shows the latest messages and has room for them. Otherwise they wait in a bounded buffer
// and a bar says "N new messages · Jump to latest"; reaching the bottom brings them in a
// page at a time, or pages through the history API across a gap. So the page does the
// same work per message however far behind it was, and never holds more than CAP of them.
//
// The stream from the socket is always contiguous: it resumes after the newest id it has
// brought (resumeAfter), or, far behind, the server sends a `reset` and the newest page.
// `gap` says that messages between the last one shown and the buffer (or the stream) are
// not on the page: they are fetched from the history API instead.

import { CAP, append, clearMessages, count, element, has, lastId, nearBottom, onScroll, removeMessage,
  replaceAll, scrollToBottom } from "./room-timeline.js";
import { showAlert } from "./room-notify.js";

const PAGE = 100;           // messages brought in at a time when catching up
// A task of our own, queued behind the socket's: not a timer or an animation frame, which a
// background tab (or a test's fake clock) may hold back while frames pile up.
const tick = new MessageChannel();

const bar = document.getElementById("jump");
const barButton = document.getElementById("jump-latest");

let historyPath = "";
let onOlder = () => {};     // tells room-history.js that older messages are there to load
let queue = [];             // received, not yet rendered
let follow = false;         // the batch holds the reader's own message
let scheduled = false;
let buffer = [];            // received, not shown: contiguous, the newest CAP at most
let gap = false;            // messages between the last shown and buffer[0] are missing
let unseen = 0;             // new messages the reader has not been shown (for the bar)
let countKnown = true;      // false after a reset: "new messages", without a number
let replaceNext = false;    // a reset while following: the next batch replaces the page
let streamHead = 0;         // the newest id the socket brought
let loading = false;

const following = () => !gap && buffer.length === 0;

// Where a reconnect resumes: everything up to here was shown, buffered or skipped on purpose.
export function resumeAfter() {
  return Math.max(streamHead, lastId());
}

function updateBar() {
  bar.hidden = following();
  if (bar.hidden) { unseen = 0; countKnown = true; return; }
  const what = !countKnown || unseen === 0 ? "Newer messages"
    : unseen === 1 ? "1 new message" : unseen.toLocaleString() + " new messages";
  barButton.textContent = what + " · Jump to latest";
}

function toBuffer(frames) {
  buffer.push(...frames);
  unseen += frames.length;
  if (buffer.length > CAP) {
    buffer.splice(0, buffer.length - CAP);  // they are stored: a history page away
    gap = true;
  }
}

function flush() {
  scheduled = false;
  if (!queue.length) return;
  const frames = queue;
  const own = follow;
  queue = [];
  follow = false;
  if (replaceNext) {
    replaceNext = false;
    replaceAll(frames);
    onOlder();
  } else if (!following()) {
    toBuffer(frames);
    if (own) { jumpToLatest(); return; }
  } else {
    // At the bottom (or for one's own message) everything goes in and the oldest make way;
    // a reader scrolled up keeps what they read, and the rest waits.
    const room = own || nearBottom() ? frames.length : Math.max(0, CAP - count());
    if (append(frames.slice(0, room), own)) onOlder();
    if (room < frames.length) toBuffer(frames.slice(room));
  }
  updateBar();
}

function schedule() {
  if (queue.length >= CAP) { flush(); return; }  // bounded, even where no timer runs soon
  if (scheduled) return;
  scheduled = true;
  tick.port2.postMessage(null);
}

// A chat frame from the socket. own: the reader's own message, which is followed down.
export function receive(frame, own) {
  if (frame.id > streamHead) streamHead = frame.id;
  queue.push(frame);
  follow ||= own;
  schedule();
}

// The server skipped what the page missed (docs/protocol.md, `reset`): the newest page
// follows. A reader at the bottom gets it in place of what they had; one reading older
// messages keeps them and gets the bar.
export function reset(frame) {
  flush();
  streamHead = Math.max(streamHead, frame.skipped_before - 1);
  if (following() && nearBottom() && !bar.dataset.reading) {
    replaceNext = true;
  } else {
    gap = true;
    buffer = [];
    countKnown = false;
  }
  updateBar();
}

// Older pages pushed the newest messages off the page: they are a history page away now.
export function markGap() {
  gap = true;
  updateBar();
}

// Changes to messages come in the same stream, each at its place in the room's log
// (event_id, from the sequence message ids come from): a reconnect resumes after them too.
export function noteEvent(eventId) {
  if (eventId > streamHead) streamHead = eventId;
}

// An edit or new reactions (docs/protocol.md): on the page, and in frames not shown yet.
// fields: what the change sets in a chat frame; update(li): what it does to a shown one.
export function patch(frame, fields, update) {
  noteEvent(frame.event_id || 0);
  for (const m of queue) if (m.id === frame.id) Object.assign(m, fields);
  for (const m of buffer) if (m.id === frame.id) Object.assign(m, fields);
  const li = element(frame.id);
  if (li) update(li);
}

export function remove(id, eventId = 0) {
  noteEvent(eventId);
  removeMessage(id);
  queue = queue.filter((m) => m.id !== id);
  buffer = buffer.filter((m) => m.id !== id);
  for (const m of queue.concat(buffer)) if (m.reply && m.reply.id === id) m.reply = { id, deleted: true };
  updateBar();
}

export function clearAll() {
  queue = [];
  buffer = [];
  gap = false;
  replaceNext = false;
  clearMessages();
  updateBar();
}

async function fetchPage(query) {
  const response = await fetch(historyPath + "?" + query);
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}

// The latest messages, whatever was on the page.
export async function jumpToLatest() {
  flush();
  delete bar.dataset.reading;
  if (!gap) {
    const waiting = buffer;
    buffer = [];
    if (append(waiting, true)) onOlder();
  } else if (buffer.length) {
    replaceAll(buffer);
    buffer = [];
    gap = false;
    onOlder();
  } else if (!loading) {
    // Nothing buffered to show: the newest page, then whatever arrives meanwhile (buffered,
    // as `gap` is still set), which together leave nothing out.
    loading = true;
    try {
      const page = await fetchPage("limit=" + PAGE);
      const newest = page.messages.length ? page.messages[page.messages.length - 1].id : 0;
      flush();
      replaceAll(page.messages.concat(buffer.filter((m) => m.id > newest)));
      buffer = [];
      gap = false;
      if (page.has_more) onOlder();
    } catch (e) {
      showAlert("Could not load the latest messages. Try again in a moment.");
    } finally {
      loading = false;
    }
  }
  scrollToBottom();
  updateBar();
}

// The reader reached the bottom: the next page of what is waiting, from the buffer or,
// across a gap, from the history API.
async function catchUp() {
  if (following() || loading || !nearBottom()) return;
  if (!gap) {
    if (append(buffer.splice(0, PAGE))) onOlder();
    unseen = Math.max(0, unseen - PAGE);
    updateBar();
    return;
  }
  loading = true;
  try {
    const page = await fetchPage("after=" + lastId() + "&limit=" + PAGE);
    const bufferFirst = buffer.length ? buffer[0].id : Infinity;
    const fresh = page.messages.filter((m) => m.id < bufferFirst && !has(m.id));
    if (append(fresh)) onOlder();
    if (!page.has_more || fresh.length < page.messages.length) gap = false;
  } catch (e) {
    showAlert("Could not load newer messages. Try again in a moment.");
  } finally {
    loading = false;
  }
  updateBar();
}

// Where to put the reader when they send: at the latest messages.
export function showLatest() {
  if (following()) scrollToBottom();
  else jumpToLatest();
}

// reading: the page was opened at an old message (?at=), so a reset does not replace it.
export function setupLive(path, { reading, olderAvailable }) {
  historyPath = path;
  onOlder = olderAvailable;
  tick.port1.onmessage = flush;
  streamHead = lastId();
  if (reading) bar.dataset.reading = "1";
  barButton.addEventListener("click", () => jumpToLatest());
  onScroll(() => { catchUp(); });
}
