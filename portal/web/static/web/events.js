// Live pages without polling: one WebSocket per page to /api/v2/users/me/events. When a workspace
// of the signed-in user changes (a build's status, an agent), fire `workspace-changed` on <body>;
// fragments that listen (hx-trigger="workspace-changed from:body") re-fetch themselves. A page
// scoped to one workspace (an element with data-events and data-workspace) hears only its own.
// Events are not replayed, so each time the socket subscribes the page re-reads once (what changed
// before it listened); while the socket cannot connect, a slow poll (60 s) keeps it current.
// A notification for the user fires `notifications-changed` on <body> (the bell re-reads).
// Those fragments swap their outerHTML, so each has hx-sync="this:replace": an event arriving
// while a re-read is in flight starts a fresh one (htmx would queue it on the element the swap
// removes, and drop it, leaving the fragment stale).
"use strict";

(() => {
  const FALLBACK_POLL_MS = 60000;
  const COALESCE_MS = 150; // a burst of events (many builds ending) makes one re-fetch
  let socket = null;
  let live = false;
  let retries = 0;
  let stopped = false;
  let pending = null;

  const listening = () => document.querySelector("[data-events]");

  function notified(detail) {
    document.body.dispatchEvent(new CustomEvent("notifications-changed", { detail }));
  }

  function changed(detail) {
    if (detail.subscribed || detail.fallback) notified(detail);
    if (pending || !listening()) return;
    pending = setTimeout(() => {
      pending = null;
      document.body.dispatchEvent(new CustomEvent("workspace-changed", { detail }));
    }, COALESCE_MS);
  }

  function relevant(event) {
    const scoped = document.querySelector("[data-events][data-workspace]");
    return !scoped || scoped.dataset.workspace === event.workspace_id;
  }

  function connect() {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v2/users/me/events`);
    const mine = socket;
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "subscribed") {
        live = true;
        retries = 0;
        // Changes between the page's rendering (or the last socket's end) and now were not
        // heard: read the page's state once, now that no further event can be lost.
        changed({ subscribed: true });
        document.body.dataset.eventsLive = "true"; // no event is lost from here on (tests wait)
      } else if (data.type === "event" && data.event.kind === "notification") {
        notified(data.event);
      } else if (data.type === "event" && relevant(data.event)) {
        changed(data.event);
      }
    };
    socket.onclose = (event) => {
      if (mine !== socket) return;
      live = false;
      delete document.body.dataset.eventsLive;
      if (event.code === 4401 || event.code === 4403) {
        stopped = true; // signed out or suspended: the fallback poll leads to the login page
        return;
      }
      retries += 1;
      setTimeout(connect, Math.min(30000, 500 * 2 ** Math.min(retries, 6)));
    };
  }

  // Only where something listens: other pages need no socket.
  if (!listening()) return;
  setInterval(() => {
    if (!live && document.visibilityState === "visible") changed({ fallback: true });
  }, FALLBACK_POLL_MS);
  window.addEventListener("pagehide", () => {
    stopped = true;
    if (socket) socket.close();
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    stopped = false; // back from the back/forward cache: listen again and catch up
    retries = 1;
    connect();
  });
  connect();
})();
