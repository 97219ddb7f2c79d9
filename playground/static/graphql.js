// GraphQL language support for the playground: a lexer, a tolerant parser, a printer
// (prettify), and a walker that tells the editor what each token is and what may come
// at the cursor (highlighting and completion). Written for this page; no dependencies.

const PUNCT = new Set(["!", "$", "&", "(", ")", "...", ":", "=", "@", "[", "]", "{", "|", "}"]);
const KEYWORDS = new Set(["query", "mutation", "subscription", "fragment", "on", "true", "false", "null"]);

// lex splits source into tokens {kind, value, start, end}; kind is one of name, var,
// punct, string, number, comment, ws, error. Whitespace and commas are tokens too, so
// the highlighter can reproduce the text exactly.
export function lex(src) {
  const out = [];
  let i = 0;
  const push = (kind, start) => out.push({ kind, value: src.slice(start, i), start, end: i });
  while (i < src.length) {
    const start = i;
    const c = src[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "," || c === "\ufeff") {
      while (i < src.length && " \t\n\r,\ufeff".includes(src[i])) i++;
      push("ws", start);
    } else if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      push("comment", start);
    } else if (c === '"') {
      if (src.startsWith('"""', i)) {
        i += 3;
        while (i < src.length && !src.startsWith('"""', i)) i += src[i] === "\\" ? 2 : 1;
        i = Math.min(src.length, i + 3);
      } else {
        i++;
        while (i < src.length && src[i] !== '"' && src[i] !== "\n") i += src[i] === "\\" ? 2 : 1;
        if (src[i] === '"') i++;
      }
      push("string", start);
    } else if (c === "." && src.startsWith("...", i)) {
      i += 3;
      push("punct", start);
    } else if (PUNCT.has(c)) {
      i++;
      if (c === "$" && /[_A-Za-z]/.test(src[i] || "")) {
        while (i < src.length && /[_0-9A-Za-z]/.test(src[i])) i++;
        push("var", start);
      } else {
        push("punct", start);
      }
    } else if (/[_A-Za-z]/.test(c)) {
      while (i < src.length && /[_0-9A-Za-z]/.test(src[i])) i++;
      push("name", start);
    } else if (/[-0-9]/.test(c)) {
      i++;
      while (i < src.length && /[0-9.eE+-]/.test(src[i])) i++;
      push("number", start);
    } else {
      i++;
      push("error", start);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Parser: GraphQL executable documents into a small AST. Errors are thrown as
// SyntaxError with the offset, so the editor can say where.

export function parse(src) {
  const toks = lex(src).filter((t) => t.kind !== "ws" && t.kind !== "comment");
  let p = 0;
  const peek = (v) => toks[p] && (v === undefined || toks[p].value === v);
  const fail = (what) => {
    const t = toks[p];
    const err = new SyntaxError(`expected ${what}, found ${t ? `"${t.value}"` : "the end"}`);
    err.offset = t ? t.start : src.length;
    throw err;
  };
  const expect = (v) => (peek(v) ? toks[p++] : fail(`"${v}"`));
  const name = () => (toks[p] && toks[p].kind === "name" ? toks[p++].value : fail("a name"));

  function value(isConst) {
    const t = toks[p];
    if (!t) fail("a value");
    if (t.kind === "var" && !isConst) { p++; return { kind: "Variable", name: t.value.slice(1) }; }
    if (t.kind === "number") { p++; return { kind: /[.eE]/.test(t.value) ? "Float" : "Int", value: t.value }; }
    if (t.kind === "string") { p++; return { kind: "String", raw: t.value }; }
    if (t.kind === "name") {
      p++;
      if (t.value === "true" || t.value === "false") return { kind: "Boolean", value: t.value };
      if (t.value === "null") return { kind: "Null" };
      return { kind: "Enum", value: t.value };
    }
    if (t.value === "[") {
      p++;
      const values = [];
      while (!peek("]")) values.push(value(isConst));
      expect("]");
      return { kind: "List", values };
    }
    if (t.value === "{") {
      p++;
      const fields = [];
      while (!peek("}")) {
        const n = name();
        expect(":");
        fields.push({ name: n, value: value(isConst) });
      }
      expect("}");
      return { kind: "Object", fields };
    }
    return fail("a value");
  }

  function args() {
    const out = [];
    if (!peek("(")) return out;
    p++;
    while (!peek(")")) {
      const n = name();
      expect(":");
      out.push({ name: n, value: value(false) });
    }
    expect(")");
    return out;
  }

  function directives() {
    const out = [];
    while (peek("@")) {
      p++;
      out.push({ name: name(), arguments: args() });
    }
    return out;
  }

  function typeRef() {
    let t;
    if (peek("[")) {
      p++;
      t = { kind: "List", type: typeRef() };
      expect("]");
    } else {
      t = { kind: "Named", name: name() };
    }
    if (peek("!")) { p++; t = { kind: "NonNull", type: t }; }
    return t;
  }

  function selectionSet() {
    const start = toks[p] ? toks[p].start : src.length;
    expect("{");
    const selections = [];
    while (!peek("}")) {
      if (!toks[p]) fail('"}"');
      if (peek("...")) {
        p++;
        if (peek("on")) {
          p++;
          selections.push({ kind: "InlineFragment", typeCondition: name(), directives: directives(), selectionSet: selectionSet() });
        } else if (peek("{") || peek("@")) {
          selections.push({ kind: "InlineFragment", typeCondition: null, directives: directives(), selectionSet: selectionSet() });
        } else {
          selections.push({ kind: "FragmentSpread", name: name(), directives: directives() });
        }
        continue;
      }
      let alias = null;
      let n = name();
      if (peek(":")) { p++; alias = n; n = name(); }
      const field = { kind: "Field", alias, name: n, arguments: args(), directives: directives(), selectionSet: null };
      if (peek("{")) field.selectionSet = selectionSet();
      selections.push(field);
    }
    const end = toks[p].end;
    expect("}");
    return { selections, start, end };
  }

  const definitions = [];
  while (p < toks.length) {
    const start = toks[p].start;
    if (peek("{")) {
      const ss = selectionSet();
      definitions.push({ kind: "Operation", operation: "query", name: null, variables: [], directives: [], selectionSet: ss, start, end: ss.end });
    } else if (peek("query") || peek("mutation") || peek("subscription")) {
      const operation = toks[p++].value;
      const op = { kind: "Operation", operation, name: null, variables: [], directives: [], start };
      if (toks[p] && toks[p].kind === "name") op.name = name();
      if (peek("(")) {
        p++;
        while (!peek(")")) {
          const v = toks[p];
          if (!v || v.kind !== "var") fail("a variable");
          p++;
          expect(":");
          const def = { name: v.value.slice(1), type: typeRef(), defaultValue: null };
          if (peek("=")) { p++; def.defaultValue = value(true); }
          op.variables.push(def);
        }
        expect(")");
      }
      op.directives = directives();
      op.selectionSet = selectionSet();
      op.end = op.selectionSet.end;
      definitions.push(op);
    } else if (peek("fragment")) {
      p++;
      const n = name();
      expect("on");
      const typeCondition = name();
      const dirs = directives();
      const ss = selectionSet();
      definitions.push({ kind: "Fragment", name: n, typeCondition, directives: dirs, selectionSet: ss, start, end: ss.end });
    } else {
      fail('"query", "mutation", "fragment" or "{"');
    }
  }
  return { definitions };
}

// ---------------------------------------------------------------------------------
// Printer: the canonical layout, two spaces per level. Comments are not kept (as in
// GraphiQL's prettify).

function printValue(v) {
  switch (v.kind) {
    case "Variable": return "$" + v.name;
    case "String": return v.raw;
    case "Null": return "null";
    case "List": return "[" + v.values.map(printValue).join(", ") + "]";
    case "Object": return "{" + v.fields.map((f) => `${f.name}: ${printValue(f.value)}`).join(", ") + "}";
    default: return v.value;
  }
}

function printType(t) {
  if (t.kind === "NonNull") return printType(t.type) + "!";
  if (t.kind === "List") return "[" + printType(t.type) + "]";
  return t.name;
}

const printArgs = (as) => (as.length ? "(" + as.map((a) => `${a.name}: ${printValue(a.value)}`).join(", ") + ")" : "");
const printDirs = (ds) => ds.map((d) => ` @${d.name}${printArgs(d.arguments)}`).join("");

function printSelections(ss, indent) {
  const pad = "  ".repeat(indent + 1);
  const lines = ss.selections.map((s) => {
    if (s.kind === "FragmentSpread") return `${pad}...${s.name}${printDirs(s.directives)}`;
    if (s.kind === "InlineFragment") {
      const on = s.typeCondition ? ` on ${s.typeCondition}` : "";
      return `${pad}...${on}${printDirs(s.directives)} ${printSelections(s.selectionSet, indent + 1)}`;
    }
    const head = `${pad}${s.alias ? s.alias + ": " : ""}${s.name}${printArgs(s.arguments)}${printDirs(s.directives)}`;
    return s.selectionSet ? `${head} ${printSelections(s.selectionSet, indent + 1)}` : head;
  });
  return "{\n" + lines.join("\n") + "\n" + "  ".repeat(indent) + "}";
}

export function print(doc) {
  return doc.definitions.map((d) => {
    if (d.kind === "Fragment") {
      return `fragment ${d.name} on ${d.typeCondition}${printDirs(d.directives)} ${printSelections(d.selectionSet, 0)}`;
    }
    const vars = d.variables.length
      ? "(" + d.variables.map((v) => `$${v.name}: ${printType(v.type)}${v.defaultValue ? " = " + printValue(v.defaultValue) : ""}`).join(", ") + ")"
      : "";
    if (!d.name && !vars && !d.directives.length && d.operation === "query") return printSelections(d.selectionSet, 0);
    return `${d.operation}${d.name ? " " + d.name : ""}${vars}${printDirs(d.directives)} ${printSelections(d.selectionSet, 0)}`;
  }).join("\n\n") + "\n";
}

// prettify reformats src, or throws its SyntaxError.
export const prettify = (src) => print(parse(src));

// ---------------------------------------------------------------------------------
// Schema helpers over an introspection result.

export const INTROSPECTION = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }`;

// Schema wraps an introspection __schema with lookups.
export class Schema {
  constructor(s) {
    this.raw = s;
    this.types = new Map(s.types.map((t) => [t.name, t]));
    this.queryType = s.queryType && s.queryType.name;
    this.mutationType = s.mutationType && s.mutationType.name;
    this.directives = s.directives || [];
  }
  type(name) { return this.types.get(name); }
  // field returns the field definition of typeName, including __typename.
  field(typeName, fieldName) {
    if (fieldName === "__typename") return { name: "__typename", args: [], type: { kind: "NON_NULL", ofType: { kind: "SCALAR", name: "String" } }, description: "The name of the object's type." };
    const t = this.type(typeName);
    if (!t) return null;
    if (t.fields) return t.fields.find((f) => f.name === fieldName) || null;
    return null;
  }
  // fieldsOf lists what may be selected on a type; for a union, the fields its members share.
  fieldsOf(typeName) {
    const t = this.type(typeName);
    if (!t) return [];
    if (t.fields) return t.fields;
    return [];
  }
  possible(typeName) {
    const t = this.type(typeName);
    if (!t) return [];
    if (t.kind === "OBJECT") return [t.name];
    return (t.possibleTypes || []).map((x) => x.name);
  }
}

// named unwraps NON_NULL and LIST down to the named type's name.
export function named(ref) {
  while (ref && !ref.name) ref = ref.ofType;
  return ref ? ref.name : null;
}

// typeString renders a type reference as in SDL: [Citizen!]!
export function typeString(ref) {
  if (!ref) return "";
  if (ref.kind === "NON_NULL") return typeString(ref.ofType) + "!";
  if (ref.kind === "LIST") return "[" + typeString(ref.ofType) + "]";
  return ref.name;
}

// ---------------------------------------------------------------------------------
// Walker: one pass over the tokens that classifies each one for highlighting and
// records what the parser expects at every offset, for completion. It is tolerant:
// half-typed queries are the normal case in an editor.

// walk returns {classes: Map(tokenIndex → css class), contextAt(offset)}.
export function walk(src, schema) {
  const toks = lex(src);
  const classes = new Array(toks.length).fill("");
  // A stack of scopes; each is {kind, type}. kinds: doc, selection, args, value, vars, object.
  const stack = [{ kind: "doc" }];
  const top = () => stack[stack.length - 1];
  // contexts[i] is the context in force after token i (for completion at its end).
  const contexts = [];
  let pendingField = null; // field def awaiting ( or {
  let pendingType = null; // type for a selection set that follows
  let expect = "definition"; // what the next name means in the current scope
  let opType = null;

  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    const s = top();
    if (t.kind === "ws" || t.kind === "comment") {
      classes[i] = t.kind === "comment" ? "tok-comment" : "";
      contexts.push(snapshot());
      continue;
    }
    if (t.kind === "string") classes[i] = "tok-string";
    else if (t.kind === "number") classes[i] = "tok-number";
    else if (t.kind === "var") classes[i] = "tok-var";
    else if (t.kind === "punct") classes[i] = "tok-punct";
    else if (t.kind === "error") classes[i] = "tok-error";

    if (s.kind === "doc") {
      if (t.kind === "name") {
        if (expect === "definition" && ["query", "mutation", "subscription"].includes(t.value)) {
          classes[i] = "tok-keyword";
          opType = t.value === "mutation" ? schema && schema.mutationType : schema && schema.queryType;
          expect = "opname";
        } else if (expect === "definition" && t.value === "fragment") {
          classes[i] = "tok-keyword";
          expect = "fragname";
        } else if (expect === "opname") {
          classes[i] = "tok-def";
          expect = "opbody";
        } else if (expect === "fragname") {
          classes[i] = "tok-def";
          expect = "on";
        } else if (expect === "on" && t.value === "on") {
          classes[i] = "tok-keyword";
          expect = "fragtype";
        } else if (expect === "fragtype") {
          classes[i] = "tok-type";
          opType = t.value;
          expect = "opbody";
        } else {
          classes[i] = "tok-error";
        }
      } else if (t.value === "(" && (expect === "opname" || expect === "opbody")) {
        stack.push({ kind: "vars", expect: "var" });
      } else if (t.value === "{") {
        const type = expect === "definition" ? schema && schema.queryType : opType;
        stack.push({ kind: "selection", type, expect: "field" });
        expect = "definition";
      } else if (t.value === "@") {
        // directive on the operation: its name follows
      }
    } else if (s.kind === "vars") {
      if (t.kind === "var") s.expect = "colon";
      else if (t.value === ":") s.expect = "type";
      else if (t.kind === "name" && s.expect === "type") { classes[i] = "tok-type"; s.expect = "after"; }
      else if (t.value === "=") s.expect = "default";
      else if (t.kind === "name" && s.expect === "default") { classes[i] = "tok-keyword"; }
      else if (t.value === ")") { stack.pop(); expect = "opbody"; }
    } else if (s.kind === "selection") {
      if (t.kind === "name") {
        if (s.expect === "on") {
          if (t.value === "on") { classes[i] = "tok-keyword"; s.expect = "fragtype"; } else { classes[i] = "tok-def"; s.expect = "field"; }
        } else if (s.expect === "fragtype") {
          classes[i] = "tok-type";
          pendingType = t.value;
          s.expect = "field";
        } else if (s.expect === "directive") {
          classes[i] = "tok-directive";
          s.expect = "field";
          pendingField = { name: t.value, directive: true, args: directiveArgs(schema, t.value) };
        } else {
          // a field, or an alias when a colon follows
          const next = nextSignificant(toks, i);
          if (next && next.value === ":") {
            classes[i] = "tok-alias";
          } else {
            const f = schema && s.type ? fieldIn(schema, s.type, t.value) : null;
            classes[i] = f || !schema ? "tok-field" : "tok-field tok-unknown";
            pendingField = f;
            pendingType = f ? named(f.type) : null;
          }
        }
      } else if (t.value === "...") {
        s.expect = "on";
        pendingField = null;
        pendingType = null;
      } else if (t.value === "@") {
        s.expect = "directive";
      } else if (t.value === "(" && pendingField) {
        stack.push({ kind: "args", field: pendingField, expect: "arg" });
      } else if (t.value === "{") {
        stack.push({ kind: "selection", type: pendingType, expect: "field" });
        pendingField = null;
        pendingType = null;
      } else if (t.value === "}") {
        stack.pop();
        if (top().kind === "doc") { expect = "definition"; opType = null; }
        pendingField = null;
        pendingType = null;
        if (top().kind === "selection") top().expect = "field";
      }
    } else if (s.kind === "args" || s.kind === "object") {
      if (t.kind === "name" && s.expect === "arg") {
        classes[i] = "tok-arg";
        s.current = t.value;
        s.expect = "colon";
      } else if (t.value === ":") {
        s.expect = "value";
      } else if (s.expect === "value" || s.expect === "list") {
        const argType = valueTypeOf(schema, { kind: s.kind, field: s.field, type: s.type, current: s.current });
        if (t.kind === "name") {
          classes[i] = ["true", "false", "null"].includes(t.value) ? "tok-keyword" : "tok-enum";
        }
        if (t.value === "$") {
          // a variable is being typed: its name follows
        } else if (t.value === "[") {
          s.expect = "list";
        } else if (t.value === "]") {
          s.expect = "arg";
        } else if (t.value === "{") {
          stack.push({ kind: "object", type: named(argType), expect: "arg" });
        } else if (s.expect !== "list") {
          s.expect = "arg";
        }
      } else if (t.value === ")" && s.kind === "args") {
        stack.pop();
        pendingField = null;
      } else if (t.value === "}" && s.kind === "object") {
        stack.pop();
        const up = top();
        if (up.expect !== "list") up.expect = "arg";
      }
    }
    contexts.push(snapshot());
  }

  function snapshot() {
    const s = top();
    return { kind: s.kind, type: s.type, field: s.field, expect: s.kind === "doc" ? expect : s.expect, current: s.current };
  }

  // contextAt says what belongs at offset: {kind, prefix, start, ...}.
  function contextAt(offset) {
    let idx = -1;
    for (let i = 0; i < toks.length; i++) {
      if (toks[i].start >= offset) break;
      idx = i;
    }
    const tok = idx >= 0 ? toks[idx] : null;
    let prefix = "";
    let start = offset;
    let ctxIdx = idx;
    // completing inside a name (or a $variable): the context is the one before it
    if (tok && (tok.kind === "name" || tok.kind === "var" || tok.value === "$") && tok.end >= offset) {
      prefix = src.slice(tok.start, offset);
      start = tok.start;
      ctxIdx = idx - 1;
    }
    if (tok && (tok.kind === "string" || tok.kind === "comment") && tok.end >= offset && !(tok.kind === "string" && tok.end === offset && tok.value.length > 1 && tok.value.endsWith('"'))) {
      return { kind: "none" };
    }
    const c = ctxIdx >= 0 ? contexts[ctxIdx] : { kind: "doc", expect: "definition" };
    return { ...c, prefix, start, end: offset };
  }

  return { tokens: toks, classes, contextAt };
}

function nextSignificant(toks, i) {
  for (let j = i + 1; j < toks.length; j++) if (toks[j].kind !== "ws" && toks[j].kind !== "comment") return toks[j];
  return null;
}

function fieldIn(schema, typeName, name) {
  const f = schema.field(typeName, name);
  if (f) return f;
  // a union: the field is on some member (inside an inline fragment, usually)
  for (const p of schema.possible(typeName)) {
    const g = schema.field(p, name);
    if (g) return g;
  }
  return null;
}

function directiveArgs(schema, name) {
  const d = schema && schema.directives.find((x) => x.name === name);
  return d ? d.args : [];
}

function valueTypeOf(schema, scope) {
  if (!schema) return null;
  if (scope.kind === "args") {
    const a = (scope.field.args || []).find((x) => x.name === scope.current);
    return a ? a.type : null;
  }
  const t = schema.type(scope.type);
  const f = t && (t.inputFields || []).find((x) => x.name === scope.current);
  return f ? f.type : null;
}

// complete lists suggestions {label, detail, insert, kind} for the cursor offset.
export function complete(src, offset, schema) {
  if (!schema) return { items: [], start: offset, end: offset };
  const w = walk(src, schema);
  const c = w.contextAt(offset);
  const items = [];
  const add = (label, detail, kind, doc, insert) => items.push({ label, detail, kind, doc: doc || "", insert: insert || label });
  const prefix = (c.prefix || "").toLowerCase();
  if (c.kind === "doc" && (c.expect === "definition")) {
    ["query", "mutation", "fragment"].forEach((k) => add(k, "keyword", "keyword"));
    add("{", "anonymous query", "keyword");
  } else if (c.kind === "doc" && c.expect === "fragtype") {
    for (const t of schema.types.values()) if (!t.name.startsWith("__") && ["OBJECT", "UNION", "INTERFACE"].includes(t.kind)) add(t.name, t.kind.toLowerCase(), "type", t.description);
  } else if (c.kind === "selection") {
    if (c.expect === "fragtype" || c.expect === "on") {
      if (c.expect === "on") add("on", "keyword", "keyword");
      for (const p of schema.possible(c.type)) add(p, "type", "type", (schema.type(p) || {}).description);
    } else if (c.expect === "directive") {
      for (const d of schema.directives) if ((d.locations || []).includes("FIELD")) add(d.name, "directive", "directive", d.description);
    } else {
      const seen = new Set();
      const names = c.type ? [c.type, ...schema.possible(c.type)] : [];
      for (const n of names) {
        for (const f of schema.fieldsOf(n)) {
          if (seen.has(f.name)) continue;
          seen.add(f.name);
          add(f.name, typeString(f.type), "field", f.description);
        }
      }
      if (c.type) add("__typename", "String!", "field", "The name of the object's type.");
      const t = schema.type(c.type);
      if (t && t.kind !== "OBJECT") add("... on", "inline fragment", "keyword", "", "... on ");
    }
  } else if ((c.kind === "args" || c.kind === "object") && c.expect === "arg") {
    const list = c.kind === "args" ? (c.field && c.field.args) || [] : ((schema.type(c.type) || {}).inputFields || []);
    for (const a of list) add(a.name, typeString(a.type), "argument", a.description, a.name + ": ");
  } else if ((c.kind === "args" || c.kind === "object") && (c.expect === "value" || c.expect === "list")) {
    const ref = valueTypeOf(schema, c);
    const t = ref && schema.type(named(ref));
    if (t && t.kind === "ENUM") for (const v of t.enumValues) add(v.name, t.name, "enum", v.description);
    if (t && t.name === "Boolean") ["true", "false"].forEach((v) => add(v, "Boolean", "keyword"));
    // variables declared by the operation
    for (const m of src.matchAll(/\$([_A-Za-z][_0-9A-Za-z]*)\s*:/g)) add("$" + m[1], "variable", "variable");
  } else if (c.kind === "vars" && c.expect === "type") {
    for (const t of schema.types.values()) if (!t.name.startsWith("__") && ["SCALAR", "ENUM", "INPUT_OBJECT"].includes(t.kind)) add(t.name, t.kind.toLowerCase().replace("_", " "), "type", t.description);
  }
  const seen = new Set();
  const filtered = items.filter((it) => {
    if (seen.has(it.label)) return false;
    seen.add(it.label);
    return it.label.toLowerCase().startsWith(prefix);
  });
  // exact prefix matches first, then alphabetical within kinds
  return { items: filtered, start: c.start ?? offset, end: c.end ?? offset, context: c };
}

// operationAt returns the operation definition whose text contains offset (or the
// only/first operation), and the fragments by name.
export function operationAt(doc, offset) {
  const ops = doc.definitions.filter((d) => d.kind === "Operation");
  const fragments = new Map(doc.definitions.filter((d) => d.kind === "Fragment").map((d) => [d.name, d]));
  let op = ops.find((o) => offset >= o.start && offset <= o.end) || ops[0] || null;
  return { op, fragments, count: ops.length };
}
