// Who is here and who is typing. Presence arrives whole in each frame; typing arrives as
// pings that each last a few seconds, unless that person's message arrives first.

const TYPING_SHOWN_MS = 4000;  // a little over the sender's ping interval
const MAX_TYPERS_NAMED = 3;

const presenceEl = document.getElementById("presence");
const presenceCount = document.getElementById("presence-count");
const typingEl = document.getElementById("typing");
const typers = new Map();  // name -> timer that forgets them

export function showPresence(frame) {
  presenceEl.classList.remove("stale");
  const members = new Set(frame.members || []);  // the others are guests' names
  presenceEl.replaceChildren(...(frame.users || []).map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    li.classList.toggle("guest", !members.has(name));
    return li;
  }));
  presenceCount.textContent = "(" + (frame.count || 0) + ")";
}

// While disconnected, who is here is unknown: the list greys until the next frame.
export function markPresenceStale() {
  presenceEl.classList.add("stale");
}

function renderTyping() {
  const names = Array.from(typers.keys());
  if (!names.length) typingEl.textContent = "";
  else if (names.length === 1) typingEl.textContent = names[0] + " is typing…";
  else if (names.length <= MAX_TYPERS_NAMED) typingEl.textContent = names.join(", ") + " are typing…";
  else typingEl.textContent = "Several people are typing…";
}

export function showTyping(user) {
  if (!user) return;
  clearTimeout(typers.get(user));
  typers.set(user, setTimeout(() => clearTyping(user), TYPING_SHOWN_MS));
  renderTyping();
}

export function clearTyping(user) {
  if (!typers.has(user)) return;
  clearTimeout(typers.get(user));
  typers.delete(user);
  renderTyping();
}
