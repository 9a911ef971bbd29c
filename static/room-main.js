// The room page: live messages over a WebSocket, with resume, an outbox and older history.
// This module wires the others together and says what each frame from the server means.
//
// Loaded as <script type="module"> from its versioned URL (asset() in templates/room.html).
// The modules it imports are named relatively ("./room-socket.js"), so they load without a
// version: an import map could carry versions, but it is an inline script, which the
// strict CSP forbids. The files sit flat in static/ because the package ships only the
// files at the top of static/ (setup.cfg: chatapp.static = *).

import { messageDeleted, setupActions, takeReply } from "./room-actions.js";
import { applyRoomState, roomCleared, roomDeleted } from "./room-moderation.js";
import { focusComposer, giveBack, setupComposer } from "./room-composer.js";
import { olderAvailable, setupHistory } from "./room-history.js";
import { CAP, markMine, setupTimeline } from "./room-timeline.js";
import * as live from "./room-live.js";
import { setupMentions } from "./room-mentions.js";
import { setupName, userName } from "./room-name.js";
import { notice, setupAlerts, showAlert } from "./room-notify.js";
import { noticeChat, setupNotifications } from "./room-notifications.js";
import { Outbox } from "./room-outbox.js";
import { clearTyping, markPresenceStale, showPresence, showTyping } from "./room-presence.js";
import { applyEdit, setReactions } from "./room-render.js";
import * as sidebar from "./room-sidebar.js";
import { RoomSocket } from "./room-socket.js";
import { setupUpload } from "./room-upload.js";

const data = document.body.dataset;
const maxMessage = parseInt(data.maxMessage, 10) || 4000;
const maxUser = parseInt(data.maxUser, 10) || 32;

function socketQuery() {
  const params = new URLSearchParams();
  if (userName()) params.set("user", userName());
  params.set("after", String(live.resumeAfter()));  // resume: whatever came after what we have
  // Further behind than a page holds, the server sends the newest page instead (`reset`).
  params.set("max_backfill", String(CAP));
  params.set("sidebar", "1");  // a member's sidebar, and activity in their other rooms
  return params;
}

const socket = new RoomSocket({
  path: data.wsPath,
  query: socketQuery,
  onOpen: () => { outbox.flush(); sidebar.connected(); },
  onFrame: handle,
  onLost: markPresenceStale,
  onDeleted: roomDeleted,
});
const outbox = new Outbox(document.getElementById("pending"), socket);

function received(frame) {
  const own = !!(frame.client_id && outbox.settle(frame.client_id));
  // Follow our own message down, unless more of ours are still on their way.
  live.receive(frame, own && outbox.size === 0);
  clearTyping(frame.user);
}

function refused(frame) {
  // A restart is under way: the message goes again by itself after the reconnect.
  if (frame.error === "shutting_down" && frame.client_id && outbox.hold(frame.client_id)) return;
  const item = frame.client_id ? outbox.settle(frame.client_id) : null;
  if (item) giveBack(item.message);
  showAlert(frame.detail || "Something went wrong.");
}

// The frames of docs/protocol.md.
function handle(frame) {
  switch (frame.type) {
    case "chat": received(frame); noticeChat(frame); break;
    case "error": refused(frame); break;
    case "edit":
      live.patch(frame, { message: frame.message, html: frame.html, edited_at: frame.edited_at },
        (li) => applyEdit(li, frame));
      break;
    case "reactions":
      live.patch(frame, { reactions: frame.reactions }, (li) => setReactions(li, frame.reactions));
      break;
    case "delete": live.remove(frame.id, frame.event_id); messageDeleted(frame.id); break;
    case "reset": live.reset(frame); break;
    case "presence": showPresence(frame); break;
    case "typing": showTyping(frame.user); break;
    case "room": applyRoomState(frame); break;
    case "clear": live.noteEvent(frame.event_id || 0); roomCleared(); break;
    case "lagged": notice("Catching up…"); break;
    default: sidebar.handle(frame); break;  // attention; newer servers may send frames this page does not know
  }
}

setupAlerts();
setupName(maxUser, {
  onChange: () => { markMine(); socket.reconnect(); },
  onDone: () => focusComposer(),
});
const reading = setupTimeline();
setupHistory(data.historyPath, { newestDropped: live.markGap });
live.setupLive(data.historyPath, { reading, olderAvailable });
setupComposer({
  maxMessage,
  send: (text) => { outbox.add(text, userName(), takeReply()); live.showLatest(); },
  ping: () => socket.send({ type: "typing" }),
});
setupActions({ send: (frame) => socket.send(frame), focusComposer: () => focusComposer() });
setupUpload({ sent: () => live.showLatest(), replyTo: takeReply });
sidebar.setupSidebar({ send: (frame) => socket.send(frame) });
setupMentions();
focusComposer({ onArrival: true });
setupNotifications();
socket.start();
