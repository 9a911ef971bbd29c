// Mentions in the room page: the reader's own are marked strongly (every mention is already
// highlighted by the server's renderer, <span class="mention">), and typing "@" in the
// composer offers the names of the people present, the room's members and who spoke on
// the page, in a small list: arrows move, Enter or Tab takes one, Escape closes it.
//
// The syntax is the server's (chatapp/formatting.py, chatapp/attention/mentions.py):
// @name with letters, digits and _ - . ', or @"Any Name" in quotes; names compare folded.

import { displayName } from "./room-name.js";

const MAX_SHOWN = 8;
const BARE_NAME = /^[\p{L}\p{N}_][\p{L}\p{N}_.'-]*$/u;
// The "@..." being typed right before the caret: not after a letter, digit or "@".
const TYPING = /(?:^|[^\p{L}\p{N}_@])@("?)([^\s"@]{0,32})$/u;

const list = document.getElementById("messages");
const form = document.getElementById("send");
const input = form ? form.elements.namedItem("message") : null;
const memberName = document.body.dataset.memberName || null;

function fold(name) {
  return name.normalize("NFKC").toLowerCase().replace(/_/g, " ").trim();
}

// ---- the reader's own mentions

function mentioned(span) {
  let name = span.textContent.replace(/^@/, "");
  if (name.startsWith('"') && name.endsWith('"')) name = name.slice(1, -1);
  if (fold(name) === "here") return !!memberName;  // @here reaches the members present
  const me = memberName || displayName();
  return fold(name) === fold(me);
}

function mark(li) {
  let mine = false;
  for (const span of li.querySelectorAll(".text .mention")) {
    const me = mentioned(span);
    span.classList.toggle("me", me);
    mine ||= me;
  }
  li.classList.toggle("mentions-me", mine);
}

// ---- autocomplete

let box = null;       // the <ul> of choices
let choices = [];
let active = 0;
let typed = null;     // {start, end}: the "@..." the choice replaces

function candidates() {
  const names = new Map();  // folded -> as shown
  const add = (name) => { if (name && !names.has(fold(name))) names.set(fold(name), name); };
  for (const li of document.querySelectorAll("#presence li")) add(li.textContent);
  for (const el of document.querySelectorAll(".room-member-name")) add(el.textContent.trim());
  for (const el of Array.from(document.querySelectorAll("#messages .message.member .user")).reverse()) add(el.textContent);
  const me = memberName || displayName();
  names.delete(fold(me));
  if (memberName) names.set("here", "here");
  return Array.from(names.values());
}

function written(name) {
  return "@" + (name === "here" || BARE_NAME.test(name) ? name : '"' + name + '"') + " ";
}

function close() {
  if (!box) return;
  box.hidden = true;
  input.removeAttribute("aria-activedescendant");
  input.setAttribute("aria-expanded", "false");
  typed = null;
}

function render() {
  box.replaceChildren(...choices.map((name, i) => {
    const li = document.createElement("li");
    li.id = "mention-choice-" + i;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === active));
    const at = document.createElement("span");
    at.className = "mention-choice-at";
    at.textContent = "@";
    const text = document.createElement("span");
    text.textContent = name;
    li.append(at, text);
    if (name === "here") {
      const note = document.createElement("span");
      note.className = "mention-choice-note";
      note.textContent = "everyone in the room";
      li.append(note);
    }
    li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(i); });
    return li;
  }));
  input.setAttribute("aria-activedescendant", "mention-choice-" + active);
}

function update() {
  const before = input.value.slice(0, input.selectionStart);
  const found = input.selectionStart === input.selectionEnd ? TYPING.exec(before) : null;
  if (!found) { close(); return; }
  const query = fold(found[2]);
  choices = candidates()
    .filter((name) => fold(name).startsWith(query) || (query.length > 1 && fold(name).includes(query)))
    .sort((a, b) => Number(!fold(a).startsWith(query)) - Number(!fold(b).startsWith(query)) || a.localeCompare(b))
    .slice(0, MAX_SHOWN);
  if (!choices.length) { close(); return; }
  typed = { start: before.length - found[1].length - found[2].length - 1, end: before.length };
  active = Math.min(active, choices.length - 1);
  box.hidden = false;
  input.setAttribute("aria-expanded", "true");
  render();
}

function choose(i) {
  if (!typed) return;
  const text = written(choices[i]);
  input.setRangeText(text, typed.start, typed.end, "end");
  input.dispatchEvent(new Event("input", { bubbles: true }));  // the composer resizes and counts
  close();
  input.focus();
}

function keydown(event) {
  if (!box || box.hidden || event.isComposing) return;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    active = (active + (event.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
    render();
  } else if (event.key === "Enter" || event.key === "Tab") {
    choose(active);
  } else if (event.key === "Escape") {
    close();
  } else {
    return;
  }
  // Before the composer's own handler: Enter takes the name here, it does not send.
  event.preventDefault();
  event.stopPropagation();
}

export function setupMentions() {
  if (list) {
    for (const li of list.querySelectorAll(".message")) mark(li);
    // New messages, and edits (which replace a message's text).
    new MutationObserver((changes) => {
      const touched = new Set();
      for (const c of changes) {
        if (c.target === list) {
          for (const node of c.addedNodes) if (node.nodeType === 1) touched.add(node);
        } else {
          const li = c.target.closest && c.target.closest(".message");
          if (li) touched.add(li);
        }
      }
      for (const li of touched) mark(li);
    }).observe(list, { childList: true, subtree: true });
  }
  if (!input) return;
  box = document.createElement("ul");
  box.id = "mention-choices";
  box.className = "mention-choices";
  box.setAttribute("role", "listbox");
  box.setAttribute("aria-label", "People to mention");
  box.hidden = true;
  form.append(box);
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", box.id);
  input.setAttribute("aria-expanded", "false");
  form.addEventListener("keydown", keydown, true);  // capture: ahead of the composer
  input.addEventListener("input", () => { active = 0; update(); });
  input.addEventListener("click", update);
  input.addEventListener("blur", () => setTimeout(close, 100));
}
