// The sidebar's controls: the drawer a phone opens it in, the one per-room menu (a room's
// notification level, or taking a public room out of the sidebar), and the current room's
// level form under "Here now", which saves on change. Each posts with the page's CSRF token
// (X-CSRF-Token) and gets JSON back (chatapp/attention/views.py); what the sidebar shows
// afterwards is room-sidebar.js's to draw, through the callbacks it passes.

const nav = document.getElementById("rooms-nav");
const current = document.body.dataset.room;

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": nav.dataset.token },
  });
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}

function pathFor(template, room) {
  return template.replace("ROOM", encodeURIComponent(room));
}

export function setupDrawer() {
  const toggle = document.getElementById("rooms-toggle");
  const backdrop = document.getElementById("rooms-backdrop");
  const close = document.getElementById("rooms-close");
  if (!toggle || !nav) return;
  const set = (open) => {
    nav.classList.toggle("open", open);
    backdrop.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) (nav.querySelector(".rooms-item.current a") || nav.querySelector("a, input"))?.focus({ preventScroll: true });
  };
  toggle.addEventListener("click", () => set(!nav.classList.contains("open")));
  backdrop.addEventListener("click", () => set(false));
  close.addEventListener("click", () => { set(false); toggle.focus(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && nav.classList.contains("open")) { set(false); toggle.focus(); }
  });
}

function syncLevelForm(room, level) {
  if (room !== current) return;
  const select = document.querySelector(".level-form select");
  if (select) select.value = level;
}

// room(name): {level, visibility} of a room in the sidebar; leveled(name, level) and
// left(name): what the server answered.
export function setupMenu({ room, leveled, left }) {
  const menu = document.getElementById("rooms-menu");
  if (!menu || !nav) return;
  let open = null;  // the room whose menu is open
  let button = null;
  const hide = () => {
    menu.hidden = true;
    if (button) button.setAttribute("aria-expanded", "false");
    open = null;
  };
  nav.addEventListener("click", (event) => {
    const b = event.target.closest(".rooms-menu-button");
    if (!b) return;
    const name = b.closest(".rooms-item").dataset.room;
    if (open === name) { hide(); return; }
    const r = room(name);
    if (!r) return;
    open = name;
    button = b;
    b.setAttribute("aria-expanded", "true");
    for (const item of menu.querySelectorAll("[data-level]")) {
      item.setAttribute("aria-checked", String(item.dataset.level === r.level));
    }
    menu.querySelector(".rooms-menu-leave").hidden = r.visibility !== "public" || name === current;
    menu.hidden = false;
    const rect = b.getBoundingClientRect();
    const navRect = nav.getBoundingClientRect();
    menu.style.top = Math.min(rect.bottom + 4, window.innerHeight - menu.offsetHeight - 8) + "px";
    menu.style.left = Math.max(8, Math.min(navRect.right - menu.offsetWidth - 8, rect.right - menu.offsetWidth)) + "px";
    menu.querySelector("[aria-checked=true]")?.focus();
  });
  menu.addEventListener("click", async (event) => {
    const item = event.target.closest("button");
    if (!item || open === null) return;
    const name = open;
    hide();
    try {
      if (item.dataset.leave) {
        await post(pathFor(nav.dataset.leavePath, name), new FormData());
        left(name);
        return;
      }
      const body = new FormData();
      body.set("level", item.dataset.level);
      const answer = await post(pathFor(nav.dataset.levelPath, name), body);
      leveled(name, answer.level);
      syncLevelForm(name, answer.level);
    } catch (e) {
      console.error(e);
    }
  });
  document.addEventListener("click", (event) => {
    if (open !== null && !menu.contains(event.target) && !event.target.closest(".rooms-menu-button")) hide();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && open !== null) { const b = button; hide(); b?.focus(); }
  });
}

// The current room's level in the "Here now" column: without script a form and a button.
export function setupLevelForm({ leveled }) {
  const form = document.querySelector(".level-form");
  if (!form) return;
  form.querySelector("button").hidden = true;
  form.querySelector("select").addEventListener("change", async () => {
    try {
      const answer = await post(form.action, new FormData(form));
      leveled(current, answer.level);
    } catch (e) {
      form.submit();  // the plain form still works
    }
  });
}
