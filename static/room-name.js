// The person's display name: from ?user= once (then out of the address bar), else what
// this browser remembers. It travels in the socket URL, and a handshake the server refuses
// looks like a dead network to a page, which would retry for ever without saying why; so
// the server's rules are checked here first.

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

function load(maxUser) {
  const name = (takeFromAddress() || recalled() || "").normalize("NFC").trim();
  const problem = nameProblem(name, maxUser);
  if (problem) { showAlert(problem); return ""; }
  if (name) remember(name);
  return name;
}

// onChange runs after the name has changed (to reconnect under it); onDone when Enter
// says the person has finished with the field.
export function setupName(maxUser, { onChange, onDone }) {
  current = load(maxUser);
  nameInput.value = current;
  nameInput.addEventListener("change", () => {
    const name = nameInput.value.normalize("NFC").trim();
    const problem = nameProblem(name, maxUser);
    if (problem) { showAlert(problem); nameInput.value = current; return; }
    if (name === current) return;
    current = name;
    nameInput.value = name;
    remember(name);
    onChange();
  });
  nameInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    nameInput.blur();  // which fires "change"
    onDone();
  });
}
