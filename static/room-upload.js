// Files into the room: the paperclip button, files pasted into the message box, or files
// dropped on the room. Each is checked against the server's limit first (the page's
// data-max-upload), then sent with XMLHttpRequest, which (unlike fetch) reports upload
// progress, to POST /api/rooms/<room>/files (docs/protocol.md, "Files"). The message that
// carries the file comes back over the socket like any other. Members only: a guest's page
// has no button and no data-upload-path, and this module then does nothing.

import { showAlert } from "./room-notify.js";

const PROGRESS_FROM = 256 * 1024;  // smaller files are up before a bar could be read
const MB = 1024 * 1024;

let path = "";
let token = "";
let limit = 0;
let hooks = { sent: () => {}, replyTo: () => null };
let queue = Promise.resolve();  // one upload at a time, in the order they were given
let status = null;              // the progress line under the composer

function sizeText(bytes) {
  if (bytes >= MB) return (bytes / MB).toFixed(bytes >= 10 * MB ? 0 : 1).replace(/\.0$/, "") + " MB";
  if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
  return bytes + (bytes === 1 ? " byte" : " bytes");
}

function newClientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function statusLine() {
  if (status) return status;
  const line = document.createElement("div");
  line.className = "upload-status";
  line.hidden = true;
  const label = document.createElement("span");
  label.className = "upload-label";
  const bar = document.createElement("progress");
  bar.className = "upload-progress";
  bar.max = 1;
  line.append(label, bar);
  document.querySelector(".composer-foot").prepend(line);
  status = { line, label, bar };
  return status;
}

function showProgress(name, fraction) {
  const { line, label, bar } = statusLine();
  label.textContent = "Sending “" + name + "”… " + Math.floor(fraction * 100) + "%";
  bar.value = fraction;
  bar.setAttribute("aria-label", "Sending " + name);
  line.hidden = false;
}

function hideProgress() {
  if (status) status.line.hidden = true;
}

// What is wrong with sending this file, said in full; null when nothing is.
function problem(file) {
  if (file.size === 0) return "“" + file.name + "” is empty (or a folder); nothing was sent.";
  if (file.size > limit) {
    return "“" + file.name + "” is " + sizeText(file.size) + "; files can be at most "
      + sizeText(limit) + ". Nothing was sent.";
  }
  return null;
}

function refusal(xhr, name) {
  const answer = xhr.response && typeof xhr.response === "object" ? xhr.response : null;
  if (answer && answer.detail) return "“" + name + "” was not sent: " + answer.detail;
  return "“" + name + "” was not sent (the server answered " + xhr.status + "). Try again.";
}

function send(file) {
  return new Promise((resolve) => {
    const name = file.name || "file";
    const form = new FormData();
    form.append("client_id", newClientId());
    const replyTo = hooks.replyTo();
    if (replyTo) form.append("reply_to", String(replyTo));
    form.append("file", file, name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.responseType = "json";
    const large = file.size >= PROGRESS_FROM;
    if (large) {
      showProgress(name, 0);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) showProgress(name, event.loaded / event.total);
      });
    }
    xhr.addEventListener("load", () => {
      hideProgress();
      if (xhr.status === 200 || xhr.status === 201) hooks.sent();
      else showAlert(refusal(xhr, name));
      resolve();
    });
    xhr.addEventListener("error", () => {
      hideProgress();
      showAlert("“" + name + "” was not sent: the connection failed. Try again.");
      resolve();
    });
    xhr.send(form);
  });
}

function uploadAll(files) {
  for (const file of files) {
    const wrong = problem(file);
    if (wrong) { showAlert(wrong); continue; }
    queue = queue.then(() => send(file));
  }
}

function hasFiles(event) {
  return !!event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");
}

function setupDrop(zone) {
  let depth = 0;  // dragenter and dragleave fire for every child crossed
  zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    zone.classList.add("drop-target");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove("drop-target");
  });
  zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove("drop-target");
    uploadAll(Array.from(event.dataTransfer.files));
  });
  // A file dropped beside the room must not make the browser leave the chat to show it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => { if (hasFiles(event)) event.preventDefault(); });
  }
}

// sent(): an upload was stored (its message arrives over the socket); replyTo(): the id
// of the message being answered, if any, taken for the next upload.
export function setupUpload({ sent, replyTo } = {}) {
  const data = document.body.dataset;
  const button = document.querySelector(".upload-button");
  const input = document.querySelector(".upload-input");
  if (!data.uploadPath || !button || !input) return;
  path = data.uploadPath;
  token = data.uploadToken || "";
  limit = parseInt(data.maxUpload, 10) || 0;
  hooks = { sent: sent || hooks.sent, replyTo: replyTo || hooks.replyTo };

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    uploadAll(Array.from(input.files));
    input.value = "";  // the same file can be chosen again
  });

  const message = document.getElementById("send").elements.namedItem("message");
  // Files only: a paste that also holds text (from a document, say) pastes the text.
  message.addEventListener("paste", (event) => {
    const clip = event.clipboardData;
    if (!clip || !clip.files.length || Array.from(clip.types).includes("text/plain")) return;
    event.preventDefault();
    uploadAll(Array.from(clip.files));
  });
  // The button follows the message box: both are off while the room is locked.
  new MutationObserver(() => { button.disabled = message.disabled; })
    .observe(message, { attributes: true, attributeFilter: ["disabled"] });

  setupDrop(document.querySelector(".chat-main"));
}
