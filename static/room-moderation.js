// What an admin does to the room, as an open page lives through it: a lock, a cleared
// history, a deleted room.

import { setLocked } from "./room-composer.js";
import { noOlder } from "./room-history.js";
import { notice, showAlert } from "./room-notify.js";
import { clearAll } from "./room-live.js";

// The notice's markup is the one the server renders for a page opened while locked.
const lockedTemplate = document.getElementById("locked-template");

function showLockedNotice(locked) {
  const shown = document.getElementById("locked-notice");
  if (locked && !shown) {
    const n = lockedTemplate.content.firstElementChild.cloneNode(true);
    n.id = "locked-notice";
    document.querySelector(".timeline .older").before(n);
  } else if (!locked && shown) {
    shown.remove();
  }
}

// frame: {"type": "room", "locked": bool}, sent on connecting and on every change.
export function applyRoomState(frame) {
  const locked = !!frame.locked;
  document.body.classList.toggle("locked", locked);
  setLocked(locked);
  showLockedNotice(locked);
}

export function roomCleared() {
  clearAll();
  noOlder();
  notice("An admin cleared this room's history.");
}

export function roomDeleted() {
  clearAll();
  noOlder();
  showAlert("An admin deleted this room. Reload the page to start it afresh.", true);
}
