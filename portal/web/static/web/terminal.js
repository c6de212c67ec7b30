// The web terminal: xterm.js over the agent's PTY stream. The reconnect id lives in
// sessionStorage, so reloading the page reattaches to the same shell (its recent output replays).
"use strict";

(() => {
  const element = document.getElementById("terminal");
  const state = document.getElementById("terminal-state");
  if (!element) return;
  const key = `portal-terminal-${element.dataset.agent}`;
  let reconnect = sessionStorage.getItem(key);
  if (!reconnect) {
    reconnect = crypto.randomUUID();
    sessionStorage.setItem(key, reconnect);
  }
  // xterm.js writes its colors and cell sizes into <style> elements, which the page's CSP
  // (style-src 'self') refuses to apply. A constructed stylesheet is not inline markup: mirror
  // their text into one, and again whenever xterm rewrites them.
  const mirror = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, mirror];
  function syncStyles() {
    const css = [...document.querySelectorAll("style")].map((s) => s.textContent).join("\n");
    mirror.replaceSync(css);
  }
  const touchesStyle = (m) =>
    (m.target.nodeName === "STYLE" || m.target.parentNode?.nodeName === "STYLE") ||
    [...m.addedNodes, ...m.removedNodes].some((n) => n.nodeName === "STYLE");
  new MutationObserver((mutations) => {
    if (mutations.some(touchesStyle)) syncStyles();
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });

  const term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14, scrollback: 5000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(element);
  syncStyles();
  fit.fit();
  term.focus();
  const encoder = new TextEncoder();
  let socket = null;
  let retries = 0;
  let exited = false;

  function send(data) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(data);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({
      kind: "pty", reconnect, rows: String(term.rows), cols: String(term.cols),
    });
    socket = new WebSocket(`${scheme}://${location.host}${element.dataset.stream}?${query}`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => { state.textContent = "Connected."; retries = 0; };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") {
        term.write(new Uint8Array(event.data));
        return;
      }
      const control = JSON.parse(event.data);
      if (control.type === "exit") {
        exited = true;
        sessionStorage.removeItem(key); // the shell is gone: a reload starts a new one
        state.textContent = `The shell exited (code ${control.code}). Reload for a new one.`;
      } else if (control.type === "error") {
        state.textContent = `Error: ${control.message}`;
      }
    };
    socket.onclose = (event) => {
      if (exited) return;
      if (event.code >= 4400 && event.code < 4500) {
        state.textContent = `Cannot connect: ${event.reason || event.code}.`;
        if (event.code !== 4409) return; // 409: the agent is not connected yet; try again
      }
      retries += 1;
      const why = event.reason ? ` (${event.reason})` : ` (code ${event.code})`;
      state.textContent = `Disconnected${why}; reconnecting…`;
      setTimeout(connect, Math.min(10000, 500 * 2 ** retries));
    };
  }

  term.onData((data) => send(encoder.encode(data)));
  term.onResize(({ rows, cols }) => send(JSON.stringify({ type: "resize", rows, cols })));
  window.addEventListener("resize", () => fit.fit());
  connect();
})();
