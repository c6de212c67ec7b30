// Comparing versions: each changed text file's unified diff (the page without JavaScript)
// becomes a side-by-side MergeView; the texts come from the page's json_script data.
"use strict";

(() => {
  const lib = window.PortalEditor;
  const data = document.getElementById("compare-data");
  if (!lib || !data) return;
  const { EditorView, EditorState, MergeView, basicSetup, hcl, oneDark } = lib;
  const dark = window.portalConsoleDark && window.portalConsoleDark();
  const files = JSON.parse(data.textContent);

  function side(doc, path, label) {
    const extensions = [
      basicSetup,
      EditorView.editable.of(false),
      EditorState.readOnly.of(true),
      EditorView.contentAttributes.of({ "aria-label": `${path}, ${label}` }),
    ];
    if (/\.(tf|hcl|tfvars)$/.test(path)) extensions.push(hcl());
    if (dark) extensions.push(oneDark);
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
    new MergeView({
      a: side(file.old, file.path, "before"),
      b: side(file.new, file.path, "after"),
      parent: host,
      collapseUnchanged: { margin: 3, minSize: 6 },
    });
    const unified = section.querySelector(".portal-unified");
    if (unified) unified.classList.add("portal-hidden");
  }
})();
