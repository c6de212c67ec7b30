/* The operator console's small fixes to Django's admin widgets, loaded on every console page. */
"use strict";

(function () {
  // Django's autocomplete (select2) adds a search box without a label (axe: "label", critical):
  // give each one the accessible name of the field it searches.
  function labelSearchBoxes(root) {
    root.querySelectorAll(".select2-search__field:not([aria-label])").forEach(function (box) {
      var container = box.closest(".select2-container");
      var select = container && container.previousElementSibling;
      var label = select && select.id && document.querySelector('label[for="' + select.id + '"]');
      var name = label ? label.textContent.replace(/:\s*$/, "").trim() : "";
      box.setAttribute("aria-label", name ? "Search " + name : "Search");
    });
  }

  function start() {
    labelSearchBoxes(document);
    new MutationObserver(function () {
      labelSearchBoxes(document);
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
