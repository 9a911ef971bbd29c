// The admin pages: confirm destructive forms, and keep the room table's figures live.
// User-supplied text (room names) only ever goes in through textContent.
(function () {
  "use strict";

  // ---- confirmations: a form with data-confirm asks before it posts ----
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // ---- the room table ----
  const body = document.body;
  const api = body.dataset.roomsApi;
  const table = document.getElementById("rooms");
  if (!api || !table) return;
  const tbody = table.tBodies[0];
  const state = document.getElementById("refresh-state");
  const empty = document.getElementById("no-rooms");
  const every = (parseInt(body.dataset.pollSeconds, 10) || 5) * 1000;
  let timer = null;
  let stopped = false;

  function shortTime(iso) {
    return iso.slice(0, 16).replace("T", " ") + " UTC";
  }

  function setState(kind, text) {
    state.dataset.state = kind;
    state.textContent = text;
  }

  function cell(row, cls, label) {
    let td = row.querySelector("td." + cls);
    if (!td) {
      td = document.createElement("td");
      td.className = cls;
      if (label) td.dataset.label = label;
      row.append(td);
    }
    return td;
  }

  function buildRow(room) {
    const tr = document.createElement("tr");
    tr.dataset.room = room.name;
    const name = cell(tr, "name");
    const a = document.createElement("a");
    a.href = room.url;
    a.textContent = "#" + room.name;
    name.append(a);
    cell(tr, "num count", "Messages");
    cell(tr, "num connections", "Connected now");
    cell(tr, "num names", "Names, 24 h");
    cell(tr, "last", "Last message");
    return tr;
  }

  function setNumber(td, value) {
    const text = String(value);
    if (td.textContent !== text) {
      td.textContent = text;
      return true;
    }
    return false;
  }

  function updateRow(tr, room) {
    let changed = setNumber(tr.querySelector("td.count"), room.messages);
    changed = setNumber(tr.querySelector("td.connections"), room.connections) || changed;
    setNumber(tr.querySelector("td.names"), room.names_24h);
    const name = tr.querySelector("td.name");
    let badge = name.querySelector(".badge");
    if (room.locked && !badge) {
      badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "locked";
      name.append(" ", badge);
    } else if (!room.locked && badge) {
      badge.remove();
    }
    const last = tr.querySelector("td.last");
    if (room.last_message_at) {
      let time = last.querySelector("time");
      if (!time) {
        last.replaceChildren();
        time = document.createElement("time");
        last.append(time);
      }
      if (time.dateTime !== room.last_message_at) {
        time.dateTime = room.last_message_at;
        time.textContent = shortTime(room.last_message_at);
      }
    } else if (last.textContent !== "never") {
      const never = document.createElement("span");
      never.className = "muted";
      never.textContent = "never";
      last.replaceChildren(never);
    }
    tr.classList.toggle("changed", changed);
  }

  function render(data) {
    const existing = new Map();
    for (const tr of tbody.rows) existing.set(tr.dataset.room, tr);
    const seen = new Set();
    for (const room of data.rooms) {
      const tr = existing.get(room.name) || buildRow(room);
      updateRow(tr, room);
      tbody.append(tr);  // appending an existing row moves it: the order follows the server's
      seen.add(room.name);
    }
    for (const [name, tr] of existing) {
      if (!seen.has(name)) tr.remove();
    }
    empty.hidden = data.rooms.length > 0;
    for (const [key, value] of Object.entries(data.totals)) {
      const dd = document.querySelector('#totals [data-total="' + key + '"]');
      if (dd) dd.textContent = String(value);
    }
    const size = document.querySelector('#totals [data-total="db_size"]');
    if (size) size.title = data.totals.db_bytes + " bytes";
    const full = document.getElementById("storage-full");
    if (full) full.hidden = !data.totals.storage_full;
  }

  async function refresh() {
    timer = null;
    if (stopped) return;
    try {
      const res = await fetch(api, { credentials: "same-origin", cache: "no-store",
                                     headers: { Accept: "application/json" } });
      if (res.status === 401) {
        stopped = true;
        setState("logged-out", "session ended: reload to log in again");
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      render(await res.json());
      setState("live", "live · updated " + new Date().toLocaleTimeString());
    } catch (e) {
      setState("stale", "not updating: the server did not answer");
    }
    schedule();
  }

  function schedule() {
    if (!stopped && !timer && !document.hidden) timer = setTimeout(refresh, every);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!timer) {
      refresh();  // back on the tab: show fresh figures at once
    }
  });
  schedule();
})();
