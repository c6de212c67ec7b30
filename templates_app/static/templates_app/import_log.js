// A version's import log, live: follows the import job's log over the logs WebSocket
// (/api/v2/templateversions/<id>/logs, the one the CLI follows) from the last line the page
// shows, and reloads the page when the import ends so its status and actions are current.
"use strict";

(() => {
  const log = document.getElementById("import-log");
  const state = document.getElementById("log-state");
  if (!log || log.dataset.running !== "1") return;
  let after = Number(log.dataset.after || 0);
  let retries = 0;
  let done = false;

  function append(rows) {
    const follow = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const text = rows.map((row) => (row.level === "error" ? "error: " : "") + row.output + "\n");
    log.append(document.createTextNode(text.join("")));
    after = Math.max(after, rows[rows.length - 1].id);
    if (follow) log.scrollTop = log.scrollHeight;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/v2/templateversions/${log.dataset.version}/logs?after=${after}`;
    const socket = new WebSocket(url);
    state.textContent = "Following the import…";
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "logs" && message.logs.length) append(message.logs);
      if (message.type === "end") {
        done = true;
        state.textContent = `The import ${message.status}; reloading…`;
        location.reload();
      }
    };
    socket.onclose = (event) => {
      if (done) return;
      if (event.code >= 4400 && event.code < 4500) {
        state.textContent = `The log is unavailable: ${event.reason || event.code}.`;
        return;
      }
      retries += 1;
      state.textContent = "Connection lost; reconnecting…";
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries));
    };
  }

  connect();
  log.scrollTop = log.scrollHeight;
})();
