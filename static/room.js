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
  const emptyEl = document.getElementById("empty");

  let ws = null;
  let attempt = 0;
  let reconnectTimer = null;
  let lastTypingSent = 0;
  let alertTimer = null;
  const outbox = [];           // {client_id, message, user, el}, sent until the server echoes them
  const typers = new Map();    // user -> timer

  // ---- names ----
  function loadName() {
    const params = new URLSearchParams(location.search);
    let name = params.get("user");
    if (name !== null) {
      params.delete("user");
      const q = params.toString();
      history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
    }
    if (!name) { try { name = localStorage.getItem(KEY); } catch (e) { name = null; } }
    return (name || "").trim().slice(0, maxUser);
  }
  let userName = loadName();
  nameInput.value = userName;
  nameInput.addEventListener("change", function () {
    const v = nameInput.value.trim();
    if (v.length > maxUser) { showAlert("Names are at most " + maxUser + " characters."); return; }
    userName = v;
    try { v ? localStorage.setItem(KEY, v) : localStorage.removeItem(KEY); } catch (e) { /* ignore */ }
    markMine();
    if (ws) ws.close(1000, "name changed");  // reconnect so presence shows the new name
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
    li.append(meta, text);
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

  function appendMessage(m) {
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
    if (emptyEl) emptyEl.hidden = true;
    if (stick || (m.client_id && outbox.length === 0)) scrollToBottom();
  }

  function notice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    notices.append(li);
    while (notices.children.length > 3) notices.firstChild.remove();
    setTimeout(function () { li.remove(); }, 8000);
  }

  function showAlert(text) {
    alertEl.textContent = text;
    alertEl.hidden = false;
    clearTimeout(alertTimer);
    alertTimer = setTimeout(function () { alertEl.hidden = true; }, 8000);
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
    const li = document.createElement("li");
    li.className = "pending-message notice";
    li.textContent = "Sending: " + item.message.slice(0, 80) + (item.message.length > 80 ? "…" : "");
    notices.append(li);
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
    for (const item of outbox) sendFrame(item);
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
      if (event.code === 1000 && event.reason === "name changed") { connect(); return; }
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
        if (frame.client_id) settle(frame.client_id);
        appendMessage(frame);
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
        if (el) el.remove();
        break;
      }
      case "presence": renderPresence(frame); break;
      case "typing": showTyping(frame.user); break;
      case "room": roomState(frame); break;
      case "lagged": notice("Catching up…"); break;
      default: break;  // newer servers may send frames this page does not know
    }
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
    const item = { client_id: newClientId(), message: text, user: userName || null, el: null };
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
  markMine();
  const highlighted = list.querySelector(".message.highlight");
  if (highlighted) highlighted.scrollIntoView({ block: "center" });
  else scrollToBottom();
  connect();
  window.addEventListener("online", function () { if (!ws) connect(); });
})();
