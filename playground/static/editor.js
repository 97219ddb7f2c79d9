// A small code editor: a real <textarea> (so typing, selection, undo, screen readers
// and the keyboard work as everywhere) over a highlighted <pre> that mirrors its text,
// with an optional completion list (a listbox bound to the textarea by ARIA).

import { walk } from "./graphql.js";

const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// Highlighters return HTML for the text; the caret marker lets the editor place the
// completion list at the caret without measuring fonts.
export function graphqlHighlighter(getSchema, getErrorOffset) {
  return (src) => {
    const w = walk(src, getSchema());
    const bad = getErrorOffset();
    return w.tokens.map((t, i) => {
      let cls = w.classes[i];
      if (bad !== null && bad >= t.start && bad < Math.max(t.end, t.start + 1) && t.kind !== "ws") cls += " tok-bad";
      return cls ? `<span class="${cls}">${esc(t.value)}</span>` : esc(t.value);
    });
  };
}

export function jsonHighlighter() {
  return (src) => {
    const out = [];
    const re = /("(?:[^"\\\n]|\\.)*"?)(\s*:)?|(-?\d[\d.eE+-]*)|\b(true|false|null)\b|([\s\S])/g;
    let m;
    while ((m = re.exec(src))) {
      if (m[1]) out.push(`<span class="${m[2] ? "tok-arg" : "tok-string"}">${esc(m[1])}</span>${m[2] ? esc(m[2]) : ""}`);
      else if (m[3]) out.push(`<span class="tok-number">${esc(m[3])}</span>`);
      else if (m[4]) out.push(`<span class="tok-keyword">${m[4]}</span>`);
      else out.push(esc(m[5]));
    }
    return out;
  };
}

let ids = 0;

export class Editor {
  // opts: {textarea, highlight(src) → [html], complete?(src, offset) → {items,start,end},
  //        onChange?(src), keys?: {"Ctrl-Enter": fn, ...}}
  constructor(opts) {
    this.ta = opts.textarea;
    this.highlight = opts.highlight;
    this.completer = opts.complete || null;
    this.onChange = opts.onChange || (() => {});
    this.keys = opts.keys || {};
    this.ta.spellcheck = false;
    this.ta.setAttribute("wrap", "off");
    this.ta.setAttribute("autocapitalize", "off");
    this.ta.setAttribute("autocomplete", "off");

    const box = document.createElement("div");
    box.className = "editor";
    this.ta.replaceWith(box);
    this.pre = document.createElement("pre");
    this.pre.className = "editor-hl";
    this.pre.setAttribute("aria-hidden", "true");
    this.code = document.createElement("code");
    this.pre.append(this.code);
    box.append(this.pre, this.ta);
    this.box = box;

    if (this.completer) {
      this.list = document.createElement("ul");
      this.list.className = "completions";
      this.list.id = `completions-${++ids}`;
      this.list.setAttribute("role", "listbox");
      this.list.setAttribute("aria-label", "Suggestions");
      this.list.hidden = true;
      box.append(this.list);
      this.ta.setAttribute("aria-autocomplete", "list");
      this.ta.setAttribute("aria-controls", this.list.id);
      this.ta.setAttribute("aria-expanded", "false");
      this.list.addEventListener("mousedown", (e) => {
        const li = e.target.closest("li");
        if (!li) return;
        e.preventDefault();
        this.accept(Number(li.dataset.index));
      });
    }
    this.tabReleased = false;
    this.ta.addEventListener("input", (e) => this.changed(e));
    this.ta.addEventListener("scroll", () => this.syncScroll());
    this.ta.addEventListener("keydown", (e) => this.keydown(e));
    this.ta.addEventListener("blur", () => this.close());
    this.ta.addEventListener("click", () => this.close());
    this.render();
  }

  get value() { return this.ta.value; }
  set value(v) {
    this.ta.value = v;
    this.onChange(v);
    this.render();
  }

  render() {
    const src = this.ta.value;
    // a trailing newline needs a character after it, or the pre is a line short
    this.code.innerHTML = this.highlight(src).join("") + "\n ";
    this.syncScroll();
  }

  syncScroll() {
    this.pre.scrollTop = this.ta.scrollTop;
    this.pre.scrollLeft = this.ta.scrollLeft;
  }

