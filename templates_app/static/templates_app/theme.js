// Whether the console shows its dark theme (Django admin's data-theme, or a theme's "dark" class);
// the authoring scripts give CodeMirror its oneDark theme then.
"use strict";

window.portalConsoleDark = () => {
  const root = document.documentElement;
  const theme = root.dataset.theme;
  if (theme === "dark" || root.classList.contains("dark")) return true;
  if (theme === "light") return false;
  return window.matchMedia("(prefers-color-scheme: dark)").matches;
};
