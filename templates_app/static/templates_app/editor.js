// The template editor: each file's textarea (the form without JavaScript) becomes a CodeMirror
// editor with HCL highlighting; the textarea stays in the form and gets the text back on every
// change, so saving posts what the editor shows. Dark console: the oneDark theme.
"use strict";

(() => {
  const lib = window.PortalEditor;
  if (!lib) return; // the bundle did not load: the textareas still work
  const { EditorView, basicSetup, hcl, oneDark } = lib;
  const dark = window.portalConsoleDark && window.portalConsoleDark();

  for (const area of document.querySelectorAll("textarea.portal-source")) {
    const host = document.createElement("div");
    host.className = "portal-code";
    area.after(host);
    const path = area.dataset.path || "";
    const extensions = [
      basicSetup,
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": `Contents of ${path}` }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) area.value = update.state.doc.toString();
      }),
    ];
    if (/\.(tf|hcl|tfvars)$/.test(path)) extensions.push(hcl());
    if (dark) extensions.push(oneDark);
    new EditorView({ doc: area.value, extensions, parent: host });
    area.classList.add("portal-hidden");
    // The label now names the editor: clicking it focuses the editor, not the hidden textarea.
    const label = document.querySelector(`label[for="${area.id}"]`);
    if (label) {
      label.addEventListener("click", (event) => {
        event.preventDefault();
        host.querySelector(".cm-content").focus();
      });
    }
  }
})();
