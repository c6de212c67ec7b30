// The workspace page: follow the latest build's log over its WebSocket (no polling), refresh the
// status section when the build ends (a restart's start build, queued by the server, then shows
// up and is followed in turn), and follow the agents' startup logs while they start.
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

  function ended(status) {
    state.textContent = `Build ${status}.`;
    document.body.dispatchEvent(new CustomEvent("build-ended", { detail: { status } }));
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
  if (log.dataset.active === "1" || atBottom()) log.scrollTop = log.scrollHeight;
})();

// Agents' startup logs: while an agent runs, its log WebSocket appends lines as they come (scripts
// that do not block login write after the agent is ready); when its lifecycle changes the page
// re-reads its state, and when the agent shuts down the stream ends.
(() => {
  const RUNNING = ["created", "starting", "ready", "start_error", "start_timeout"];
  const follows = new Map(); // agent id -> {pre, socket, after, retries}
  const open = new Set(); // agent ids whose "Startup logs" the user opened

  function follow(entry) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const id = entry.pre.dataset.agentLog;
    const url = `${scheme}://${location.host}/api/v2/workspaceagents/${id}/logs?until=stopped&after=${entry.after}`;
    const socket = new WebSocket(url);
    entry.socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      const pre = entry.pre;
      if (message.type === "logs" && message.logs.length) {
        const follow = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
        if (pre.dataset.empty === "1") {
          pre.textContent = ""; // "No output yet."
          delete pre.dataset.empty;
        }
        const text = message.logs.map((row) => row.output).join("\n");
        pre.append(document.createTextNode((pre.textContent ? "\n" : "") + text));
        entry.after = Math.max(entry.after, message.logs[message.logs.length - 1].id);
        if (follow) pre.scrollTop = pre.scrollHeight;
      }
      if (message.type === "end") entry.ended = true;
      if (message.type === "end" || message.type === "lifecycle") {
        // The agent's lifecycle changed: its badge and lifecycle are re-read.
        if (message.status !== pre.dataset.lifecycle) {
          document.body.dispatchEvent(new CustomEvent("workspace-changed", { detail: { agent: id } }));
        }
      }
    };
    socket.onclose = (event) => {
      if (entry.ended || follows.get(id) !== entry) return;
      if (event.code >= 4400 && event.code < 4500) return; // gone or not allowed: nothing to retry
      entry.retries += 1;
      setTimeout(() => {
        if (follows.get(id) === entry && !entry.ended) follow(entry);
      }, Math.min(10000, 500 * 2 ** entry.retries));
    };
  }

  // After every refresh of the agents section: follow the agents that start, each from the
  // last line the fresh section shows (a refresh replaces the element a socket wrote into).
  function sync() {
    const shown = new Set();
    document.querySelectorAll("pre[data-agent-log]").forEach((pre) => {
      const id = pre.dataset.agentLog;
      shown.add(id);
      const current = follows.get(id);
      if (current && current.pre === pre) return;
      if (current) {
        follows.delete(id);
        current.ended = true;
        current.socket.close();
      }
      if (!RUNNING.includes(pre.dataset.lifecycle)) return;
      const entry = { pre, socket: null, after: Number(pre.dataset.after || 0), retries: 0 };
      follows.set(id, entry);
      follow(entry);
    });
    for (const [id, entry] of follows) {
      if (shown.has(id)) continue;
      follows.delete(id);
      entry.ended = true;
      entry.socket.close();
    }
    // A refresh must not fold away the log someone is reading.
    document.querySelectorAll("details[data-agent-details]").forEach((details) => {
      if (open.has(details.dataset.agentDetails)) details.open = true;
    });
  }

  document.addEventListener(
    "toggle",
    (event) => {
      const id = event.target.dataset && event.target.dataset.agentDetails;
      if (!id) return;
      if (event.target.open) open.add(id);
      else open.delete(id);
    },
    true,
  );
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("htmx:oobAfterSwap", sync);
  sync();
})();

// Pushed refreshes may land while someone is mid-action (the delete confirmation open, its name
// half typed): the fresh status section keeps what was open, typed and focused.
(() => {
  let saved = null;

  function key(details) {
    const summary = details.querySelector("summary");
    return details.dataset.agentDetails || (summary ? summary.textContent.trim() : "");
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || target.id !== "workspace-live") return;
    const active = document.activeElement;
    saved = {
      open: [...target.querySelectorAll("details[open]")].map(key),
      values: [...target.querySelectorAll("input[id]:not([type=hidden])")]
        .filter((input) => input.value)
        .map((input) => [input.id, input.value]),
      focus: active && target.contains(active) && active.id ? active.id : "",
    };
  });

  document.addEventListener("htmx:afterSwap", () => {
    const live = document.getElementById("workspace-live");
    if (!saved || !live) return;
    const { open, values, focus } = saved;
    saved = null;
    live.querySelectorAll("details").forEach((details) => {
      if (open.includes(key(details))) details.open = true;
    });
    for (const [id, value] of values) {
      const input = document.getElementById(id);
      if (input && live.contains(input) && !input.value) {
        input.value = value;
        input.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
    if (focus) {
      const element = document.getElementById(focus);
      if (element && live.contains(element)) element.focus();
    }
  });
})();
