// Older history, a page at a time from the history API, when the reader scrolls to the
// top or presses "Load older messages". Paging is by id (before=the first on screen), so
// messages arriving meanwhile never shift a page.

import { firstId, nearTop, onScroll, prepend } from "./room-timeline.js";
import { showAlert } from "./room-notify.js";

const PAGE_SIZE = 50;

const olderButton = document.getElementById("load-older");
let historyPath = "";
let loading = false;
let onNewestDropped = () => {};

async function fetchPage(before) {
  const response = await fetch(historyPath + "?before=" + before + "&limit=" + PAGE_SIZE);
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}

async function loadOlder() {
  if (loading || olderButton.hidden) return;
  const first = firstId();
  if (!first) { olderButton.hidden = true; return; }
  loading = true;
  olderButton.disabled = true;
  try {
    const page = await fetchPage(first);
    // The page keeps a bounded number of messages: reading back drops the newest.
    if (prepend(page.messages)) onNewestDropped();
    olderButton.hidden = !page.has_more;
  } catch (e) {
    showAlert("Could not load older messages. Try again in a moment.");
  } finally {
    loading = false;
    olderButton.disabled = false;
  }
}

// After the history is cleared there is nothing older to load.
export function noOlder() {
  olderButton.hidden = true;
}

// Older messages left the page (to keep it small), or were never on it (after a reset).
export function olderAvailable() {
  olderButton.hidden = false;
}

// newestDropped: older pages pushed the newest messages off the page.
export function setupHistory(path, { newestDropped }) {
  historyPath = path;
  onNewestDropped = newestDropped;
  olderButton.addEventListener("click", loadOlder);
  onScroll(() => { if (nearTop()) loadOlder(); });
}
