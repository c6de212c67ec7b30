// The operator console's template editor: CodeMirror 6 with HCL highlighting, bundled by esbuild
// into static/vendor/console-editor.js (`make assets`). Exposes window.PortalEditor.
import { EditorView, basicSetup } from "codemirror";
import { EditorState, Prec } from "@codemirror/state";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags } from "@lezer/highlight";
import { hcl } from "codemirror-lang-hcl";
import { oneDark } from "@codemirror/theme-one-dark";
import { MergeView } from "@codemirror/merge";

// oneDark's comments (#7d8799 on #282c34) are below 4.5:1 contrast: a lighter grey wins.
const darkComments = Prec.highest(
  syntaxHighlighting(HighlightStyle.define([{ tag: tags.comment, color: "#a3abb9" }])),
);

window.PortalEditor = {
  EditorView, EditorState, basicSetup, hcl, oneDark, MergeView, darkComments,
};