  changed(e) {
    // onChange first: it may update what the highlighter shows (the syntax error)
    this.onChange(this.ta.value);
    this.render();
    if (!this.completer) return;
    const typed = e && e.data;
    const pos = this.ta.selectionStart;
    const before = this.ta.value.slice(0, pos);
    if (typed && /^[_A-Za-z0-9$@(]$/.test(typed)) this.suggest(false);
    else if (/\bon\s$|\.\.\.\s?$/.test(before) && typed === " ") this.suggest(false);
    else this.close();
  }

  // replace puts text in place of [start, end) through the browser's editing commands,
  // so undo still works.
  replace(start, end, text) {
    this.ta.focus();
    this.ta.setSelectionRange(start, end);
    if (!document.execCommand || !document.execCommand("insertText", false, text)) {
      this.ta.setRangeText(text, start, end, "end");
      this.onChange(this.ta.value);
      this.render();
    }
  }

  keydown(e) {
    const open = this.list && !this.list.hidden;
    const combo = (e.ctrlKey || e.metaKey ? "Ctrl-" : "") + (e.shiftKey ? "Shift-" : "") + e.key;
    if (open) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.move(e.key === "ArrowDown" ? 1 : -1);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        this.accept(this.active);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        this.close();
        return;
      }
    }
    if (combo === "Ctrl- " && this.completer) {
      e.preventDefault();
      this.suggest(true);
      return;
    }
    const bound = this.keys[combo] || this.keys[combo.replace(/[a-z]$/, (c) => c.toUpperCase())];
    if (bound) {
      e.preventDefault();
      bound();
      return;
    }
    if (e.key === "Escape") {
      // Escape, then Tab, leaves the editor: keyboard users are never trapped.
      this.tabReleased = true;
      return;
    }
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey) {
      if (this.tabReleased) {
        this.tabReleased = false;
        return;
      }
      e.preventDefault();
      this.replace(this.ta.selectionStart, this.ta.selectionEnd, "  ");
      return;
    }
    this.tabReleased = false;
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && !e.shiftKey && !e.altKey) {
      // keep the indentation, one level more after an opening bracket
      const pos = this.ta.selectionStart;
      const line = this.ta.value.slice(0, pos).split("\n").pop();
      let indent = line.match(/^\s*/)[0];
      if (/[{([]\s*$/.test(line)) indent += "  ";
      e.preventDefault();
      this.replace(pos, this.ta.selectionEnd, "\n" + indent);
    }
  }

  suggest(explicit) {
    const pos = this.ta.selectionStart;
    const r = this.completer(this.ta.value, pos);
    this.range = r;
    this.items = r.items;
    const prefix = this.ta.value.slice(r.start, pos);
    if (!r.items.length || (!explicit && r.items.length === 1 && r.items[0].insert === prefix)) {
      this.close();
      return;
    }
    this.list.replaceChildren(...r.items.slice(0, 50).map((it, i) => {
      const li = document.createElement("li");
      li.id = `${this.list.id}-${i}`;
      li.dataset.index = i;
      li.setAttribute("role", "option");
      const label = document.createElement("span");
      label.className = `c-label c-${it.kind}`;
      label.textContent = it.label;
      const detail = document.createElement("span");
      detail.className = "c-detail";
      detail.textContent = it.detail;
      li.append(label, detail);
      if (it.doc) li.title = it.doc;
      return li;
    }));
    this.list.hidden = false;
    this.ta.setAttribute("aria-expanded", "true");
    this.active = 0;
    this.move(0);
    this.place();
  }

  // place moves the list under the caret, measured with a marker in the mirror.
  place() {
    const pos = this.ta.selectionStart;
    const src = this.ta.value;
    const mirror = this.highlight(src.slice(0, pos)).join("");
    this.code.innerHTML = mirror + '<span class="caret-mark">\u200b</span>' + this.highlight(src.slice(pos)).join("") + "\n ";
    const mark = this.code.querySelector(".caret-mark");
    const top = mark.offsetTop - this.ta.scrollTop + mark.offsetHeight + 2;
    const left = Math.max(0, mark.offsetLeft - this.ta.scrollLeft);
    this.list.style.top = `${top}px`;
    this.list.style.left = `${Math.min(left, Math.max(0, this.box.clientWidth - 260))}px`;
    this.render();
  }

  move(d) {
    const n = Math.min(this.items.length, 50);
    this.active = (this.active + d + n) % n;
    [...this.list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
    const cur = this.list.children[this.active];
    if (cur) {
      this.ta.setAttribute("aria-activedescendant", cur.id);
      cur.scrollIntoView({ block: "nearest" });
    }
  }

  accept(i) {
    const it = this.items && this.items[i];
    this.close();
    if (!it) return;
    this.replace(this.range.start, this.ta.selectionStart, it.insert);
  }

  close() {
    if (!this.list || this.list.hidden) return;
    this.list.hidden = true;
    this.ta.setAttribute("aria-expanded", "false");
    this.ta.removeAttribute("aria-activedescendant");
  }

  focus() { this.ta.focus(); }
}
