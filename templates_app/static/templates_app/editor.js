// The template editor: each file's textarea (the form without JavaScript) becomes a CodeMirror
// editor with HCL highlighting; the textarea stays in the form and gets the text back on every
// change, so saving posts what the editor shows. Dark console: the oneDark theme.
// Each editor lives in a shadow root: there CodeMirror's styles are constructed stylesheets,
// which the console's CSP (style-src 'self') allows; in the document it would add <style> tags.
"use strict";

(() => {
  const lib = window.PortalEditor;
  if (!lib) return; // the bundle did not load: the textareas still work
  const { EditorView, basicSetup, hcl, oneDark, darkComments } = lib;
  const dark = window.portalConsoleDark && window.portalConsoleDark();
  const size = EditorView.theme({ "&": { maxHeight: "36rem" }, ".cm-scroller": { overflow: "auto" } });
  // The default light active-line tint leaves some token colours below 4.5:1 contrast (axe).
  const plain = EditorView.theme({
    ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: "transparent" },
    ".cm-gutters": { color: "#4b5563", backgroundColor: "#f3f4f6" },
    ".cm-gutterElement": { color: "#4b5563" },
  });
  // oneDark's line numbers (#7d8799 on #282c34) are below 4.5:1 as well.
  const darkGutters = EditorView.theme(
    { ".cm-gutters, .cm-gutterElement": { color: "#aab2bf" } },
    { dark: true },
  );

  for (const area of document.querySelectorAll("textarea.portal-source")) {
    const host = document.createElement("div");
    host.className = "portal-code";
    area.after(host);
    const root = host.attachShadow({ mode: "open" });
    const path = area.dataset.path || "";
    const extensions = [
      basicSetup,
      size,
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": `Contents of ${path}` }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) area.value = update.state.doc.toString();
      }),
    ];
    if (/\.(tf|hcl|tfvars)$/.test(path)) extensions.push(hcl());
    extensions.push(...(dark ? [oneDark, darkGutters, darkComments] : [plain]));
    const view = new EditorView({ doc: area.value, extensions, parent: root, root });
    // Keyboard users can scroll a long file without entering it (axe: scrollable-region-focusable).
    view.scrollDOM.tabIndex = 0;
    view.scrollDOM.setAttribute("aria-label", `Scroll ${path}`);
    area.classList.add("portal-hidden");
    // The label now names the editor: clicking it focuses the editor, not the hidden textarea.
    const label = document.querySelector(`label[for="${area.id}"]`);
    if (label) {
      label.addEventListener("click", (event) => {
        event.preventDefault();
        view.focus();
      });
    }
  }
})();
