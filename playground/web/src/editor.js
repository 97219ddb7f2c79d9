// The playground's editors: CodeMirror 6 with cm6-graphql for the query (highlighting,
// completion and validation from the schema, through graphql-language-service) and a
// hover card from graphql-language-service's getHoverInformation, plus JSON editors for
// the variables and the headers.

import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine, hoverTooltip } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, HighlightStyle, bracketMatching, indentOnInput } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";
import { autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { linter, lintKeymap, forEachDiagnostic } from "@codemirror/lint";
import { json, jsonParseLinter } from "@codemirror/lang-json";
import { graphql, updateSchema, getSchema, offsetToPos, schemaStateField } from "cm6-graphql";
import { parse } from "graphql";
import { getHoverInformation, getTokenAtPosition, getTypeInfo } from "graphql-language-service";

// styleNonce is the page's CSP nonce for <style> elements: CodeMirror writes its
// styles into one, which the gateway's Content-Security-Policy allows only with the
// nonce the page was served with (docs/playground.md).
const styleNonce = (document.querySelector('meta[name="style-nonce"]') || {}).content || "";

// highlight colours the tokens cm6-graphql and the JSON grammar tag, in the colours the
// docs and the result view use for the same things; defaultHighlightStyle covers the rest.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.definitionKeyword, t.bool, t.null], color: "#a0119b" },
  { tag: t.propertyName, color: "#1f5fbf" },
  { tag: t.attributeName, color: "#8a3ffc" },
  { tag: t.variableName, color: "#c2185b" },
  { tag: t.atom, color: "#b35c00" },
  { tag: t.special(t.name), color: "#7a4d00" },
  { tag: t.modifier, color: "#6b3fa0" },
  { tag: t.string, color: "#1d7a3a" },
  { tag: [t.integer, t.float, t.number], color: "#2a5d8f" },
  { tag: t.lineComment, color: "#7a8794", fontStyle: "italic" },
  { tag: [t.punctuation, t.paren, t.brace, t.separator], color: "#4a5563" },
]);

// Editor is one CodeMirror view in place of a host element, with the small API the
// page needs: value, cursor, focus, and the problems the linter found.
export class Editor {
  // opts: {host, language: "graphql"|"json", label (the id of the element naming it),
  //        describedBy?, onChange?(src), onProblems?(problems), keys?: {"Ctrl-Enter": fn, ...},
  //        hoverExtra?(schema, typeName, fieldName) → Node|null, onShowInDocs?(field, type, parentType)}
  constructor(opts) {
    this.onChange = opts.onChange || (() => {});
    this.onProblems = opts.onProblems || null;
    const keys = Object.entries(opts.keys || {}).map(([key, fn]) => ({ key, run: () => { fn(); return true; }, preventDefault: true }));
    const attrs = { "aria-labelledby": opts.label, "aria-multiline": "true" };
    if (opts.describedBy) attrs["aria-describedby"] = opts.describedBy;
    const language = opts.language === "graphql"
      ? [graphql(undefined, { onShowInDocs: opts.onShowInDocs }), syntaxWithoutSchema, hoverTooltip(hoverInfo(opts.hoverExtra))]
      : [json(), linter(jsonParseLinter())];
    const extensions = [
      EditorView.cspNonce.of(styleNonce),
      lineNumbers(),
      history(),
      drawSelection(),
      highlightActiveLine(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      syntaxHighlighting(highlight),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      autocompletion({ icons: false }),
      // The page's own keys come first: Ctrl-Enter runs instead of inserting a line.
      keymap.of([...keys, ...closeBracketsKeymap, ...completionKeymap, ...lintKeymap, ...historyKeymap, ...defaultKeymap, indentWithTab]),
      EditorView.contentAttributes.of(attrs),
      EditorView.lineWrapping,
      language,
      EditorView.updateListener.of((u) => {
        if (u.docChanged) this.onChange(u.state.doc.toString());
        if (this.onProblems) this.reportProblems(u.state);
      }),
    ];
    this.view = new EditorView({ state: EditorState.create({ doc: "", extensions }), parent: opts.host });
    this.lastProblems = "";
  }

  get value() {
    return this.view.state.doc.toString();
  }

  set value(src) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: src } });
  }

  // cursor is the offset of the main selection's head.
  get cursor() {
    return this.view.state.selection.main.head;
  }

  focus() {
    this.view.focus();
  }

  // setSchema hands a graphql-js GraphQLSchema (or undefined) to completion, validation
  // and hover.
  setSchema(schema) {
    updateSchema(this.view, schema || undefined);
  }

  // reportProblems tells onProblems the linter's findings when they change, as
  // [{line, column, message, severity}], so they can be read out as well as seen.
  reportProblems(state) {
    const out = [];
    forEachDiagnostic(state, (d, from) => {
      const line = state.doc.lineAt(from);
      out.push({ line: line.number, column: from - line.from + 1, message: d.message, severity: d.severity });
    });
    const key = JSON.stringify(out);
    if (key === this.lastProblems) return;
    this.lastProblems = key;
    this.onProblems(out);
  }
}

// syntaxWithoutSchema checks the query's syntax with graphql-js while there is no
// schema (a gateway with introspection off): cm6-graphql checks nothing without one,
// and checks syntax itself once there is.
const syntaxWithoutSchema = linter((view) => {
  const src = view.state.doc.toString();
  if (getSchema(view.state) || !src.trim()) return [];
  try {
    parse(src);
    return [];
  } catch (e) {
    const at = e.locations && e.locations[0];
    const from = at ? Math.min(view.state.doc.line(at.line).from + at.column - 1, src.length) : 0;
    return [{ from, to: Math.min(from + 1, src.length), severity: "error", message: e.message }];
  }
}, { needsRefresh: (u) => u.startState.field(schemaStateField) !== u.state.field(schemaStateField) });

// hoverInfo shows what graphql-language-service knows of the token under the pointer
// (the field's or argument's type and description), and extra(schema, parentType, field)
// for a field: the page adds its catalogue entry there.
function hoverInfo(extra) {
  return (view, pos) => {
    const schema = getSchema(view.state);
    if (!schema) return null;
    const src = view.state.doc.toString();
    const word = view.state.wordAt(pos);
    if (!word) return null;
    // The language service reads the token under the cursor; at the word's end it
    // would read the next one.
    const cursor = offsetToPos(view.state.doc, Math.floor((word.from + word.to) / 2));
    const text = getHoverInformation(schema, src, cursor);
    if (!text) return null;
    return {
      pos: word.from,
      end: word.to,
      above: true,
      create() {
        const dom = document.createElement("div");
        dom.className = "hover-info";
        // Plain text: descriptions come from the schema and are not rendered as HTML.
        const pre = document.createElement("pre");
        pre.textContent = String(text);
        dom.append(pre);
        if (extra) {
          const info = getTypeInfo(schema, getTokenAtPosition(src, cursor).state);
          const more = info.parentType && info.fieldDef ? extra(schema, String(info.parentType), info.fieldDef.name) : null;
          if (more) dom.append(more);
        }
        return { dom };
      },
    };
  };
}
