// Elements for messages, cloned from the <template>s the room page carries. The message
// template is rendered by the same Jinja macro as the server's history
// (templates/_message.html), so a live message and a reloaded one cannot differ in shape.
// User text goes in through textContent only; a message's formatted body is the `html`
// the server's one sanitising renderer made (chatapp/formatting.py), never built here.

const HUES = 8;

const messageTemplate = document.getElementById("message-template");
const pendingTemplate = document.getElementById("pending-template");
const reactionTemplate = document.getElementById("reaction-template");
const memberName = document.body.dataset.memberName || null;

function clone(template) {
  return template.content.firstElementChild.cloneNode(true);
}

// The body as the server rendered it; the source text (for editing) only on one's own.
function fillText(li, m) {
  const text = li.querySelector(".text");
  text.innerHTML = m.html;  // sanitised HTML from the server (chatapp/formatting.py)
  if (memberName !== null && li.classList.contains("member") && m.user === memberName) {
    text.dataset.source = m.message;
  }
}

// m is a chat frame: {id, user, message, html, ts, member?, bot?, edited_at?, reply?, file?,
// reactions?} (docs/protocol.md).
export function renderMessage(m) {
  const li = clone(messageTemplate);
  li.dataset.id = String(m.id);
  li.id = "m" + m.id;
  li.querySelector(".user").textContent = m.user;
  li.classList.toggle("member", !!m.member);  // else a guest: anyone may use the name
  li.classList.toggle("bot", !!m.bot);
  const time = li.querySelector("time");
  time.setAttribute("datetime", m.ts);
  formatTime(time);
  fillText(li, m);
  markEdited(li, m.edited_at);
  fillReply(li, m);
  fillFile(li, m.file);
  li.classList.toggle("caption-is-name", !!m.file && m.message === m.file.name);
  setReactions(li, m.reactions || []);
  decorateAvatar(li.querySelector(".avatar"), m.user);
  return li;
}

function fillReply(li, m) {
  const quote = li.querySelector(".reply-quote");
  if (!m.reply) { quote.remove(); return; }
  quote.dataset.replyTo = String(m.reply.id);
  const url = new URL(location.href);
  url.search = "?at=" + m.reply.id;
  url.hash = "m" + m.reply.id;
  quote.href = url.pathname + url.search + url.hash;
  if (m.reply.deleted) {
    markReplyDeleted(quote);
  } else {
    quote.querySelector(".reply-user").textContent = m.reply.user;
    quote.querySelector(".reply-excerpt").textContent = m.reply.excerpt;
  }
}

export function markReplyDeleted(quote) {
  quote.classList.add("deleted");
  quote.querySelector(".reply-user").textContent = "";
  quote.querySelector(".reply-excerpt").textContent = "The original message was deleted.";
}

function fillFile(li, file) {
  const box = li.querySelector(".attachment");
  if (!file) { box.remove(); return; }
  const image = box.querySelector(".attachment-image");
  const plain = box.querySelector(".attachment-file");
  box.classList.toggle("image", !!file.image);
  if (file.image) {
    plain.remove();
    image.href = file.url;
    const img = image.querySelector("img");
    img.src = file.thumb;
    img.alt = file.name;
    if (file.thumb_width) img.width = file.thumb_width;
    if (file.thumb_height) img.height = file.thumb_height;
  } else {
    image.remove();
    plain.href = file.url;
    plain.querySelector(".attachment-name").textContent = file.name;
    plain.querySelector(".attachment-size").textContent = fileSize(file.size);
  }
}

// As Jinja's filesizeformat, which the server-rendered history uses.
export function fileSize(bytes) {
  const units = ["Bytes", "kB", "MB", "GB"];
  if (bytes < 1000) return bytes === 1 ? "1 Byte" : bytes + " Bytes";
  let n = bytes;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
  return n.toFixed(1) + " " + units[u];
}

export function markEdited(li, editedAt) {
  li.classList.toggle("edited", !!editedAt);
  const mark = li.querySelector(".edited-mark");
  if (mark && editedAt) mark.title = "Edited " + new Date(editedAt).toLocaleString();
}

// An edit frame: the new body, as the server rendered it.
export function applyEdit(li, frame) {
  fillText(li, { ...frame, user: li.querySelector(".user").textContent });
  markEdited(li, frame.edited_at);
}

// reactions: [{emoji, count, users}]; the reader's own are marked.
export function setReactions(li, reactions) {
  let list = li.querySelector(".reactions");
  if (!list) {
    list = document.createElement("ul");
    list.className = "reactions";
    li.append(list);
  }
  list.replaceChildren();
  for (const r of reactions) {
    const item = clone(reactionTemplate);
    const button = item.querySelector("button");
    button.dataset.emoji = r.emoji;
    button.querySelector(".emoji").textContent = r.emoji;
    button.querySelector(".count").textContent = String(r.count);
    const who = r.users.join(", ");
    button.title = who;
    button.setAttribute("aria-label", r.emoji + " " + r.count + ": " + who);
    button.classList.toggle("mine", memberName !== null && r.users.includes(memberName));
    list.append(item);
  }
  list.hidden = reactions.length === 0;
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
