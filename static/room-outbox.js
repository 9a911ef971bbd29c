// Messages sent but not yet confirmed. Each has a client_id that the server echoes on the
// stored message, so one sent again after a reconnect is still stored once. Until its
// echo arrives it shows greyed out below the list, and it is sent again whenever the
// connection comes back.

import { notice } from "./room-notify.js";
import { renderPending } from "./room-render.js";

function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function stateLabel(open) {
  return open ? "sending…" : "waiting for the connection…";
}

export class Outbox {
  #items = [];  // {clientId, message, user, el}, oldest first

  // list: the element pending messages are shown in; socket: a RoomSocket.
  constructor(list, socket) {
    this.list = list;
    this.socket = socket;
  }

  get size() {
    return this.#items.length;
  }

  // user: the name to send, or "" for the server's default; replyTo: the id of the
  // message this one answers, or null.
  add(message, user, replyTo = null) {
    const el = renderPending(message, user || "Anonymous");
    const item = { clientId: newClientId(), message, user, replyTo, el };
    this.#items.push(item);
    this.list.append(el);
    if (!this.#send(item)) notice("You are offline; the message will be sent when the connection is back.");
  }

  // The server answered for this client_id, with the stored message or an error: the item
  // leaves the outbox and is returned, or null if it was not ours.
  settle(clientId) {
    const i = this.#items.findIndex((item) => item.clientId === clientId);
    if (i < 0) return null;
    const [item] = this.#items.splice(i, 1);
    item.el.remove();
    return item;
  }

  // The server took this one in while stopping and did not store it: it stays, shown as
  // waiting, and goes again with the rest when the connection comes back. True if it was ours.
  hold(clientId) {
    const item = this.#items.find((item) => item.clientId === clientId);
    if (!item) return false;
    item.el.querySelector(".pending-state").textContent = stateLabel(false);
    return true;
  }

  // Everything still unconfirmed, again, on a new connection: the client_ids make a
  // message the server already stored come back as the stored one, not as a second copy.
  flush() {
    for (const item of this.#items) this.#send(item);
  }

  #send(item) {
    const frame = { message: item.message, client_id: item.clientId };
    if (item.user) frame.user = item.user;
    if (item.replyTo) frame.reply_to = item.replyTo;
    const sent = this.socket.send(frame);
    item.el.querySelector(".pending-state").textContent = stateLabel(sent);
    return sent;
  }
}
