// The person's display name: what this browser remembers, or a name a link brought with
// ?user=. A link's name is used for this visit only, and kept (for every room) only when
// the person says so: "Keep this name", or Enter or a change in the name field. So a link
// cannot rename anyone behind their back. The name travels in the socket URL, and a
// handshake the server refuses looks like a dead network to a page, which would retry for
// ever without saying why; so the server's rules are checked here first.

import { showAlert } from "./room-notify.js";
import { nameProblem } from "./room-rules.js";

const KEY = "chatapp:user";  // shared with static/index.js
const ANONYMOUS = "Anonymous";  // what the server calls someone without a name

const nameInput = document.getElementById("name");
let current = "";

// The name to send: empty when the person has not chosen one.
export function userName() {
  return current;
}

// The name the room shows for this person's messages.
export function displayName() {
  return current || ANONYMOUS;
}

function remember(name) {
  try {
    if (name) localStorage.setItem(KEY, name);
    else localStorage.removeItem(KEY);
  } catch (e) { /* storage may be off: the name lasts as long as the page */ }
}

function recalled() {
  try { return localStorage.getItem(KEY); } catch (e) { return null; }
}

// ?user= leaves the address bar, so a copied link does not hand on the name.
function takeFromAddress() {
  const params = new URLSearchParams(location.search);
  const name = params.get("user");
  if (name !== null) {
    params.delete("user");
    const q = params.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
  }
  return name;
}

function clean(name) {
  return (name || "").normalize("NFC").trim();
}

const prompt = document.getElementById("name-prompt");
const promptText = document.getElementById("name-prompt-text");
const keepButton = document.getElementById("name-keep");
const revertButton = document.getElementById("name-revert");

function settle() {
  prompt.hidden = true;
}

// The link's name is in use for now; the person decides whether it stays.
function offer(name, saved) {
  promptText.textContent = "This link set your name to \u201c" + name + "\u201d for this visit.";
  revertButton.textContent = saved ? "Use \u201c" + saved + "\u201d" : "Not now";
  prompt.hidden = false;
}

// onChange runs after the name has changed (to reconnect under it); onDone when Enter
// says the person has finished with the field.
export function setupName(maxUser, { onChange, onDone }) {
  const member = document.body.dataset.memberName;
  if (member) {
    // A member posts under their account's name, whatever a link or this browser says.
    takeFromAddress();
    current = member;
    nameInput.value = member;
    return;
  }
  const linked = clean(takeFromAddress());
  const saved = clean(recalled());
  const linkProblem = linked ? nameProblem(linked, maxUser) : null;
  if (linkProblem) showAlert(linkProblem);
  current = saved && !nameProblem(saved, maxUser) ? saved : "";
  if (linked && !linkProblem && linked !== current) {
    offer(linked, current);
    current = linked;
  }
  nameInput.value = current;

  keepButton.addEventListener("click", () => { remember(current); settle(); });
  revertButton.addEventListener("click", () => {
    settle();
    if (!saved || saved === current) return;  // "Not now": the link's name lasts this visit
    current = saved;
    nameInput.value = saved;
    onChange();
  });
  nameInput.addEventListener("change", () => {
    const name = clean(nameInput.value);
    const problem = nameProblem(name, maxUser);
    if (problem) { showAlert(problem); nameInput.value = current; return; }
    if (name === current) return;
    current = name;
    nameInput.value = name;
    remember(name);  // typed by the person: theirs to keep
    settle();
    onChange();
  });
  nameInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    // Enter on the link's name, unchanged, keeps it too: the person has looked at it.
    if (!prompt.hidden && clean(nameInput.value) === current) { remember(current); settle(); }
    nameInput.blur();  // which fires "change"
    onDone();
  });
}
