// What a reader does to messages already sent: reply, react, edit, delete.
//
// One toolbar (templates/_message.html, actions_template) moves to the message under the
// pointer, the one with focus, or the one tapped, so a page of 500 messages carries one set
// of buttons, not 500. What it sends are the frames of docs/protocol.md ("edit", "delete",
// "react", and "reply_to" on a chat frame); the server answers a refusal with an error
// frame, which the page shows like any other. Members edit and delete their own messages
// (an admin deletes any) and react; guests reply only, so they see just that button.

import { markReplyDeleted } from "./room-render.js";
import { showAlert } from "./room-notify.js";

const data = document.body.dataset;
const memberName = data.memberName || null;
const isAdmin = !!data.memberAdmin;
const list = document.getElementById("messages");
const toolbar = document.getElementById("actions-template").content.firstElementChild.cloneNode(true);
const palette = toolbar.querySelector(".emoji-palette");
const replyBar = document.getElementById("reply-bar");

let send = () => false;
let focusComposer = () => {};
let replyingTo = null;  // the id the next message answers
let current = null;     // the message the toolbar is on

function messageOf(el) {
  const li = el && el.closest ? el.closest("#messages > .message") : null;
  return li && li.dataset.id ? li : null;
}

function idOf(li) {
  return parseInt(li.dataset.id, 10);
}

function own(li) {
  return memberName !== null && li.classList.contains("member")
    && li.querySelector(".user").textContent === memberName;
}

function place(li) {
  if (!li || li.classList.contains("editing")) return;
  if (current === li && toolbar.parentNode === li) return;
  current = li;
  palette.hidden = true;
  const mine = own(li);
  toolbar.querySelector(".action-react").hidden = memberName === null;
  toolbar.querySelector(".action-edit").hidden = !mine;
  toolbar.querySelector(".action-delete").hidden = !(mine || (isAdmin && memberName !== null));
  li.append(toolbar);
}

function hideToolbar() {
  palette.hidden = true;
  toolbar.remove();
  current = null;
}

// ---- reply -----------------------------------------------------------------------------

function startReply(li) {
  replyingTo = idOf(li);
  replyBar.querySelector(".reply-bar-user").textContent = li.querySelector(".user").textContent;
  const text = li.querySelector(".text").textContent.replace(/\s+/g, " ").trim();
  replyBar.querySelector(".reply-bar-excerpt").textContent = text.length > 80 ? text.slice(0, 79) + "…" : text;
  replyBar.hidden = false;
  focusComposer();
}

export function cancelReply() {
  replyingTo = null;
  replyBar.hidden = true;
}

// The id the message being sent answers (and the reply bar goes: one reply per answer).
export function takeReply() {
  const id = replyingTo;
  cancelReply();
  return id;
}

// ---- edit ------------------------------------------------------------------------------

function startEdit(li) {
  const text = li.querySelector(".text");
  if (text.dataset.source === undefined) return;
  hideToolbar();
  li.classList.add("editing");
  const form = document.createElement("form");
  form.className = "edit-form";
  const box = document.createElement("textarea");
  box.value = text.dataset.source;
  box.rows = Math.min(8, box.value.split("\n").length + 1);
  box.setAttribute("aria-label", "Edit your message");
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "link";
  cancel.textContent = "Cancel";
  const hint = document.createElement("span");
  hint.className = "edit-hint muted";
  hint.textContent = "Enter to save · Esc to cancel";
  form.append(box, save, cancel, hint);
  text.after(form);
  const done = () => { form.remove(); li.classList.remove("editing"); };
  cancel.addEventListener("click", done);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = box.value;
    if (!value.trim()) { showAlert("A message cannot be empty; delete it instead."); return; }
    if (value !== text.dataset.source && !send({ type: "edit", id: idOf(li), message: value })) {
      showAlert("You are offline; the edit was not saved.");
      return;
    }
    done();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); done(); }
    else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

// ---- delete and react ------------------------------------------------------------------

function remove(li) {
  if (!confirm("Delete this message? Everyone will stop seeing it.")) return;
  if (!send({ type: "delete", id: idOf(li) })) showAlert("You are offline; the message was not deleted.");
}

function react(li, emoji) {
  if (memberName === null) { showAlert("Log in to react to messages."); return; }
  if (!send({ type: "react", id: idOf(li), emoji })) showAlert("You are offline; the reaction was not sent.");
}

// The server says who reacted; the reader's own reactions are marked (also on the history
// the server rendered, which did not know who would read it).
export function markOwnReactions(root = list) {
  if (memberName === null) return;
  for (const b of root.querySelectorAll(".reaction")) {
    b.classList.toggle("mine", (b.title || "").split(", ").includes(memberName));
  }
}

export function messageDeleted(id) {
  for (const q of list.querySelectorAll(".reply-quote[data-reply-to=\"" + id + "\"]")) markReplyDeleted(q);
  if (replyingTo === id) cancelReply();
  if (current && idOf(current) === id) hideToolbar();
}

export function setupActions(options) {
  send = options.send;
  focusComposer = options.focusComposer;
  markOwnReactions();
  list.addEventListener("mouseover", (e) => place(messageOf(e.target)));
  list.addEventListener("focusin", (e) => place(messageOf(e.target)));
  list.addEventListener("click", (e) => {
    const li = messageOf(e.target);
    if (!li) return;
    const reaction = e.target.closest(".reaction");
    if (reaction) { react(li, reaction.dataset.emoji); return; }
    if (e.target.closest("a, button, textarea, .edit-form")) return;
    place(li);  // a tap on a phone, where there is no hover
  });
  toolbar.addEventListener("click", (e) => {
    const li = current;
    const button = e.target.closest("button");
    if (!li || !button) return;
    e.stopPropagation();
    if (button.classList.contains("action-reply")) startReply(li);
    else if (button.classList.contains("action-edit")) startEdit(li);
    else if (button.classList.contains("action-delete")) remove(li);
    else if (button.classList.contains("action-react")) palette.hidden = !palette.hidden;
    else if (button.classList.contains("palette-emoji")) { palette.hidden = true; react(li, button.dataset.emoji); }
  });
  list.closest(".timeline").addEventListener("mouseleave", () => { if (palette.hidden) hideToolbar(); });
  replyBar.querySelector(".reply-bar-cancel").addEventListener("click", cancelReply);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !replyBar.hidden && !document.querySelector(".edit-form")) cancelReply();
  });
}
