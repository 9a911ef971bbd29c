// A room page: live messages over a WebSocket, with resume, an outbox and older history.
// User text only ever reaches the DOM through textContent.
"use strict";
(function () {
  const KEY = "chatapp:user";
  const body = document.body;
  const room = body.dataset.room;
  const wsPath = body.dataset.wsPath;
  const historyPath = body.dataset.historyPath;
  const maxMessage = parseInt(body.dataset.maxMessage, 10) || 4000;
  const maxUser = parseInt(body.dataset.maxUser, 10) || 32;

  const list = document.getElementById("messages");
  const timeline = list.closest(".timeline");
  const statusEl = document.getElementById("status");
  const alertEl = document.getElementById("alert");
  const form = document.getElementById("send");
  const input = form.elements.namedItem("message");
  const sendButton = form.querySelector("button");
  const nameInput = document.getElementById("name");
  const olderButton = document.getElementById("load-older");
  const notices = document.getElementById("notices");
  const typingEl = document.getElementById("typing");
  const presenceEl = document.getElementById("presence");
  const presenceCount = document.getElementById("presence-count");
  let emptyEl = document.getElementById("empty");
  const pendingList = document.createElement("ul");
  pendingList.className = "pending-list";
  pendingList.setAttribute("aria-label", "Messages being sent");
  notices.before(pendingList);

  let ws = null;
  let attempt = 0;
  let reconnectTimer = null;
  let lastTypingSent = 0;
  let alertTimer = null;
  const outbox = [];           // {client_id, message, user, el}, sent until the server echoes them
  const typers = new Map();    // user -> timer

  // ---- names ----
  // The server's rules (protocol.clean_user), checked here first: the name also travels in
  // the socket URL, and a handshake the server refuses looks like a dead network to a page,
  // which would then retry for ever without saying why.
  const NAME_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
  const NAME_INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;
  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/;
  const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

  function nameProblem(name) {
    if (Array.from(name).length > maxUser) return "Names are at most " + maxUser + " characters.";
    if (NAME_CONTROL.test(name) || NAME_INVISIBLE.test(name)) {
      return "That name contains invisible or control characters; please type it again.";
    }
    if (LONE_SURROGATE.test(name)) return "That name contains a broken character; please type it again.";
    return null;
  }

  function loadName() {
    const params = new URLSearchParams(location.search);
    let name = params.get("user");
    if (name !== null) {
      params.delete("user");
      const q = params.toString();
      history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
    }
    if (!name) { try { name = localStorage.getItem(KEY); } catch (e) { name = null; } }
    name = (name || "").normalize("NFC").trim();
    const problem = nameProblem(name);
    if (problem) { showAlert(problem); return ""; }
    if (name) { try { localStorage.setItem(KEY, name); } catch (e) { /* storage may be off */ } }
    return name;
  }
  let userName = loadName();
  nameInput.value = userName;
  nameInput.addEventListener("change", function () {
    const v = nameInput.value.normalize("NFC").trim();
    const problem = nameProblem(v);
    if (problem) { showAlert(problem); nameInput.value = userName; return; }
    if (v === userName) return;
    userName = v;
    nameInput.value = v;
    try { v ? localStorage.setItem(KEY, v) : localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    markMine();
    // A new socket under the new name, so presence and the room see it at once.
    if (ws) {
      const old = ws;
      ws = null;  // its close event must not count as a lost connection
      old.close(1000, "name changed");
      connect();
    }
  });
  nameInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); nameInput.blur(); input.focus(); }
  });

  // ---- rendering ----
  function formatTime(el) {
    const d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) return;
    const today = new Date();
    el.textContent = d.toDateString() === today.toDateString()
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    el.title = d.toLocaleString();
  }

  // ---- avatars and grouping ----
  const HUES = 8;
  const GROUP_GAP_MS = 5 * 60 * 1000;  // a name is shown again after five quiet minutes

  function hue(name) {
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % HUES;
  }

  function makeAvatar(name) {
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    decorateAvatar(avatar, name);
    return avatar;
  }

  function decorateAvatar(avatar, name) {
    avatar.textContent = (Array.from(name)[0] || "?").toUpperCase();
    for (let i = 0; i < HUES; i++) avatar.classList.remove("hue-" + i);
    avatar.classList.add("hue-" + hue(name));
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
    for (const li of list.querySelectorAll(".message")) group(li);
  }

  function renderMessage(m) {
    const li = document.createElement("li");
    li.className = "message";
    li.dataset.id = String(m.id);
    li.id = "m" + m.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const user = document.createElement("span");
    user.className = "user";
    user.textContent = m.user;
    const time = document.createElement("time");
    time.setAttribute("datetime", m.ts);
    formatTime(time);
    meta.append(user, " ", time);
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = m.message;
    li.append(makeAvatar(m.user), meta, text);
    if (m.user === (userName || "Anonymous")) li.classList.add("mine");
    return li;
  }

  function markMine() {
    const me = userName || "Anonymous";
    for (const li of list.querySelectorAll(".message")) {
      const u = li.querySelector(".user");
      li.classList.toggle("mine", !!u && u.textContent === me);
    }
  }

  function lastId() {
    const items = list.querySelectorAll(".message[data-id]");
    return items.length ? parseInt(items[items.length - 1].dataset.id, 10) : 0;
  }

  function firstId() {
    const first = list.querySelector(".message[data-id]");
    return first ? parseInt(first.dataset.id, 10) : 0;
  }

  function nearBottom() {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 120;
  }

  function scrollToBottom() { timeline.scrollTop = timeline.scrollHeight; }

  function appendMessage(m, own) {
    if (document.getElementById("m" + m.id)) return;       // never twice
    const stick = nearBottom();
    const li = renderMessage(m);
    // Messages arrive in id order; keep the list sorted even if one arrives out of turn.
    if (m.id > lastId()) {
      list.append(li);
    } else {
      let before = null;
      for (const el of list.querySelectorAll(".message[data-id]")) {
        if (parseInt(el.dataset.id, 10) > m.id) { before = el; break; }
      }
      list.insertBefore(li, before);
    }
    group(li);
    group(li.nextElementSibling);
    setEmpty(false);
    // Follow our own message down; everyone else's only if we were already at the bottom.
    if (stick || (own && outbox.length === 0)) scrollToBottom();
  }

  function notice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    notices.append(li);
    while (notices.children.length > 3) notices.firstChild.remove();
    setTimeout(function () { li.remove(); }, 8000);
  }

  function showAlert(text, sticky) {
    alertEl.textContent = text;
    alertEl.hidden = false;
    clearTimeout(alertTimer);
    if (!sticky) alertTimer = setTimeout(function () { alertEl.hidden = true; }, 8000);
  }

  function setStatus(state, label) {
    statusEl.dataset.state = state;
    statusEl.textContent = label;
  }

  // ---- outbox ----
  function newClientId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function renderPending(item) {
    // Looks like the message it will become, greyed out; it is not a .message until the
    // server has stored it and given it an id.
    const li = document.createElement("li");
    li.className = "pending-message";
    const meta = document.createElement("div");
    meta.className = "meta";
    const user = document.createElement("span");
    user.className = "pending-user";
    user.textContent = item.user || "Anonymous";
    const state = document.createElement("span");
    state.className = "pending-state";
    state.textContent = ws && ws.readyState === WebSocket.OPEN ? "sending…" : "waiting for the connection…";
    item.stateEl = state;
    meta.append(user, " ", state);
    const text = document.createElement("div");
    text.className = "pending-text";
    text.textContent = item.message;
    li.append(makeAvatar(item.user || "Anonymous"), meta, text);
    pendingList.append(li);
    item.el = li;
  }

  function settle(clientId) {
    const i = outbox.findIndex(function (o) { return o.client_id === clientId; });
    if (i < 0) return null;
    const [item] = outbox.splice(i, 1);
    if (item.el) item.el.remove();
    return item;
  }

  function sendFrame(item) {
    const frame = { message: item.message, client_id: item.client_id };
    if (item.user) frame.user = item.user;
    ws.send(JSON.stringify(frame));
  }

  function flushOutbox() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    for (const item of outbox) {
      if (item.stateEl) item.stateEl.textContent = "sending…";
      sendFrame(item);
    }
  }

  // ---- socket ----
  function connect() {
    clearTimeout(reconnectTimer);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const params = new URLSearchParams();
    if (userName) params.set("user", userName);
    params.set("after", String(lastId()));
    setStatus(attempt ? "reconnecting" : "connecting", attempt ? "reconnecting…" : "connecting…");
    const socket = new WebSocket(scheme + location.host + wsPath + "?" + params.toString());
    ws = socket;
    socket.addEventListener("open", function () {
      if (attempt) notice("Reconnected.");
      attempt = 0;
      setStatus("online", "online");
      flushOutbox();
    });
    socket.addEventListener("message", function (event) {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    });
    socket.addEventListener("close", function (event) {
      if (ws !== socket) return;
      ws = null;
      presenceEl.classList.add("stale");  // who is here is unknown until we are back
      if (event.code === 4000) { roomDeleted(); return; }
      attempt += 1;
      const delay = Math.min(15000, 500 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() / 2);
      setStatus("reconnecting", "reconnecting…");
      if (attempt === 1) notice(event.code === 1001 ? "The server is restarting; reconnecting…" : "Connection lost; reconnecting…");
      reconnectTimer = setTimeout(connect, event.code === 1008 && attempt === 1 ? 100 : delay);
    });
  }

  function handle(frame) {
    switch (frame.type) {
      case "chat":
        appendMessage(frame, !!(frame.client_id && settle(frame.client_id)));
        clearTyping(frame.user);
        break;
      case "error": {
        const item = frame.client_id ? settle(frame.client_id) : null;
        if (item && !input.value) input.value = item.message;  // give the text back
        showAlert(frame.detail || "Something went wrong.");
        break;
      }
      case "delete": {
        const el = document.getElementById("m" + frame.id);
        if (el) {
          const next = el.nextElementSibling;
          el.remove();
          group(next);
          if (!list.querySelector(".message")) setEmpty(true);
        }
        break;
      }
      case "presence": renderPresence(frame); break;
      case "typing": showTyping(frame.user); break;
      case "room": roomState(frame); break;
      case "clear": clearHistory(); notice("An admin cleared this room's history."); break;
      case "lagged": notice("Catching up…"); break;
      default: break;  // newer servers may send frames this page does not know
    }
  }

  function setEmpty(empty) {
    if (empty && !emptyEl) {
      emptyEl = document.createElement("p");
      emptyEl.id = "empty";
      emptyEl.className = "muted empty";
      emptyEl.textContent = "No messages yet. Be the first to say something.";
      list.after(emptyEl);
    }
    if (emptyEl) emptyEl.hidden = !empty;
  }

  function clearHistory() {
    list.replaceChildren();
    olderButton.hidden = true;
    setEmpty(true);
  }

  function roomDeleted() {
    clearHistory();
    setStatus("offline", "room deleted");
    showAlert("An admin deleted this room. Reload the page to start it afresh.", true);
  }

  function roomState(frame) {
    const locked = !!frame.locked;
    body.classList.toggle("locked", locked);
    input.disabled = locked;
    sendButton.disabled = locked;
    let n = document.getElementById("locked-notice");
    if (locked && !n) {
      n = document.createElement("p");
      n.id = "locked-notice";
      n.className = "locked-notice";
      n.textContent = "This room is locked: you can read it, but nobody can post.";
      timeline.insertBefore(n, timeline.querySelector(".older"));
    } else if (!locked && n) {
      n.remove();
    }
  }

  function renderPresence(frame) {
    presenceEl.classList.remove("stale");
    presenceEl.replaceChildren();
    for (const name of frame.users || []) {
      const li = document.createElement("li");
      li.textContent = name;
      presenceEl.append(li);
    }
    presenceCount.textContent = "(" + (frame.count || 0) + ")";
  }

  function renderTyping() {
    const names = Array.from(typers.keys());
    if (!names.length) typingEl.textContent = "";
    else if (names.length === 1) typingEl.textContent = names[0] + " is typing…";
    else if (names.length <= 3) typingEl.textContent = names.join(", ") + " are typing…";
    else typingEl.textContent = "Several people are typing…";
  }

  function showTyping(user) {
    if (!user) return;
    clearTimeout(typers.get(user));
    typers.set(user, setTimeout(function () { clearTyping(user); }, 4000));
    renderTyping();
  }

  function clearTyping(user) {
    if (!typers.has(user)) return;
    clearTimeout(typers.get(user));
    typers.delete(user);
    renderTyping();
  }

  // ---- composing ----
  function submit() {
    const text = input.value;
    if (!text.trim()) return;
    const length = Array.from(text).length;
    if (length > maxMessage) {
      showAlert("That message is " + length.toLocaleString() + " characters long; the limit is " + maxMessage.toLocaleString() + ".");
      return;
    }
    // The server refuses these too, but its answer could not say which message it meant.
    if (TEXT_CONTROL.test(text)) { showAlert("The message contains control characters."); return; }
    if (LONE_SURROGATE.test(text)) { showAlert("The message contains a broken character."); return; }
    const item = { client_id: newClientId(), message: text, user: userName || null, el: null, stateEl: null };
    outbox.push(item);
    renderPending(item);
    input.value = "";
    autosize();
    if (ws && ws.readyState === WebSocket.OPEN) sendFrame(item);
    else notice("You are offline; the message will be sent when the connection is back.");
    scrollToBottom();
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 160) + "px";
  }
  input.addEventListener("input", function () {
    autosize();
    const now = Date.now();
    if (ws && ws.readyState === WebSocket.OPEN && input.value && now - lastTypingSent > 2000) {
      lastTypingSent = now;
      ws.send(JSON.stringify({ type: "typing" }));
    }
  });

  // ---- older history ----
  let loadingOlder = false;
  async function loadOlder() {
    if (loadingOlder || olderButton.hidden) return;
    const first = firstId();
    if (!first) { olderButton.hidden = true; return; }
    loadingOlder = true;
    olderButton.disabled = true;
    try {
      const response = await fetch(historyPath + "?before=" + first + "&limit=50");
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      const height = timeline.scrollHeight;
      const anchor = list.firstChild;
      for (const m of data.messages) {
        if (document.getElementById("m" + m.id)) continue;
        list.insertBefore(renderMessage(m), anchor);
      }
      regroupAll();
      timeline.scrollTop += timeline.scrollHeight - height;  // keep the view where it was
      olderButton.hidden = !data.has_more;
    } catch (e) {
      showAlert("Could not load older messages. Try again in a moment.");
    } finally {
      loadingOlder = false;
      olderButton.disabled = false;
    }
  }
  olderButton.addEventListener("click", loadOlder);
  timeline.addEventListener("scroll", function () { if (timeline.scrollTop < 40) loadOlder(); });

  // ---- start ----
  for (const t of list.querySelectorAll("time[datetime]")) formatTime(t);
  for (const li of list.querySelectorAll(".message")) {
    const avatar = li.querySelector(".avatar");
    if (avatar) decorateAvatar(avatar, authorOf(li) || "");
  }
  regroupAll();
  markMine();
  const highlighted = list.querySelector(".message.highlight");
  if (highlighted) highlighted.scrollIntoView({ block: "center" });
  else scrollToBottom();
  // Ready to type on a desktop; on a phone, focusing would pop the keyboard over the history.
  if (!input.disabled && !window.matchMedia("(pointer: coarse)").matches) input.focus({ preventScroll: true });
  alertEl.title = "Click to dismiss";
  alertEl.addEventListener("click", function () { alertEl.hidden = true; clearTimeout(alertTimer); });
  connect();
  window.addEventListener("online", function () { if (!ws) connect(); });
})();
