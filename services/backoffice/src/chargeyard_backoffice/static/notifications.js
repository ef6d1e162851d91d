// The driver's notifications as they happen: the back office relays the notifier's push stream
// (Server-Sent Events) with the session cookie; each one is added to the list on the home page and
// shown for a few seconds on any app page, without a reload.
"use strict";
(function () {
  function start() {
    const url = document.body.dataset.notifications;
    if (!url || !window.EventSource) return;
    const list = document.getElementById("notifications");
    const toasts = document.createElement("div");
    toasts.className = "toasts";
    toasts.setAttribute("role", "status");
    document.body.appendChild(toasts);
    let lastId = null;

    function show(note) {
      if (list) {
        const known = Array.from(list.querySelectorAll("[data-notification]")).some((li) => li.dataset.notification === note.notification_id);
        if (known) return;
        list.querySelectorAll("li.empty").forEach((li) => li.remove());
        const item = document.createElement("li");
        item.dataset.notification = note.notification_id;
        item.dataset.kind = note.kind;
        item.dataset.reservation = note.reservation_id || "";
        const when = document.createElement("small");
        when.textContent = new Date(note.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
        item.append(when, " ", note.subject);
        list.prepend(item);
      }
      const toast = document.createElement("p");
      toast.className = "toast";
      toast.textContent = note.subject;
      toasts.appendChild(toast);
      setTimeout(() => toast.remove(), 6000);
    }

    function connect(target) {
      const source = new EventSource(target);
      source.addEventListener("notification", (event) => {
        lastId = event.lastEventId || lastId;
        try { show(JSON.parse(event.data)); } catch (e) { console.error("notification not understood", e); }
      });
      // The browser reconnects by itself (with Last-Event-ID); a stream that was refused or ended
      // for good is opened again a little later from the last event seen.
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) {
          setTimeout(() => connect(lastId ? url.split("?")[0] + "?after=" + lastId : url), 10000);
        }
      };
    }
    connect(url);
  }
  document.addEventListener("DOMContentLoaded", start);
})();
