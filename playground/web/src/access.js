// The "My data access" panel: for a citizen's own token, who read data about them, when,
// for what purpose, on which grant or sharing request (Query.myDataAccess, a Relay
// connection). The query is built from the schema the gateway introspects, so the panel
// exists only where the gateway serves the field, asks only for fields the gateway has,
// and passes each argument with the type the gateway declares for it.

import { getNamedType, isLeafType } from "graphql";
import { el, showList, definitions } from "./result.js";

const $ = (id) => document.getElementById(id);

// The fields of a DataAccess node, in the order the panel shows them; others the schema
// adds are shown after these, by name.
const LABELS = {
  at: "When",
  consumer: "Who",
  consumerDescription: "Service",
  purpose: "Purpose",
  items: "Data",
  grantId: "Grant",
  sharingRequestId: "Sharing request",
};
const ARGS = ["first", "after", "from", "to"];
const PAGE = 20;

// fieldsOf is a composite type's fields by name, or {} for any other type.
const fieldsOf = (t) => (t && typeof t.getFields === "function" ? t.getFields() : {});

// selection selects every field of type that needs no argument: leaves as they are,
// objects with their own leaves (one level: items { code field owner decision }).
function selection(type, depth) {
  const out = [];
  for (const f of Object.values(fieldsOf(type))) {
    if (f.args.some((a) => a.type.toString().endsWith("!") && a.defaultValue === undefined)) continue;
    const inner = getNamedType(f.type);
    if (isLeafType(inner)) out.push(f.name);
    else if (depth > 0) {
      const sub = selection(inner, depth - 1);
      if (sub) out.push(`${f.name} { ${sub} }`);
    }
  }
  return out.join(" ");
}

// accessQuery is {text, nodes(data) → {list, pageInfo, totalCount}} for the schema's
// myDataAccess, or null when the schema has none or it is not a connection of nodes.
export function accessQuery(schema) {
  const field = schema && schema.getQueryType() && fieldsOf(schema.getQueryType()).myDataAccess;
  if (!field) return null;
  const conn = fieldsOf(getNamedType(field.type));
  let nodeType = null;
  let shape = "";
  if (conn.edges && fieldsOf(getNamedType(conn.edges.type)).node) {
    nodeType = getNamedType(fieldsOf(getNamedType(conn.edges.type)).node.type);
    shape = `edges { node { ${selection(nodeType, 1)} } }`;
  } else if (conn.nodes) {
    nodeType = getNamedType(conn.nodes.type);
    shape = `nodes { ${selection(nodeType, 1)} }`;
  }
  if (!nodeType || !Object.keys(fieldsOf(nodeType)).length) return null;
  if (conn.pageInfo) shape += " pageInfo { hasNextPage endCursor }";
  if (conn.totalCount) shape += " totalCount";
  const args = field.args.filter((a) => ARGS.includes(a.name));
  const vars = args.map((a) => `$${a.name}: ${a.type}`).join(", ");
  const pass = args.map((a) => `${a.name}: $${a.name}`).join(", ");
  return {
    args: new Set(args.map((a) => a.name)),
    text: `query MyDataAccess${vars ? `(${vars})` : ""} { myDataAccess${pass ? `(${pass})` : ""} { ${shape} } }`,
    read(data) {
      const c = data.myDataAccess;
      const list = c.edges ? c.edges.map((e) => e.node) : c.nodes || [];
      return { list, pageInfo: c.pageInfo || null, totalCount: c.totalCount };
    },
  };
}

const panel = {
  gql: null,
  query: null,
  shown: [],
  after: null,
};

// setupDataAccess wires the panel's form; gql(query, variables) posts to the gateway.
export function setupDataAccess(deps) {
  panel.gql = deps.gql;
  panel.closeIfOpen = deps.closeIfOpen;
  $("access-form").addEventListener("submit", (e) => { e.preventDefault(); load(false); });
  $("access-more").addEventListener("click", () => load(true));
}

