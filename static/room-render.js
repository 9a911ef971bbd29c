// Elements for messages, cloned from the <template>s the room page carries. The message
// template is rendered by the same Jinja macro as the server's history
// (templates/_message.html), so a live message and a reloaded one cannot differ in shape.
// User text goes in through textContent only.

const HUES = 8;

const messageTemplate = document.getElementById("message-template");
const pendingTemplate = document.getElementById("pending-template");

function clone(template) {
  return template.content.firstElementChild.cloneNode(true);
}

// m is a chat frame: {id, user, message, ts, member?}.
export function renderMessage(m) {
  const li = clone(messageTemplate);
  li.dataset.id = String(m.id);
  li.id = "m" + m.id;
  li.querySelector(".user").textContent = m.user;
  li.classList.toggle("member", !!m.member);  // else a guest: anyone may use the name
  const time = li.querySelector("time");
  time.setAttribute("datetime", m.ts);
  formatTime(time);
  li.querySelector(".text").textContent = m.message;
  decorateAvatar(li.querySelector(".avatar"), m.user);
  return li;
}

// A message the server has not stored yet: it looks like the message it will become,
// greyed out, but it is not a .message until it has an id.
export function renderPending(text, user) {
  const li = clone(pendingTemplate);
  li.querySelector(".pending-user").textContent = user;
  li.querySelector(".pending-text").textContent = text;
  decorateAvatar(li.querySelector(".avatar"), user);
  return li;
}

// The server writes UTC hours and minutes, readable without script; here they become the
// reader's own time, with the date when it is not today.
export function formatTime(el) {
  const d = new Date(el.getAttribute("datetime"));
  if (isNaN(d)) return;
  const today = new Date();
  el.textContent = d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  el.title = d.toLocaleString();
}

// The same name always gets the same colour, on every page and after every reload.
function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % HUES;
}

export function decorateAvatar(avatar, name) {
  avatar.textContent = (Array.from(name)[0] || "?").toUpperCase();
  for (let i = 0; i < HUES; i++) avatar.classList.remove("hue-" + i);
  avatar.classList.add("hue-" + hue(name));
}
