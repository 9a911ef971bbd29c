// The message box. Enter sends and Shift+Enter starts a new line; the box grows with its
// text; near the limit a counter shows the length against it; text the server would refuse
// is refused here with the reason, and stays in the box. There is no maxlength: it would
// cut a long paste silently and the page would send the cut text.

import { hideAlert, showAlert } from "./room-notify.js";
import { codePointLength, messageProblem } from "./room-rules.js";

const COUNT_FROM = 0.9;        // the counter shows from 90% of the limit
const MAX_HEIGHT_PX = 160;     // the box grows to about six lines, then scrolls
const TYPING_PING_MS = 2000;   // the others' "is typing" lasts a little longer than this

const form = document.getElementById("send");
const input = form.elements.namedItem("message");
const sendButton = form.querySelector("button");
const counter = document.getElementById("message-length");

let limit = 0;
let refusal = null;  // the alert this box last showed, to take back once it no longer applies
let lastPing = 0;

function autosize() {
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight + 2, MAX_HEIGHT_PX) + "px";
}

function updateCounter() {
  const text = input.value;
  // UTF-16 length is never below the code point count, so a short text needs no counting.
  const length = text.length < limit * COUNT_FROM ? 0 : codePointLength(text);
  const over = length > limit;
  counter.hidden = length < limit * COUNT_FROM;
  counter.classList.toggle("over", over);
  counter.textContent = length.toLocaleString() + " / " + limit.toLocaleString()
    + (over ? " · " + (length - limit).toLocaleString() + " over the limit" : "");
  if (over) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function changed() {
  autosize();
  updateCounter();
}

function refuse(problem) {
  refusal = problem;
  showAlert(problem);
  input.focus();
}

function submit(send) {
  const text = input.value;
  if (!text.trim()) return;
  const problem = messageProblem(text, limit);
  if (problem) { refuse(problem); return; }
  if (refusal !== null) { hideAlert(refusal); refusal = null; }
  send(text);
  input.value = "";
  changed();
}

// The others see "… is typing" from one ping every couple of seconds, not one per key.
function pingTyping(ping) {
  const now = Date.now();
  if (!input.value || now - lastPing <= TYPING_PING_MS) return;
  if (ping()) lastPing = now;
}

// send(text) hands a checked message on; ping() tells the room this person is typing
// and says whether it could.
export function setupComposer({ maxMessage, send, ping }) {
  limit = maxMessage;
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(send); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit(send);
    }
  });
  input.addEventListener("input", () => { changed(); pingTyping(ping); });
}

// A message the server refused comes back to the box, unless the person is already
// typing the next one.
export function giveBack(text) {
  if (input.value) return;
  input.value = text;
  changed();
}

export function setLocked(locked) {
  input.disabled = locked;
  sendButton.disabled = locked;
}

// Ready to type. On arrival only on a desktop (on a phone, focusing would pop the keyboard
// over the history), and only if the person is not in another field already: on a slow
// load they can be typing there (a name to add to the room) before this script runs, and
// taking the focus would send their next keys, and their Enter, to this box instead.
export function focusComposer({ onArrival = false } = {}) {
  if (input.disabled) return;
  if (onArrival && window.matchMedia("(pointer: coarse)").matches) return;
  if (onArrival && document.activeElement && document.activeElement !== document.body) return;
  input.focus({ preventScroll: true });
}