// showDataAccess shows the panel's toggle when the caller is a citizen (a token with a
// citizen_id: me.citizen is set) and the schema has myDataAccess, and hides it otherwise.
export function showDataAccess({ schema, me }) {
  const q = me && me.citizen ? accessQuery(schema) : null;
  const toggle = document.querySelector('.side-toggle[data-panel="access"]');
  const changed = !q || !panel.query || q.text !== panel.query.text;
  panel.query = q;
  toggle.hidden = !q;
  if (changed) {
    panel.shown = [];
    panel.after = null;
    $("access-list").replaceChildren(el("p", "hint", "Who read data about you, when and why: choose a period, or none for all, and press Show."));
    $("access-more").hidden = true;
    $("access-status").textContent = "";
  }
  if (!q && panel.closeIfOpen) panel.closeIfOpen("access");
}

// dayBound turns a date input's value into the instant the period starts or ends, in
// the browser's time zone.
function dayBound(value, end) {
  if (!value) return null;
  const d = new Date(`${value}T00:00:00`);
  if (end) {
    d.setDate(d.getDate() + 1);
    d.setMilliseconds(-1);
  }
  return d.toISOString();
}

async function load(more) {
  const q = panel.query;
  const status = $("access-status");
  if (!q) return;
  const from = dayBound($("access-from").value, false);
  const to = dayBound($("access-to").value, true);
  if (from && to && from > to) {
    status.textContent = "The period ends before it starts.";
    return;
  }
  const vars = {};
  if (q.args.has("first")) vars.first = PAGE;
  if (q.args.has("after") && more && panel.after) vars.after = panel.after;
  if (q.args.has("from") && from) vars.from = from;
  if (q.args.has("to") && to) vars.to = to;
  status.textContent = "Loading…";
  const res = await panel.gql(q.text, vars).catch((e) => ({ body: { errors: [{ message: e.message }] } }));
  if (!res.body.data || !res.body.data.myDataAccess) {
    const e = (res.body.errors || [{}])[0];
    const code = e.extensions && e.extensions.code;
    status.textContent = `Not loaded: ${e.message || "no answer"}${code ? ` (${code})` : ""}`;
    return;
  }
  const page = q.read(res.body.data);
  panel.shown = more ? [...panel.shown, ...page.list] : page.list;
  panel.after = page.pageInfo && page.pageInfo.endCursor;
  $("access-more").hidden = !(page.pageInfo && page.pageInfo.hasNextPage);
  status.textContent = typeof page.totalCount === "number"
    ? `${page.totalCount} ${page.totalCount === 1 ? "access" : "accesses"}${panel.shown.length < page.totalCount ? `, ${panel.shown.length} shown` : ""}.`
    : `${panel.shown.length} shown.`;
  render();
}

function render() {
  showList($("access-list"), panel.shown.map(card), "Nobody else read data about you in this period.");
}

// decisionClass maps a decision (ALLOW, MASK, DENY or their past tense) to the badge
// colours of the result view.
function decisionClass(d) {
  const s = String(d || "").toLowerCase();
  if (s.startsWith("allow")) return "allowed";
  if (s.startsWith("mask")) return "masked";
  if (s.startsWith("den")) return "denied";
  return "error";
}

function card(a) {
  const c = el("article", "access-card");
  const when = a.at ? new Date(a.at).toLocaleString() : "";
  c.append(el("h3", "", [when, a.consumer].filter(Boolean).join(" · ")));
  const keys = [...Object.keys(LABELS), ...Object.keys(a).filter((k) => !(k in LABELS))];
  c.append(definitions(keys.filter((k) => k !== "at" && k !== "consumer").map((k) => {
    const v = a[k];
    return [LABELS[k] || k, Array.isArray(v) ? items(v) : v && typeof v === "object" ? JSON.stringify(v) : v];
  })));
  return c;
}

function items(list) {
  const ul = el("ul", "access-items");
  for (const it of list) {
    const li = el("li");
    if (it.decision) {
      const b = el("span", `badge b-${decisionClass(it.decision)}`);
      b.append(el("span", "b-status", decisionClass(it.decision)));
      if (it.code) b.append(el("span", "b-code", it.code));
      if (it.owner) b.append(el("span", "b-owner", it.owner));
      li.append(b, document.createTextNode(" "));
    }
    li.append(el("span", "", it.field || (!it.decision && it.code) || ""));
    ul.append(li);
  }
  return ul;
}
