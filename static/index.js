// The room list page: remembers the display name between visits.
"use strict";
(function () {
  const KEY = "chatapp:user";
  const form = document.getElementById("join");
  if (!form) return;
  const user = form.elements.namedItem("user");  // absent for a member: they post as themselves
  if (user) {
    try {
      const saved = localStorage.getItem(KEY);
      if (saved && !user.value) user.value = saved;
    } catch (e) { /* storage may be off */ }
    form.addEventListener("submit", function () {
      try {
        if (user.value.trim()) localStorage.setItem(KEY, user.value.trim());
      } catch (e) { /* storage may be off */ }
    });
  }
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
})();
