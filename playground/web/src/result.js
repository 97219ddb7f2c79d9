// The result view: which governed field of a response was allowed, masked or denied,
// with its catalogue code and owner, rendered as annotated JSON.
//
// The gateway says what it masked (extensions.masked) and what it denied (errors with
// extensions.code FORBIDDEN_FIELD), each at a response path. Allowed values carry no
// marker, so their code comes from walking the query alongside the schema: the path's
// response keys (aliases included) lead to Type.field, which the catalogue maps to a code.
// The query is graphql-js's document AST and the schema a graphql-js GraphQLSchema.

import { Kind, getNamedType, isAbstractType, isObjectType, valueFromASTUntyped } from "graphql";

const key = (path) => path.join(".");

// annotate returns Map(path string → note) for a response. A note is
// {status: allowed|masked|denied|error, code, codes, owner, class, mask, field, requestable, message,
// subject}, where subject is whom the value is about (see subjectOf), when the page can tell.
// ctx: {schema, catalog: Map(Type.field → entry), op, fragments, variables}: op is the operation's
// OperationDefinition and fragments a Map(name → FragmentDefinition), both from
// graphql-js's parse. op may be null (unparseable query), in which case only the
// server's own markers are used.
export function annotate(response, ctx) {
  const notes = new Map();
  const byCode = new Map([...(ctx.catalog || new Map()).values()].map((e) => [e.code, e]));
  if (ctx.schema && ctx.op && response && response.data) {
    const root = ctx.schema.getRootType(ctx.op.operation);
    if (root) visit(response.data, [ctx.op.selectionSet], root.name, [], ctx, notes, null);
  }
  for (const m of (response && response.extensions && response.extensions.masked) || []) {
    const e = byCode.get(m.catalogCode) || {};
    const n = notes.get(key(m.path)) || {};
    notes.set(key(m.path), { ...n, status: "masked", code: m.catalogCode, owner: m.owner, mask: m.mask, class: e.class || n.class, field: e.field || n.field });
  }
  for (const err of (response && response.errors) || []) {
    if (!err.path) continue;
    const x = err.extensions || {};
    const n = notes.get(key(err.path)) || {};
    if (x.code === "FORBIDDEN_FIELD") {
      const codes = x.catalogCodes || (x.catalogCode ? [x.catalogCode] : []);
      const e = byCode.get(codes[0]) || {};
      notes.set(key(err.path), {
        ...n, status: "denied", code: codes[0], codes, owner: x.owner, class: x.class,
        requestable: !!x.requestable, message: err.message, field: n.field || e.field, mask: e.mask,
      });
    } else {
      notes.set(key(err.path), { ...n, status: "error", message: err.message, errorCode: x.code, department: x.department });
    }
  }
  return notes;
}

// visit notes the governed fields of value; subject is whom the field that produced
// value was asked about (its idNumber or creditCode argument), if anyone.
function visit(value, selectionSets, typeName, path, ctx, notes, subject) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => visit(v, selectionSets, typeName, [...path, i], ctx, notes, subject));
    return;
  }
  const concrete = concreteType(value, selectionSets, typeName, ctx);
  const fields = collect(selectionSets, concrete, ctx);
  const own = subjectOf(value, fields, ctx) || subject;
  for (const [k, v] of Object.entries(value)) {
    const f = fields.get(k);
    if (!f) continue;
    const def = fieldDef(ctx.schema, concrete, f.name);
    const p = [...path, k];
    const entry = ctx.catalog.get(`${concrete}.${f.name}`);
    if (entry) {
      notes.set(key(p), { status: "allowed", code: entry.code, codes: [entry.code], owner: entry.owner, class: entry.class, mask: entry.mask, field: entry.field, subject: own });
    }
    if (def && f.selectionSets.length) visit(v, f.selectionSets, getNamedType(def.type).name, p, ctx, notes, argSubject(f, ctx));
  }
}

// SUBJECT_KEYS are the fields and arguments that name a subject: a citizen's ID number,
// an enterprise's unified social credit code (the schema's key lookups).
const SUBJECT_KEYS = ["idNumber", "creditCode"];

// subjectOf is the subject an object names itself, when the query selected its key and
// the caller sees it unmasked (a masked key has * in it).
function subjectOf(value, fields, ctx) {
  for (const [k, f] of fields) {
    if (SUBJECT_KEYS.includes(f.name) && typeof value[k] === "string" && !value[k].includes("*")) return value[k];
  }
  return null;
}

