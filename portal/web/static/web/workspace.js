// The workspace page: follow the latest build's log over its WebSocket (no polling), refresh the
// status section when the build ends, and carry on a restart (stop, then start).
"use strict";

(() => {
  const log = document.getElementById("build-log");
  const state = document.getElementById("log-state");
  if (!log) return;
  let socket = null;
  let buildId = log.dataset.build;
  let after = Number(log.dataset.after || 0);
  let retries = 0;

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  function append(rows) {
    const follow = atBottom();
    const text = rows
      .map((row) => (row.level === "error" ? "error: " : "") + row.output)
      .join("\n");
    log.append(document.createTextNode((log.textContent ? "\n" : "") + text));
    after = Math.max(after, rows[rows.length - 1].id);
    if (follow) log.scrollTop = log.scrollHeight;
  }

  let lastStatus = "";

  // The second half of a restart: once the stop build succeeded and the refreshed status
  // section offers Start, press it.
  function continueRestart() {
    if (log.dataset.then !== "start" || lastStatus !== "succeeded") return;
    const start = document.querySelector('form[data-action="start"]');
    if (!start) return; // not refreshed yet: htmx:afterSettle calls again
    log.dataset.then = "";
    state.textContent = "Stopped; starting again…";
    start.requestSubmit();
  }

  function ended(status) {
    lastStatus = status;
    state.textContent = `Build ${status}.`;
    document.body.dispatchEvent(new CustomEvent("build-ended", { detail: { status } }));
    continueRestart();
  }

  function connect() {
    if (!buildId) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/v2/workspacebuilds/${buildId}/logs?after=${after}`;
    socket = new WebSocket(url);
    const mine = socket;
    state.textContent = "Following the build…";
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "logs" && message.logs.length) append(message.logs);
      if (message.type === "end") {
        retries = -1;
        ended(message.status);
      }
    };
    socket.onclose = (event) => {
      if (mine !== socket || retries < 0) return;
      if (event.code >= 4400 && event.code < 4500) {
        state.textContent = `The build log is unavailable: ${event.reason || event.code}.`;
        return;
      }
      // Dropped (server restart, network): reconnect and carry on after the last line we have.
      retries += 1;
      state.textContent = "Connection lost; reconnecting…";
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries));
    };
  }

  // A build started elsewhere (or the restart's start): follow the new one from its first line.
  document.addEventListener("htmx:afterSettle", () => {
    continueRestart();
    const live = document.getElementById("workspace-live");
    if (!live || !live.dataset.build || live.dataset.build === buildId) return;
    if (socket) { retries = -1; socket.close(); }
    buildId = live.dataset.build;
    after = 0;
    retries = 0;
    log.textContent = "";
    connect();
  });

  if (log.dataset.active === "1") connect();
  else {
    lastStatus = log.dataset.status; // a restart whose stop ended before this page loaded
    continueRestart();
  }
  if (log.dataset.active === "1" || atBottom()) log.scrollTop = log.scrollHeight;
})();
