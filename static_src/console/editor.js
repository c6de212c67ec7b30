// The operator console's template editor: CodeMirror 6 with HCL highlighting, bundled by esbuild
// into static/vendor/console-editor.js (`make assets`). Exposes window.PortalEditor.
import { EditorView, basicSetup } from "codemirror";
import { EditorState } from "@codemirror/state";
import { hcl } from "codemirror-lang-hcl";
import { oneDark } from "@codemirror/theme-one-dark";
import { MergeView } from "@codemirror/merge";

window.PortalEditor = { EditorView, EditorState, basicSetup, hcl, oneDark, MergeView };
