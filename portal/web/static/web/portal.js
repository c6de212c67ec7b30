// Every page: htmx sends the CSRF token, copy buttons, the delete confirmation's button state.
"use strict";

document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (err) {
    // No clipboard (plain http on another host): select the text so Ctrl-C copies it.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Press Ctrl-C";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// Typed-name confirmations: the button stays disabled until the name matches (the server checks
// it again).
function syncConfirmations(root) {
  root.querySelectorAll("input[data-must-equal]").forEach((input) => {
    const button = input.form.querySelector('button[type="submit"]');
    const update = () => { button.disabled = input.value.trim() !== input.dataset.mustEqual; };
    if (!input.dataset.bound) {
      input.addEventListener("input", update);
      input.dataset.bound = "1";
    }
    update();
  });
}
document.addEventListener("DOMContentLoaded", () => {
  syncConfirmations(document);
  // After a refused form, keyboard and screen-reader users start at the list of problems.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
document.addEventListener("htmx:afterSettle", () => syncConfirmations(document));

// A refresh must not wipe what someone is typing (e.g. the name that confirms a delete).
document.addEventListener("htmx:beforeRequest", (event) => {
  const active = document.activeElement;
  const target = event.detail.target;
  if (active && target && target.contains(active) && active.matches("input, textarea, select")) {
    event.preventDefault();
  }
});

// A form on its way to the server (a full page load, not htmx): its button says so and cannot be
// pressed twice. htmx forms get the same from hx-disabled-elt.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || form.matches("[hx-get], [hx-post]")) return;
  if (form.dataset.pending) {
    event.preventDefault();
    return;
  }
  const button = event.submitter || form.querySelector('button[type="submit"]');
  form.dataset.pending = "1";
  // Disabled only after this event: a disabled submitter would drop out of the request's data.
  setTimeout(() => {
    if (!button) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }, 0);
});
// A page shown again from the back/forward cache must not keep a pending button.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  document.querySelectorAll("form[data-pending]").forEach((form) => {
    delete form.dataset.pending;
    form.querySelectorAll('button[aria-busy="true"]').forEach((button) => {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });
  syncConfirmations(document);
});

// A request made in the page (htmx) that fails: say so where screen readers hear it, instead of
// a list that silently stops changing. The next successful request clears it.
function requestError(text) {
  const region = document.getElementById("request-error");
  if (!region) return;
  region.textContent = text;
}
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  requestError(`Could not update this page (the server answered ${status}); reload it to retry.`);
});
document.addEventListener("htmx:sendError", () => {
  requestError("Could not reach Portal to update this page; check the connection, then reload.");
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful) requestError("");
});

// A form whose 400 answer is the page with its errors next to the fields (data-swap-400, e.g.
// a search box): swap that answer in like a success instead of reporting a failed request.
document.addEventListener("htmx:beforeSwap", (event) => {
  const source = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (event.detail.xhr.status === 400 && source && source.closest("[data-swap-400]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