// argSubject is the idNumber or creditCode argument a field was asked with, literal or
// variable; the object it returns is about that subject.
function argSubject(f, ctx) {
  for (const a of f.args) {
    if (!SUBJECT_KEYS.includes(a.name.value)) continue;
    const v = valueFromASTUntyped(a.value, ctx.variables || {});
    if (typeof v === "string" && v) return v;
  }
  return null;
}

// fieldDef is the definition of typeName.fieldName, or undefined (__typename included:
// it has no selections to follow).
function fieldDef(schema, typeName, fieldName) {
  const t = schema.getType(typeName);
  return t && typeof t.getFields === "function" ? t.getFields()[fieldName] : undefined;
}

// possible lists the object types a value of typeName may be.
export function possible(schema, typeName) {
  const t = schema.getType(typeName);
  if (isObjectType(t)) return [t.name];
  if (isAbstractType(t)) return schema.getPossibleTypes(t).map((x) => x.name);
  return [];
}

// concreteType is the object type of a value: __typename when selected, the type itself
// when it is an object type, otherwise the member of the union whose selections
// explain every key of the value.
function concreteType(value, selectionSets, typeName, ctx) {
  if (typeof value.__typename === "string") return value.__typename;
  const types = possible(ctx.schema, typeName);
  if (types.length <= 1) return types[0] || typeName;
  const keys = Object.keys(value);
  for (const p of types) {
    const fields = collect(selectionSets, p, ctx);
    if (keys.every((k) => fields.has(k) && (fields.get(k).name === "__typename" || fieldDef(ctx.schema, p, fields.get(k).name)))) return p;
  }
  return types[0];
}

// collect merges the selections that apply to typeName by response key, as execution does.
function collect(selectionSets, typeName, ctx, out = new Map(), seen = new Set()) {
  for (const ss of selectionSets) {
    for (const s of ss.selections) {
      if (s.kind === Kind.FIELD) {
        const k = (s.alias || s.name).value;
        const f = out.get(k) || { name: s.name.value, selectionSets: [], args: s.arguments || [] };
        if (s.selectionSet) f.selectionSets.push(s.selectionSet);
        out.set(k, f);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        if (!s.typeCondition || applies(s.typeCondition.name.value, typeName, ctx)) collect([s.selectionSet], typeName, ctx, out, seen);
      } else if (s.kind === Kind.FRAGMENT_SPREAD && !seen.has(s.name.value)) {
        const fr = ctx.fragments && ctx.fragments.get(s.name.value);
        seen.add(s.name.value);
        if (fr && applies(fr.typeCondition.name.value, typeName, ctx)) collect([fr.selectionSet], typeName, ctx, out, seen);
      }
    }
  }
  return out;
}

const applies = (cond, typeName, ctx) => cond === typeName || possible(ctx.schema, cond).includes(typeName);

