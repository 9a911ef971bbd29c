// The two ways the page speaks up: the alert, for what the person must read (a refusal, a
// failure), and passing notices at the foot of the timeline (lost, reconnected, catching up).

const ALERT_MS = 8000;
const NOTICE_MS = 8000;
const MAX_NOTICES = 3;

const alertEl = document.getElementById("alert");
const notices = document.getElementById("notices");
let alertTimer = null;

export function setupAlerts() {
  alertEl.title = "Click to dismiss";
  alertEl.addEventListener("click", () => hideAlert());
}

// A sticky alert stays until dismissed: it says something that stays true (the room is gone).
// link: {href, text}, a way on when this page has no more to offer (e.g. back to the rooms).
export function showAlert(text, sticky = false, link = null) {
  alertEl.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.className = "alert-link";
    a.textContent = link.text;
    alertEl.append(" ", a);
  }
  alertEl.hidden = false;
  clearTimeout(alertTimer);
  if (!sticky) alertTimer = setTimeout(() => { alertEl.hidden = true; }, ALERT_MS);
}

// With a text, only that alert goes: a newer one about something else must stay readable.
export function hideAlert(onlyText = null) {
  if (onlyText !== null && alertEl.textContent !== onlyText) return;
  alertEl.hidden = true;
  clearTimeout(alertTimer);
}

export function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  notices.append(li);
  while (notices.children.length > MAX_NOTICES) notices.firstChild.remove();
  setTimeout(() => li.remove(), NOTICE_MS);
}
