// The room's WebSocket: connecting, resuming after the last message on screen, and
// reconnecting with backoff when the connection drops. It owns the status badge in the
// top bar; what the frames mean is for the page (room-main.js) to say.

import { notice, showAlert } from "./room-notify.js";

const GOING_AWAY = 1001;      // the server is shutting down
const POLICY = 1008;          // the page lagged behind, or flooded (docs/protocol.md)
const ROOM_DELETED = 4000;    // an admin deleted the room: never reconnect on our own
const SESSION_ENDED = 4001;   // the member logged out everywhere or changed password
const DEACTIVATED = 4002;     // an admin deactivated the account: logging in again will not work
const ROOM_GONE = 4003;       // removed from this private room, or the room became private
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const LAGGED_RETRY_MS = 100;
// After the server said it is going away (a restart, usually back within seconds), retry
// every 400 ms ±25% for RESTART_ATTEMPTS attempts (~15 s) before backing off as usual:
// doubling from 0.5 s would leave pages asleep for seconds after the server is back.
const RESTART_RETRY_MS = 400;
const RESTART_ATTEMPTS = 40;

const statusEl = document.getElementById("status");

function setStatus(state, label) {
  statusEl.dataset.state = state;
  statusEl.textContent = label;
}

// Doubling, capped, and jittered by ±25% so a restarted server is not met by every page
// in the same millisecond.
function backoff(attempt) {
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
}

export class RoomSocket {
  #ws = null;          // the current socket; null while waiting to reconnect
  #attempt = 0;        // failed connections in a row
  #restarting = false; // the last open socket was closed with GOING_AWAY
  #timer = null;
  #refused = false;    // the handshake was refused for a reason the reader must act on

  // path: the socket's path; query(): its parameters, asked afresh for every attempt so a
  // reconnect resumes after the last message on screen, under the current name.
  constructor({ path, query, onOpen, onFrame, onLost, onDeleted }) {
    Object.assign(this, { path, query, onOpen, onFrame, onLost, onDeleted });
  }

  get open() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.#connect();
    // The browser knows before a reconnect timer does that the network is back.
    window.addEventListener("online", () => { if (!this.#ws) this.#connect(); });
  }

  // A fresh socket at once, e.g. under a new name, so the room sees the change now.
  reconnect() {
    if (this.#refused) { this.#refused = false; this.#connect(); return; }  // e.g. a new name
    if (!this.#ws) return;  // a reconnect is already scheduled, and will use the new query
    const old = this.#ws;
    this.#ws = null;  // its close event must not count as a lost connection
    old.close(1000, "name changed");
    this.#connect();
  }

  // True if the frame went out; false if there is no open socket to carry it.
  send(frame) {
    if (!this.open) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  #connect() {
    clearTimeout(this.#timer);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const retrying = this.#attempt > 0;
    setStatus(retrying ? "reconnecting" : "connecting", retrying ? "reconnecting…" : "connecting…");
    const socket = new WebSocket(scheme + location.host + this.path + "?" + this.query().toString());
    this.#ws = socket;
    let opened = false;
    socket.addEventListener("open", () => { opened = true; this.#opened(); });
    socket.addEventListener("message", (event) => this.#received(event.data));
    socket.addEventListener("close", (event) => {
      if (this.#ws !== socket) return;
      if (opened) this.#closed(event.code);
      else this.#whyRefused(socket.url.replace(/^ws/, "http"));
    });
  }

  #opened() {
    if (this.#attempt) notice("Reconnected.");
    this.#attempt = 0;
    this.#restarting = false;
    setStatus("online", "online");
    this.onOpen();
  }

  #received(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (e) { return; }  // not ours to guess at
    this.onFrame(frame);
  }

  // A browser is not told why a handshake failed; the same URL over plain HTTP says,
  // as JSON (docs/protocol.md), when it is something the reader has to act on.
  async #whyRefused(url) {
    this.#ws = null;
    let refusal = null;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.status === 401) refusal = { error: "login_required" };
      else if (response.status === 404) refusal = { error: "not_found" };
      else if (response.status === 400) refusal = await response.json();
    } catch (e) { /* offline or not JSON: an ordinary lost connection */ }
    if (refusal && refusal.error === "login_required") {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      return;
    }
    if (refusal && refusal.error === "name_taken") {
      this.#refused = true;
      this.onLost();
      setStatus("offline", "name taken");
      showAlert(refusal.detail, true);
      return;
    }
    // The room is gone for this reader (removed while the connection was down, or the
    // room was made private): the same as a 4003, not a reason to retry for ever.
    this.#closed(refusal && refusal.error === "not_found" ? ROOM_GONE : 1006);
  }

  #closed(code) {
    this.#ws = null;
    this.onLost();
    if (code === SESSION_ENDED) {
      setStatus("offline", "logged out");
      showAlert("You were logged out: this account logged out everywhere or changed its password. "
        + "Log in again to go on.", true);
      return;
    }
    if (code === DEACTIVATED) {
      setStatus("offline", "deactivated");
      showAlert("Your account was deactivated by an admin, so you were logged out. "
        + "Ask an admin if you think this is a mistake.", true);
      return;
    }
    if (code === ROOM_GONE) {
      setStatus("offline", "no access");
      showAlert("You were removed from this room, or it became private: "
        + "you no longer see what is said here.", true, { href: "/", text: "Back to the rooms" });
      return;
    }
    if (code === ROOM_DELETED) {
      setStatus("offline", "room deleted");
      this.onDeleted();
      return;
    }
    this.#attempt += 1;
    setStatus("reconnecting", "reconnecting…");
    if (this.#attempt === 1) {
      notice(code === GOING_AWAY ? "The server is restarting; reconnecting…" : "Connection lost; reconnecting…");
    }
    // A page closed for lagging catches up best by resuming at once; if that fails too,
    // or the page was flooding, it waits like any other.
    if (code === GOING_AWAY) this.#restarting = true;
    const delay = code === POLICY && this.#attempt === 1 ? LAGGED_RETRY_MS
      : this.#restarting && this.#attempt <= RESTART_ATTEMPTS ? RESTART_RETRY_MS * (0.75 + Math.random() / 2)
      : backoff(this.#attempt);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }
}
