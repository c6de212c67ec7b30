// Comparing versions: each changed text file's unified diff (the page without JavaScript)
// becomes a side-by-side MergeView; the texts come from the page's json_script data.
// Each MergeView lives in a shadow root, as the editor's do (editor.js says why).
"use strict";

(() => {
  const lib = window.PortalEditor;
  const data = document.getElementById("compare-data");
  if (!lib || !data) return;
  const { EditorView, EditorState, MergeView, basicSetup, hcl, oneDark, darkComments } = lib;
  const dark = window.portalConsoleDark && window.portalConsoleDark();
  const files = JSON.parse(data.textContent);
  // The default light active-line tint leaves some token colours below 4.5:1 contrast (axe).
  const plain = EditorView.theme({ ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: "transparent" } });

  function side(doc, path, label) {
    const extensions = [
      basicSetup,
      // Read-only but focusable: the keyboard can scroll it and select text (axe).
      EditorState.readOnly.of(true),
      // Wrapped, so a narrow screen needs no sideways scroller (one without focus, says axe).
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": `${path}, ${label}` }),
    ];
    if (/\.(tf|hcl|tfvars)$/.test(path)) extensions.push(hcl());
    extensions.push(...(dark ? [oneDark, darkComments] : [plain]));
    return { doc, extensions };
  }

  for (const file of files) {
    const section = [...document.querySelectorAll("section.portal-diff")].find(
      (s) => s.dataset.path === file.path,
    );
    if (!section) continue;
    const host = document.createElement("div");
    host.className = "portal-merge";
    section.append(host);
    // In a shadow root CodeMirror's styles are constructed stylesheets (allowed by the CSP).
    const root = host.attachShadow({ mode: "open" });
    new MergeView({
      a: side(file.old, file.path, "before"),
      b: side(file.new, file.path, "after"),
      parent: root,
      root,
      collapseUnchanged: { margin: 3, minSize: 6 },
    });
    const unified = section.querySelector(".portal-unified");
    if (unified) unified.classList.add("portal-hidden");
  }
})();