// operationAt returns the operation of a parsed document whose text contains offset (or
// the first one), the fragments by name, and how many operations there are.
export function operationAt(doc, offset) {
  const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const fragments = new Map(doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const op = ops.find((o) => o.loc && offset >= o.loc.start && offset <= o.loc.end) || ops[0] || null;
  return { op, fragments, count: ops.length };
}

// summary counts the notes by status.
export function summary(notes) {
  const c = { allowed: 0, masked: 0, denied: 0, error: 0 };
  for (const n of notes.values()) c[n.status] = (c[n.status] || 0) + 1;
  return c;
}

const CLASS_WORDS = { UNCONDITIONAL: "unconditionally shared", CONDITIONAL: "conditionally shared", NONE: "not shared" };

// describe is the tooltip of a note: what the item is and why the caller sees it so.
export function describe(n) {
  const parts = [];
  if (n.field) parts.push(n.field);
  if (n.codes && n.codes.length > 1) parts.push(`codes ${n.codes.join(", ")}`);
  else if (n.code) parts.push(`code ${n.code}`);
  if (n.owner) parts.push(`owner ${n.owner}`);
  if (n.class) parts.push(CLASS_WORDS[n.class] || n.class);
  if (n.status === "masked") parts.push(`masked (${n.mask}): de-identified for this caller`);
  if (n.status === "allowed") parts.push("shown in full to this caller");
  if (n.status === "denied") parts.push(n.requestable ? "denied: a sharing request can open it" : "denied: the owner does not share it");
  if (n.message) parts.push(n.message);
  return parts.join(" · ");
}

// renderJSON renders a response's data as annotated JSON in DOM nodes (never HTML
// strings: the values are department data). actions.request(note) is called by the
// "Request sharing" buttons of denied fields, actions.report(note) by the "Report"
// buttons of the values the caller sees (a data-quality objection); actions may be null
// to show neither.
export function renderJSON(value, notes, actions) {
  const root = el("div", "json");
  root.append(node(value, [], notes, actions || {}, ""));
  return root;
}

function node(value, path, notes, actions, trailer) {
  if (value !== null && typeof value === "object") {
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
    const wrap = el("span", "group");
    if (!entries.length) {
      wrap.append(text(isArr ? "[]" : "{}"), text(trailer));
      return wrap;
    }
    wrap.append(text(isArr ? "[" : "{"));
    const body = el("div", "members");
    entries.forEach(([k, v], i) => {
      const p = [...path, k];
      const row = el("div", "member");
      if (!isArr) row.append(el("span", "key", JSON.stringify(k)), text(": "));
      const comma = i < entries.length - 1 ? "," : "";
      const note = notes.get(key(p));
      if (v !== null && typeof v === "object") {
        row.append(node(v, p, notes, actions, comma));
        if (note) row.append(badge(note, actions));
      } else {
        row.append(scalar(v, p, note), text(comma));
        if (note) row.append(badge(note, actions));
      }
      body.append(row);
    });
    wrap.append(body, text(isArr ? "]" : "}"), text(trailer));
    const note = notes.get(key(path));
    if (note && path.length) wrap.dataset.status = note.status;
    return wrap;
  }
  return scalar(value, path, notes.get(key(path)));
}

function scalar(v, path, note) {
  const kind = v === null ? "null" : typeof v;
  const s = el("span", `val v-${kind}`, JSON.stringify(v));
  s.dataset.path = key(path);
  if (note) {
    s.dataset.status = note.status;
    if (note.code) s.dataset.code = note.code;
    s.classList.add(`st-${note.status}`);
    s.title = describe(note);
  }
  return s;
}

function badge(n, actions) {
  const wrap = el("span", "note");
  const b = el("span", `badge b-${n.status}`);
  b.title = describe(n);
  b.append(el("span", "b-status", n.status));
  if (n.code) b.append(el("span", "b-code", n.codes && n.codes.length > 1 ? n.codes.join(" ") : n.code));
  if (n.owner) b.append(el("span", "b-owner", n.owner));
  if (n.status === "denied" && n.class) b.append(el("span", "b-class", CLASS_WORDS[n.class] || n.class));
  // the tooltip for keyboard and screen-reader users too
  b.setAttribute("aria-label", describe(n));
  b.tabIndex = 0;
  wrap.append(b);
  if (n.status === "denied" && n.requestable && actions.request) {
    const btn = el("button", "request", "Request sharing");
    btn.type = "button";
    btn.title = `File a sharing request with ${n.owner} for ${(n.codes || [n.code]).join(", ")}`;
    btn.addEventListener("click", () => actions.request(n));
    wrap.append(btn);
  }
  // A value the caller sees (in full or masked) can be objected to; its owner answers.
  if ((n.status === "allowed" || n.status === "masked") && n.code && actions.report) {
    const btn = el("button", "report", "Report");
    btn.type = "button";
    btn.title = `Report a data issue: tell ${n.owner} this value of ${n.code} is wrong`;
    btn.addEventListener("click", () => actions.report(n));
    wrap.append(btn);
  }
  return wrap;
}

// showList fills box with nodes, or with a hint paragraph when there are none.
export function showList(box, nodes, hint) {
  box.replaceChildren(...(nodes.length ? nodes : [el("p", "hint", hint)]));
}

// definitions is a <dl> of [term, value] rows, leaving out empty values; a value is
// text or a DOM node.
export function definitions(rows) {
  const dl = el("dl");
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    const dd = el("dd");
    dd.append(v instanceof Node ? v : String(v));
    dl.append(el("dt", "", k), dd);
  }
  return dl;
}

// el makes an element with a class and optional text.
export function el(tag, cls, txt) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (txt !== undefined) e.textContent = txt;
  return e;
}

const text = (s) => document.createTextNode(s);
