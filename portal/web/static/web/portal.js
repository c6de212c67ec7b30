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
