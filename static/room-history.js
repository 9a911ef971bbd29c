// Older history, a page at a time from the history API, when the reader scrolls to the
// top or presses "Load older messages". Paging is by id (before=the first on screen), so
// messages arriving meanwhile never shift a page.

import { addOlder, firstId, onNearTop } from "./room-timeline.js";
import { showAlert } from "./room-notify.js";

const PAGE_SIZE = 50;

const olderButton = document.getElementById("load-older");
let historyPath = "";
let loading = false;

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
    addOlder(page.messages);
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

export function setupHistory(path) {
  historyPath = path;
  olderButton.addEventListener("click", loadOlder);
  onNearTop(loadOlder);
}
