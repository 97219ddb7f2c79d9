// The playground page: wires the editors, the identity (demo picker or pasted token),
// the schema and catalogue, the annotated result, the docs, history, sharing requests
// and the side-by-side comparison. Every request goes to this page's own origin.
// GraphQL itself is graphql-js: parse, print, the introspection query and the client
// schema built from its answer (see docs/playground.md).

import {
  parse, print, getIntrospectionQuery, buildClientSchema, getNamedType, astFromValue,
  isObjectType, isInterfaceType, isUnionType, isEnumType, isInputObjectType, isScalarType, isAbstractType,
} from "graphql";
import { Editor } from "./editor.js";
import { annotate, renderJSON, summary, operationAt, el, showList, definitions } from "./result.js";
import { setupDataAccess, showDataAccess } from "./access.js";
import { verify as verifySeal, tamper } from "./seal.js";

const $ = (id) => document.getElementById(id);
const STORE = "pudong-playground:";

const DEFAULT_QUERY = `# Ctrl-Enter runs, Ctrl-Space suggests, Shift-Ctrl-P prettifies.
# Each governed field is marked allowed, masked or denied, with its catalogue code.
query Citizen($id: ID!) {
  citizen(idNumber: $id) {
    name
    idNumber
    gender
    birthDate
    phone
    enterprises {
      name
      status
    }
  }
}
`;

const CATALOG_QUERY = `query Catalog { catalog { code field owner class mask ttl description access requestable } }`;
// citizen is non-null for a self-service token (one with a citizen_id); its __typename
// costs no department call.
const ME_QUERY = `query Me { me { consumer subject department purpose roles citizen { __typename } } }`;
// The introspection query follows type references four levels down ([Citizen!]! needs
// three), so it is nested 10 deep: the gateway's default depth limit (docs/operators.md,
// `depth`). introspect asks again with less when a gateway allows less.
const INTROSPECTION_BASE_DEPTH = 6;
const introspectionQuery = (typeDepth) => getIntrospectionQuery({ typeDepth });

async function introspect() {
  const first = await gql(introspectionQuery(4));
  const tooDeep = (first.body.errors || []).find((e) => e.extensions && e.extensions.code === "QUERY_TOO_DEEP");
  const limit = tooDeep && tooDeep.extensions.limit;
  if (!limit || limit - INTROSPECTION_BASE_DEPTH < 1 || limit - INTROSPECTION_BASE_DEPTH >= 4) return first;
  return gql(introspectionQuery(limit - INTROSPECTION_BASE_DEPTH));
}
const REQUEST_MUTATION = `mutation RequestSharing($input: SharingRequestInput!) {
  requestSharing(input: $input) { id requester department codes purpose justification status createdAt deadline }
}`;
const ISSUE_MUTATION = `mutation ReportDataIssue($input: DataIssueInput!) {
  reportDataIssue(input: $input) { id kind code field department subject status deadline }
}`;
// SEAL_KEYS_PATH is where the gateway publishes its seal public key (docs/sealed-answers.md).
const SEAL_KEYS_PATH = "/seal/keys";
const REQUESTS_QUERY = `query SharingRequests { sharingRequests { id requester department codes purpose justification status createdAt deadline decidedAt reason } }`;

const state = {
  config: { demo: false, endpoint: "/graphql", consumers: [] },
  schema: null,
  catalog: new Map(), // Type.field → entry
  catalogList: [],
  me: null,
  response: null,
  notes: new Map(),
  requests: [],
  docsPath: [],
};

// ---------------------------------------------------------------------------------
// HTTP

function headersFromEditor() {
  const text = headers.value.trim();
  if (!text) return {};
  const h = JSON.parse(text);
  if (typeof h !== "object" || Array.isArray(h) || h === null) throw new Error("Headers must be a JSON object");
  return h;
}

// REQUEST_TIMEOUT_MS bounds every request the page makes: the gateway answers well
// within it (each department call has its own timeout, docs/operators.md), so a
// request still open after it is one that will not be answered.
const REQUEST_TIMEOUT_MS = 60000;

// post sends JSON to the gateway with the page's deadline, and says so when it passes.
async function post(url, headers, body) {
  try {
    return await fetch(url, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (e) {
    if (e.name === "TimeoutError") throw new Error(`no answer from the gateway within ${REQUEST_TIMEOUT_MS / 1000} s`);
    throw e;
  }
}

// gql posts one GraphQL request to the gateway; extra headers override the editor's.
// opts.seal asks for a sealed answer (the request extension: browsers may not send the
// seal header across origins, docs/sealed-answers.md).
async function gql(query, variables, opts = {}) {
  const h = { ...(opts.headers || headersFromEditor()), Accept: "application/graphql-response+json, application/json" };
  const res = await post(state.config.endpoint, h, {
    query, variables: variables || undefined, operationName: opts.operationName || undefined,
    extensions: opts.seal ? { seal: true } : undefined,
  });
  let body;
  const text = await res.text();
  try {
    body = JSON.parse(text);
  } catch {
    body = { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 300)}` }] };
  }
  return { status: res.status, body };
}

async function mint(consumer, citizenId) {
  const res = await post(state.config.tokenPath, {}, { consumer, citizenId: citizenId || "" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body.token;
}

// ---------------------------------------------------------------------------------
// Editors

let query, variables, headers;

function setStatus(msg, kind = "") {
  const s = $("editor-status");
  s.textContent = msg;
  s.className = `status ${kind}`;
}

// problemText is the linter's first finding in words, for the status line.
function problemText(problems) {
  if (!problems.length) return "";
  const p = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  return `${p.message} (line ${p.line}, column ${p.column})${more}`;
}

function setupEditors() {
  const keys = { "Ctrl-Enter": run, "Ctrl-Shift-p": doPrettify, "Ctrl-Shift-P": doPrettify };
  query = new Editor({
    host: $("query"),
    language: "graphql",
    label: "query-label",
    describedBy: "editor-status",
    onChange: (src) => localStorage.setItem(STORE + "query", src),
    onProblems: (problems) => setStatus(problemText(problems), problems.some((p) => p.severity === "error") ? "warn" : ""),
    hoverExtra: (schema, typeName, fieldName) => {
      const entry = state.catalog.get(`${typeName}.${fieldName}`);
      return entry ? catalogChip(entry) : null;
    },
    // Ctrl-click (Cmd-click on a Mac) on a field opens it in the docs; on anything else,
    // its type. The types come as SDL strings: [Citizen!]!.
    onShowInDocs: (field, type, parentType) => {
      const name = (parentType && field ? parentType : type || "").replace(/[[\]!]/g, "");
      if (!state.schema || !state.schema.getType(name)) return;
      openSide("docs");
      showType(name);
      const item = field && $(`doc-${name}-${field}`);
      if (item) {
        item.scrollIntoView({ block: "center" });
        item.classList.add("doc-target");
      }
    },
    keys,
  });
  variables = new Editor({
    host: $("variables"),
    language: "json",
    label: "variables-label",
    onChange: (src) => localStorage.setItem(STORE + "variables", src),
    keys,
  });
  headers = new Editor({
    host: $("headers"),
    language: "json",
    label: "headers-label",
    onChange: (src) => {
      sessionStorage.setItem(STORE + "headers", src);
      if (!state.config.demo) scheduleSchemaReload();
    },
    keys,
  });
  const q = localStorage.getItem(STORE + "query");
  query.value = q && q.trim() ? q : DEFAULT_QUERY;
  variables.value = localStorage.getItem(STORE + "variables") || JSON.stringify({ id: state.config.defaultCitizen || "310115198503120012" }, null, 2);
  headers.value = sessionStorage.getItem(STORE + "headers") || (state.config.demo ? "{}" : '{\n  "Authorization": "Bearer "\n}');
}

// syntaxMessage is a graphql-js GraphQLError in words, with where it is.
function syntaxMessage(e) {
  const at = e.locations && e.locations[0];
  return at ? `${e.message} (line ${at.line}, column ${at.column})` : e.message;
}

function doPrettify() {
  try {
    // graphql-js's printer drops comments; undo (Ctrl-Z) brings them back.
    query.value = print(parse(query.value)) + "\n";
    setStatus("Prettified.");
  } catch (e) {
    setStatus(`Cannot prettify: ${syntaxMessage(e)}`, "error");
  }
  try {
    const v = variables.value.trim();
    if (v) variables.value = JSON.stringify(JSON.parse(v), null, 2);
  } catch { /* the run will say what is wrong with the variables */ }
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
  };
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => select(t));
    t.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      select(next);
      next.focus();
    });
  });
  return select;
}

// ---------------------------------------------------------------------------------
// Identity

function setAuthorization(token) {
  let h = {};
  try { h = headersFromEditor(); } catch { /* replaced below */ }
  for (const k of Object.keys(h)) if (k.toLowerCase() === "authorization") delete h[k];
  h.Authorization = `Bearer ${token}`;
  headers.value = JSON.stringify(h, null, 2);
}

function setupPicker() {
  const sel = $("consumer");
  for (const c of state.config.consumers) {
    const o = new Option(c.name, c.name);
    o.title = c.description;
    sel.append(o);
  }
  const saved = localStorage.getItem(STORE + "consumer");
  const names = state.config.consumers.map((c) => c.name);
  sel.value = names.includes(saved) ? saved : names.includes("playground") ? "playground" : names[0] || "";
  $("citizen").value = localStorage.getItem(STORE + "citizen") || state.config.defaultCitizen || "";
  const describeConsumer = () => {
    const c = state.config.consumers.find((x) => x.name === sel.value);
    $("citizen-wrap").hidden = !(c && c.selfService);
    $("consumer-desc").textContent = c ? `${c.description} — purpose ${c.purpose}` : "";
  };
  sel.addEventListener("change", () => { describeConsumer(); useConsumer(); });
  $("identity").addEventListener("submit", (e) => { e.preventDefault(); useConsumer(); });
  describeConsumer();
}

async function useConsumer() {
  const name = $("consumer").value;
  const c = state.config.consumers.find((x) => x.name === name);
  if (!c) return;
  const citizen = $("citizen").value.trim();
  if (c.selfService && !validCitizenID(citizen)) {
    say(`${c.name} tokens carry the citizen's ID number: enter a valid 18-character ID (GB 11643).`, "error");
    $("citizen").focus();
    return;
  }
  localStorage.setItem(STORE + "consumer", name);
  if (c.selfService) localStorage.setItem(STORE + "citizen", citizen);
  say(`Getting a token for ${name}…`);
  try {
    setAuthorization(await mint(name, c.selfService ? citizen : ""));
  } catch (e) {
    say(`No token for ${name}: ${e.message}`, "error");
    return;
  }
  await loadIdentityAndSchema();
}

// validCitizenID checks the GB 11643 check digit, as the gateway will.
function validCitizenID(id) {
  if (!/^\d{17}[\dX]$/i.test(id)) return false;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = w.reduce((s, x, i) => s + x * Number(id[i]), 0);
  return "10X98765432"[sum % 11] === id[17].toUpperCase();
}

function say(msg, kind = "") {
  const w = $("whoami");
  w.textContent = msg;
  w.className = `whoami ${kind}`;
}

let reloadTimer = null;
function scheduleSchemaReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadIdentityAndSchema, 700);
}

let lastAuth = null;
async function loadIdentityAndSchema() {
  let h;
  try { h = headersFromEditor(); } catch { return; }
  const auth = Object.entries(h).find(([k]) => k.toLowerCase() === "authorization");
  if (!auth || !/^Bearer \S{10,}/.test(auth[1])) {
    say(state.config.demo ? "Pick a consumer." : "No token yet: paste one into Headers to load the schema.");
    return;
  }
  if (auth[1] === lastAuth && state.schema) return;
  lastAuth = auth[1];
  const [me, intro, cat] = await Promise.all([gql(ME_QUERY), introspect(), gql(CATALOG_QUERY)]).catch((e) => [{ body: { errors: [{ message: e.message }] } }]);
  if (!me.body.data) {
    state.me = null;
    say(`The gateway refused the token: ${(me.body.errors || [{}])[0].message}`, "error");
    return;
  }
  state.me = me.body.data.me;
  const m = state.me;
  say(`Calling as ${m.consumer}${m.department ? ` (${m.department})` : ""}, purpose ${m.purpose || "none"}${m.roles.length ? `, roles ${m.roles.join(", ")}` : ""}.`, "ok");
  state.schema = null;
  if (intro && intro.body.data) {
    try {
      state.schema = buildClientSchema(intro.body.data);
    } catch (e) {
      setStatus(`No schema: the introspection answer is not a schema (${e.message}). Completion and docs are off.`, "warn");
    }
  } else {
    setStatus(`No schema: ${intro ? (intro.body.errors || [{}])[0].message : "introspection failed"}. Completion and docs are off.`, "warn");
  }
  if (cat && cat.body.data) {
    state.catalogList = cat.body.data.catalog;
    state.catalog = new Map(state.catalogList.map((e) => [e.field, e]));
  }
  query.setSchema(state.schema);
  renderDocs();
  showDataAccess({ schema: state.schema, me: state.me });
  document.body.dataset.ready = "true";
}

// ---------------------------------------------------------------------------------
// Running

function readVariables() {
  const v = variables.value.trim();
  if (!v) return null;
  const parsed = JSON.parse(v);
  if (typeof parsed !== "object" || Array.isArray(parsed) || parsed === null) throw new Error("Variables must be a JSON object");
  return parsed;
}

// prepare reads the editors: {query, vars, op, fragments, operationName} or throws.
function prepare() {
  const src = query.value;
  let vars;
  try { vars = readVariables(); } catch (e) { throw new Error(`Variables: ${e.message}`); }
  try { headersFromEditor(); } catch (e) { throw new Error(`Headers: ${e.message}`); }
  let op = null;
  let fragments = new Map();
  let operationName;
  try {
    const doc = parse(src);
    const found = operationAt(doc, query.cursor);
    op = found.op;
    fragments = found.fragments;
    if (found.count > 1 && op) operationName = op.name ? op.name.value : undefined;
  } catch { /* the server explains syntax errors better than we do */ }
  return { src, vars, op, fragments, operationName };
}

async function run() {
  let p;
  try { p = prepare(); } catch (e) { setStatus(e.message, "error"); return; }
  closeCompare();
  const result = $("result");
  result.setAttribute("aria-busy", "true");
  const started = performance.now();
  let res;
  try {
    res = await gql(p.src, p.vars, { operationName: p.operationName, seal: $("seal").checked });
  } catch (e) {
    result.removeAttribute("aria-busy");
    result.replaceChildren(el("p", "error", `The request failed: ${e.message}`));
    return;
  }
  const ms = Math.round(performance.now() - started);
  state.response = res.body;
  state.notes = annotate(res.body, { schema: state.schema, catalog: state.catalog, op: p.op, fragments: p.fragments, variables: p.vars });
  addHistory(p.src, variables.value, p.operationName);
  if (p.op && p.op.operation === "mutation" && res.body.data && res.body.data.requestSharing) {
    addRequests(res.body.data.requestSharing);
  }
  state.http = { status: res.status, ms };
  showResult();
  result.removeAttribute("aria-busy");
}

function showResult() {
  const result = $("result");
  const body = state.response;
  if (!body) return;
  const { status, ms } = state.http;
  const parts = [];
  const counts = summary(state.notes);
  const head = el("p", "summary");
  head.append(el("span", "http", `HTTP ${status} · ${ms} ms`));
  for (const s of ["allowed", "masked", "denied", "error"]) {
    if (counts[s]) {
      const b = el("span", `badge b-${s}`);
      b.append(el("span", "b-status", `${counts[s]} ${s}`));
      head.append(b);
    }
  }
  parts.push(head);
  if (body.extensions && body.extensions.seal) parts.push(sealPanel(body));
  if ($("raw").checked) {
    parts.push(el("pre", "raw", JSON.stringify(body, null, 2)));
  } else {
    if ("data" in body) parts.push(renderJSON(body.data, state.notes, { request: openRequestDialog, report: openIssueDialog }));
    const other = (body.errors || []).filter((e) => !(e.extensions && e.extensions.code === "FORBIDDEN_FIELD"));
    if (other.length) {
      const box = el("div", "errors");
      box.append(el("h3", "", "Errors"));
      const ul = el("ul");
      for (const e of other) {
        const li = el("li");
        const code = e.extensions && e.extensions.code;
        if (code) li.append(el("code", "", code), document.createTextNode(" "));
        li.append(document.createTextNode(e.message));
        if (e.path) li.append(document.createTextNode(` (at ${e.path.join(".")})`));
        ul.append(li);
      }
      box.append(ul);
      parts.push(box);
    }
  }
  result.replaceChildren(...parts);
}

// ---------------------------------------------------------------------------------
// Sealed answers: verified here, with WebCrypto and the gateway's published key.

// sealKeys returns the gateway's seal JWK Set, fetched once (again when fresh is set:
// a seal that names an unknown key may follow a rotation).
async function sealKeys(fresh) {
  if (!state.sealKeys || fresh) {
    const res = await fetch(SEAL_KEYS_PATH, { cache: "no-store", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${SEAL_KEYS_PATH}`);
    state.sealKeys = await res.json();
  }
  return state.sealKeys;
}

async function checkSeal(answer) {
  let keys;
  try { keys = await sealKeys(false); } catch (e) { return { ok: false, reason: `the seal key could not be read: ${e.message}` }; }
  let v = await verifySeal(answer, keys);
  if (!v.ok && /does not publish/.test(v.reason)) v = await verifySeal(answer, await sealKeys(true).catch(() => keys));
  return v;
}

// sealPanel shows a sealed answer's seal: whether it verifies, what it attests, and the
// answer's text, which can be edited (or changed by one character) and verified again.
function sealPanel(body) {
  const box = el("section", "seal-panel");
  box.id = "seal-panel";
  box.setAttribute("aria-labelledby", "seal-title");
  const title = el("h3", "", "Seal");
  title.id = "seal-title";
  const verdict = el("p", "seal-verdict", "Verifying the seal…");
  verdict.id = "seal-verdict";
  verdict.setAttribute("role", "status");
  const details = el("div", "seal-details");
  const text = el("textarea", "seal-answer");
  text.id = "seal-answer";
  text.rows = 8;
  text.spellcheck = false;
  text.value = JSON.stringify(body, null, 2);
  text.setAttribute("aria-label", "The sealed answer as saved (edit it and verify again)");
  const again = el("button", "", "Verify this text");
  again.type = "button";
  again.id = "seal-verify";
  const change = el("button", "", "Change one character and verify");
  change.type = "button";
  change.id = "seal-tamper";
  // Saving puts the text, as it now is, in a file that `gateway seal verify` or any JWS
  // library checks later; a data: link keeps it inside the page (nothing is sent).
  const save = el("a", "button", "Save answer");
  save.id = "seal-save";
  save.download = `answer-${(body.extensions.seal.requestId || "sealed").replace(/[^A-Za-z0-9-]/g, "")}.json`;
  save.href = "#";
  save.addEventListener("click", () => { save.href = `data:application/json;charset=utf-8,${encodeURIComponent(text.value)}`; });
  const buttons = el("div", "buttons");
  buttons.append(again, change, save);
  box.append(title, verdict, details, text, buttons);

  const show = async (answer) => {
    verdict.textContent = "Verifying the seal…";
    delete verdict.dataset.valid;
    const v = await checkSeal(answer);
    verdict.dataset.valid = String(v.ok);
    verdict.className = `seal-verdict ${v.ok ? "ok" : "error"}`;
    if (!v.ok) {
      verdict.textContent = `${v.unsupported ? "Seal not checked" : "Seal INVALID"}: ${v.reason}.`;
      details.replaceChildren();
      return;
    }
    const a = v.attestation;
    verdict.textContent = `Seal OK: the gateway's seal key (${a.kid}) signed these ${v.values.length} values.`;
    const list = el("ul", "seal-values");
    list.id = "seal-values";
    for (const line of v.values) list.append(el("li", "", line));
    const more = el("details");
    more.append(el("summary", "", `Attested values (${v.values.length})`), list);
    details.replaceChildren(definitions([
      ["Request", a.requestId], ["Consumer", a.consumer], ["End user", a.endUser], ["Purpose", a.purpose],
      ["Sealed at", a.sealedAt], ["Audit chain", a.audit ? `seq ${a.audit.seq}, hash ${a.audit.hash}` : "no audited field"],
      ["Format", a.format],
    ]), more);
  };
  const fromText = () => {
    let answer;
    try { answer = JSON.parse(text.value); } catch (e) {
      verdict.textContent = `Seal INVALID: the text is not JSON (${e.message}).`;
      verdict.dataset.valid = "false";
      verdict.className = "seal-verdict error";
      details.replaceChildren();
      return;
    }
    show(answer);
  };
  again.addEventListener("click", fromText);
  change.addEventListener("click", () => {
    const changed = tamper(text.value);
    if (changed === text.value) { verdict.textContent = "The answer's data hold no value to change: edit the text instead."; return; }
    text.value = changed;
    fromText();
  });
  show(body);
  return box;
}

// ---------------------------------------------------------------------------------
// Data-quality objections: a value the caller sees, reported to its owner.

function openIssueDialog(note) {
  state.issueNote = note;
  $("issue-item").textContent = [note.code, note.field, note.owner].filter(Boolean).join(" · ");
  $("issue-subject").value = note.subject || "";
  $("issue-description").value = "";
  $("issue-suggested").value = "";
  $("issue-status").textContent = "";
  $("issue-status").className = "status";
  $("issue-submit").disabled = false;
  $("issue-dialog").showModal();
  (note.subject ? $("issue-description") : $("issue-subject")).focus();
}

async function submitIssue(e) {
  e.preventDefault();
  const note = state.issueNote;
  const status = $("issue-status");
  const subject = $("issue-subject").value.trim();
  const description = $("issue-description").value.trim();
  if (!subject) { status.textContent = "Say whom the value is about (an ID number or a credit code)."; $("issue-subject").focus(); return; }
  if (!description) { status.textContent = "Say what is wrong."; $("issue-description").focus(); return; }
  const input = { code: note.code, subject, description };
  const suggested = $("issue-suggested").value.trim();
  if (suggested) input.suggestedValue = suggested;
  status.textContent = "Filing…";
  const res = await gql(ISSUE_MUTATION, { input }).catch((err) => ({ body: { errors: [{ message: err.message }] } }));
  const issue = res.body.data && res.body.data.reportDataIssue;
  if (!issue) {
    const err = (res.body.errors || [{}])[0];
    const code = err.extensions && err.extensions.code;
    status.textContent = `Not filed: ${code ? `${code}: ` : ""}${err.message}`;
    status.className = "status error";
    return;
  }
  status.textContent = `Filed ${issue.id} (${issue.status}) with ${issue.department}` + (issue.deadline ? `, to be answered by ${issue.deadline.slice(0, 10)}` : "") + ". dataIssues shows its outcome.";
  status.className = "status ok";
  $("issue-submit").disabled = true;
}

// ---------------------------------------------------------------------------------
// Compare: the current query as every demo consumer, side by side.

async function compare() {
  let p;
  try { p = prepare(); } catch (e) { setStatus(e.message, "error"); return; }
  let base = {};
  try { base = headersFromEditor(); } catch { /* checked by prepare */ }
  for (const k of Object.keys(base)) if (k.toLowerCase() === "authorization") delete base[k];
  const citizen = ($("citizen") && $("citizen").value.trim()) || state.config.defaultCitizen;
  const grid = $("compare-grid");
  grid.replaceChildren();
  $("compare-view").hidden = false;
  grid.setAttribute("aria-busy", "true");
  const columns = state.config.consumers.map((c) => {
    const col = el("section", "compare-col");
    col.dataset.consumer = c.name;
    const h = el("h3", "", c.name);
    const sub = el("p", "hint", `${c.purpose}${c.selfService ? ` · as citizen ${citizen}` : ""}`);
    const body = el("div", "compare-body", "…");
    col.append(h, sub, body);
    col.setAttribute("aria-label", c.name);
    grid.append(col);
    return { c, body, col };
  });
  await Promise.all(columns.map(async ({ c, body, col }) => {
    try {
      const token = await mint(c.name, c.selfService ? citizen : "");
      const res = await gql(p.src, p.vars, { headers: { ...base, Authorization: `Bearer ${token}` }, operationName: p.operationName });
      const notes = annotate(res.body, { schema: state.schema, catalog: state.catalog, op: p.op, fragments: p.fragments, variables: p.vars });
      const counts = summary(notes);
      const line = el("p", "summary");
      for (const s of ["allowed", "masked", "denied", "error"]) {
        if (counts[s]) {
          const b = el("span", `badge b-${s}`);
          b.append(el("span", "b-status", `${counts[s]} ${s}`));
          line.append(b);
        }
      }
      const tree = "data" in res.body ? renderJSON(res.body.data, notes, null) : el("pre", "raw", JSON.stringify(res.body, null, 2));
      const others = (res.body.errors || []).filter((e) => !(e.extensions && e.extensions.code === "FORBIDDEN_FIELD"));
      body.replaceChildren(line, tree, ...others.map((e) => el("p", "error", e.message)));
    } catch (e) {
      body.replaceChildren(el("p", "error", e.message));
      col.classList.add("failed");
    }
  }));
  grid.removeAttribute("aria-busy");
}

function closeCompare() {
  $("compare-view").hidden = true;
}

// ---------------------------------------------------------------------------------
// Sharing requests

function openRequestDialog(note) {
  const dlg = $("request-dialog");
  const codesBox = $("request-codes");
  // offer every requestable denied item of this result, the clicked one ticked
  const all = new Map();
  for (const n of state.notes.values()) {
    if (n.status === "denied" && n.requestable) for (const c of n.codes || [n.code]) all.set(c, n);
  }
  const wanted = new Set(note.codes || [note.code]);
  codesBox.replaceChildren(...[...all].map(([code, n], i) => {
    const id = `req-code-${i}`;
    const row = el("div", "check");
    const box = el("input");
    box.type = "checkbox";
    box.id = id;
    box.value = code;
    box.checked = wanted.has(code);
    const lab = el("label", "", `${code} · ${n.owner}${n.field && (n.codes || []).length <= 1 ? ` · ${n.field}` : ""}`);
    lab.htmlFor = id;
    row.append(box, lab);
    return row;
  }));
  $("request-purpose").value = "";
  $("request-purpose").placeholder = (state.me && state.me.purpose) || "the token's purpose";
  $("request-status").textContent = "";
  dlg.showModal();
  $("request-justification").focus();
}

async function submitRequest(e) {
  e.preventDefault();
  const codes = [...$("request-codes").querySelectorAll("input:checked")].map((b) => b.value);
  const justification = $("request-justification").value.trim();
  const status = $("request-status");
  if (!codes.length) { status.textContent = "Tick at least one item."; return; }
  if (!justification) { status.textContent = "Say why the items are needed."; $("request-justification").focus(); return; }
  const input = { codes, justification };
  const purpose = $("request-purpose").value.trim();
  if (purpose) input.purpose = purpose;
  status.textContent = "Sending…";
  const res = await gql(REQUEST_MUTATION, { input }).catch((err) => ({ body: { errors: [{ message: err.message }] } }));
  if (!res.body.data || !res.body.data.requestSharing) {
    status.textContent = `Not filed: ${(res.body.errors || [{}])[0].message}`;
    return;
  }
  addRequests(res.body.data.requestSharing);
  $("request-dialog").close();
  $("request-justification").value = "";
  openSide("requests");
}

function addRequests(list) {
  const ids = new Set(list.map((r) => r.id));
  state.requests = [...list, ...state.requests.filter((r) => !ids.has(r.id))];
  renderRequests();
}

function renderRequests() {
  const when = (t) => t && new Date(t).toLocaleString();
  showList($("requests"), state.requests.map((r) => {
    const card = el("article", `request-card s-${r.status.toLowerCase()}`);
    card.dataset.id = r.id;
    card.append(el("h3", "", `${r.department} · ${r.status}`), definitions([
      ["Request", r.id],
      ["Codes", r.codes.join(", ")],
      ["Purpose", r.purpose],
      ["Justification", r.justification],
      ["Filed", when(r.createdAt)],
      ["Answer due", when(r.deadline)],
      ["Decided", when(r.decidedAt)],
      ["Reason", r.reason],
    ]));
    return card;
  }), "No sharing requests yet. A denied field that may be requested has a “Request sharing” button.");
}

async function loadRequests() {
  const res = await gql(REQUESTS_QUERY).catch((e) => ({ body: { errors: [{ message: e.message }] } }));
  if (!res.body.data) {
    $("requests").replaceChildren(el("p", "error", (res.body.errors || [{}])[0].message));
    return;
  }
  state.requests = res.body.data.sharingRequests;
  renderRequests();
}

// ---------------------------------------------------------------------------------
// History (localStorage; queries and variables only, never headers: they hold tokens)

function loadHistory() {
  try { return JSON.parse(localStorage.getItem(STORE + "history")) || []; } catch { return []; }
}

function addHistory(src, vars, operationName) {
  const h = loadHistory().filter((x) => !(x.query === src && x.variables === vars));
  h.unshift({ query: src, variables: vars, operationName: operationName || null, at: new Date().toISOString() });
  localStorage.setItem(STORE + "history", JSON.stringify(h.slice(0, 30)));
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  const h = loadHistory();
  if (!h.length) {
    list.replaceChildren(el("li", "hint", "Queries you run appear here."));
    return;
  }
  list.replaceChildren(...h.map((x) => {
    const li = el("li");
    const b = el("button", "history-item");
    b.type = "button";
    const title = x.operationName || firstLine(x.query);
    b.append(el("span", "h-title", title), el("span", "h-time", new Date(x.at).toLocaleString()));
    b.title = x.query;
    b.addEventListener("click", () => {
      query.value = x.query;
      variables.value = x.variables || "";
      query.focus();
    });
    li.append(b);
    return li;
  }));
}

function firstLine(src) {
  const line = src.split("\n").map((l) => l.trim()).find((l) => l && !l.startsWith("#")) || "(empty)";
  return line.length > 60 ? line.slice(0, 57) + "…" : line;
}

// ---------------------------------------------------------------------------------
// Docs explorer: types and fields with descriptions, and each governed field's
// catalogue entry and the caller's access to it (introspection does not show @share).

const ACCESS_CLASS = { ALLOW: "allowed", MASK: "masked", DENY: "denied" };
const CLASS_WORDS = { UNCONDITIONAL: "unconditionally shared", CONDITIONAL: "conditionally shared", NONE: "not shared" };

// typeLink links a graphql-js type, wrapped or not ([Citizen!]!), to its named type's page.
function typeLink(type) {
  const name = getNamedType(type).name;
  const a = el("a", "type-link", String(type));
  a.href = `#type/${name}`;
  a.addEventListener("click", (e) => { e.preventDefault(); showType(name); });
  return a;
}

function catalogChip(entry) {
  const b = el("span", `badge b-${ACCESS_CLASS[entry.access] || "allowed"}`);
  b.append(el("span", "b-status", (ACCESS_CLASS[entry.access] || entry.access).toString()), el("span", "b-code", entry.code), el("span", "b-owner", entry.owner));
  const t = `${entry.field} · code ${entry.code} · owner ${entry.owner} · ${entry.class}${entry.mask ? ` · mask ${entry.mask}` : ""} · your access ${entry.access}${entry.requestable ? " · requestable" : ""}`;
  b.title = t;
  b.setAttribute("aria-label", t);
  b.tabIndex = 0;
  return b;
}

function renderDocs() {
  state.docsPath = [];
  showDocsHome();
}

function docsNav(title, back) {
  const head = el("div", "docs-head");
  if (back) {
    const b = el("button", "back", "← Back");
    b.type = "button";
    b.addEventListener("click", back);
    head.append(b);
  }
  head.append(el("h3", "", title));
  return head;
}

function showDocsHome() {
  const docs = $("docs");
  if (!state.schema) {
    docs.replaceChildren(el("p", "hint", "The schema loads once the gateway accepts your token."));
    return;
  }
  const s = state.schema;
  const parts = [docsNav("Schema")];
  const roots = el("ul", "doc-list");
  for (const [label, type] of [["query", s.getQueryType()], ["mutation", s.getMutationType()]]) {
    if (!type) continue;
    const li = el("li");
    li.append(el("span", "kw", `${label}: `), typeLink(type));
    roots.append(li);
  }
  parts.push(roots);
  const catLink = el("a", "type-link", `Data catalogue (${state.catalogList.length} items)`);
  catLink.href = "#catalogue";
  catLink.addEventListener("click", (e) => { e.preventDefault(); showCatalog(); });
  parts.push(el("p", "", ""), catLink);
  parts.push(el("h4", "", "All types"));
  const all = el("ul", "doc-list");
  for (const t of schemaTypes(s).sort((a, b) => a.name.localeCompare(b.name))) {
    const li = el("li");
    li.append(typeLink(t), el("span", "hint", ` ${kindOf(t)}`));
    all.append(li);
  }
  parts.push(all);
  docs.replaceChildren(...parts);
}

// schemaTypes lists the schema's own named types, without the introspection types.
function schemaTypes(schema) {
  return Object.values(schema.getTypeMap()).filter((t) => !t.name.startsWith("__"));
}

// kindOf names a graphql-js named type's kind as the docs show it.
function kindOf(t) {
  if (isObjectType(t)) return "object";
  if (isInterfaceType(t)) return "interface";
  if (isUnionType(t)) return "union";
  if (isEnumType(t)) return "enum";
  if (isInputObjectType(t)) return "input object";
  if (isScalarType(t)) return "scalar";
  return "";
}

// fieldsOf lists a type's fields (object, interface, input object), or none.
const fieldsOf = (t) => (typeof t.getFields === "function" ? Object.values(t.getFields()) : []);

function showType(name, noPush) {
  const s = state.schema;
  const t = s && s.getType(name);
  if (!t) return;
  if (!noPush) state.docsPath.push(name);
  const back = () => {
    state.docsPath.pop();
    const prev = state.docsPath[state.docsPath.length - 1];
    if (prev) showType(prev, true); else showDocsHome();
  };
  const parts = [docsNav(t.name, back), el("p", "kind", kindOf(t))];
  if (t.description) parts.push(el("p", "desc", t.description));
  const fields = fieldsOf(t);
  if (fields.length) {
    parts.push(el("h4", "", isInputObjectType(t) ? "Input fields" : "Fields"));
    const ul = el("ul", "fields");
    for (const f of fields) ul.append(fieldItem(t.name, f));
    parts.push(ul);
  }
  if (isEnumType(t)) {
    parts.push(el("h4", "", "Values"));
    const ul = el("ul", "fields");
    for (const v of t.getValues()) {
      const li = el("li");
      li.append(el("code", "tok-enum", v.name));
      if (v.description) li.append(el("p", "desc", v.description));
      ul.append(li);
    }
    parts.push(ul);
  }
  if (isAbstractType(t)) {
    parts.push(el("h4", "", "Possible types"));
    const ul = el("ul", "doc-list");
    for (const p of s.getPossibleTypes(t)) { const li = el("li"); li.append(typeLink(p)); ul.append(li); }
    parts.push(ul);
  }
  $("docs").replaceChildren(...parts);
  $("docs").querySelector("h3").tabIndex = -1;
  $("docs").querySelector("h3").focus();
}

function fieldItem(typeName, f) {
  const li = el("li", "field");
  li.id = `doc-${typeName}-${f.name}`;
  const sig = el("div", "sig");
  sig.append(el("code", "tok-field", f.name));
  if (f.args && f.args.length) {
    sig.append(document.createTextNode("("));
    f.args.forEach((a, i) => {
      if (i) sig.append(document.createTextNode(", "));
      sig.append(el("code", "tok-arg", a.name), document.createTextNode(": "), typeLink(a.type));
      const dflt = a.defaultValue === undefined ? null : astFromValue(a.defaultValue, a.type);
      if (dflt) sig.append(document.createTextNode(` = ${print(dflt)}`));
    });
    sig.append(document.createTextNode(")"));
  }
  sig.append(document.createTextNode(": "), typeLink(f.type));
  li.append(sig);
  const entry = state.catalog.get(`${typeName}.${f.name}`);
  if (entry) {
    const cat = el("div", "catalog-line");
    cat.append(catalogChip(entry), el("span", "hint", ` ${CLASS_WORDS[entry.class] || entry.class}${entry.mask ? `, mask ${entry.mask}` : ""}, cached ${entry.ttl}s`));
    li.append(cat);
  }
  if (f.description) li.append(el("p", "desc", f.description));
  if (entry && entry.description && entry.description !== f.description) li.append(el("p", "desc", entry.description));
  for (const a of f.args || []) if (a.description) li.append(el("p", "desc arg-desc", `${a.name}: ${a.description}`));
  return li;
}

function showCatalog(filter = "") {
  state.docsPath.push("#catalogue");
  const back = () => { state.docsPath.pop(); showDocsHome(); };
  const table = el("table", "catalog");
  const cap = el("caption", "", "Each data item's code, owner, class and mask, and your access to it");
  const head = el("tr");
  for (const h of ["Code", "Field", "Owner", "Class", "Mask", "Your access"]) head.append(el("th", "", h));
  table.append(cap, el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const e of state.catalogList) {
    if (filter && !JSON.stringify(e).toLowerCase().includes(filter)) continue;
    const tr = el("tr");
    const fieldCell = el("td");
    const [tn] = e.field.split(".");
    const a = el("a", "type-link", e.field);
    a.href = `#type/${tn}`;
    a.addEventListener("click", (ev) => { ev.preventDefault(); showType(tn); });
    fieldCell.append(a);
    const acc = el("td");
    acc.append(catalogChip(e));
    tr.append(el("td", "code-cell", e.code), fieldCell, el("td", "", e.owner), el("td", "", e.class), el("td", "", e.mask || "—"), acc);
    table.tBodies[0].append(tr);
  }
  $("docs").replaceChildren(docsNav("Data catalogue", back), table);
}

function searchDocs(q) {
  q = q.trim().toLowerCase();
  if (!q) { showDocsHome(); return; }
  if (!state.schema) return;
  const hits = el("ul", "doc-list");
  for (const t of schemaTypes(state.schema)) {
    if (t.name.toLowerCase().includes(q)) { const li = el("li"); li.append(typeLink(t)); hits.append(li); }
    for (const f of fieldsOf(t)) {
      const entry = state.catalog.get(`${t.name}.${f.name}`);
      const hay = `${f.name} ${f.description || ""} ${entry ? entry.code + " " + entry.owner : ""}`.toLowerCase();
      if (!hay.includes(q)) continue;
      const li = el("li");
      const a = el("a", "type-link", `${t.name}.${f.name}`);
      a.href = `#type/${t.name}`;
      a.addEventListener("click", (e) => { e.preventDefault(); showType(t.name); });
      li.append(a);
      if (entry) li.append(document.createTextNode(" "), catalogChip(entry));
      hits.append(li);
    }
  }
  $("docs").replaceChildren(docsNav(`Search: ${q}`, () => { $("docs-search").value = ""; showDocsHome(); }), hits);
}

// ---------------------------------------------------------------------------------
// Side panel

function openSide(panel) {
  const side = $("side");
  const titles = { docs: "Docs", history: "History", requests: "Sharing requests", access: "My data access" };
  side.hidden = false;
  document.body.classList.add("with-side");
  for (const p of Object.keys(titles)) $(`panel-${p}`).hidden = p !== panel;
  $("side-title").textContent = titles[panel];
  for (const b of document.querySelectorAll(".side-toggle")) b.setAttribute("aria-expanded", String(b.dataset.panel === panel));
  side.dataset.panel = panel;
  if (panel === "history") renderHistory();
  if (panel === "requests") renderRequests();
}

function closeSide() {
  $("side").hidden = true;
  document.body.classList.remove("with-side");
  for (const b of document.querySelectorAll(".side-toggle")) b.setAttribute("aria-expanded", "false");
}

// ---------------------------------------------------------------------------------

async function main() {
  try {
    const res = await fetch("/playground/config.json", { cache: "no-store", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    state.config = await res.json();
  } catch (e) {
    say(`Could not read the playground configuration: ${e.message}`, "error");
  }
  setupEditors();
  setupTabs();
  $("run").addEventListener("click", run);
  $("prettify").addEventListener("click", doPrettify);
  $("raw").addEventListener("change", showResult);
  for (const b of document.querySelectorAll(".side-toggle")) {
    b.addEventListener("click", () => ($("side").hidden || $("side").dataset.panel !== b.dataset.panel ? openSide(b.dataset.panel) : closeSide()));
  }
  $("side-close").addEventListener("click", closeSide);
  $("history-clear").addEventListener("click", () => { localStorage.removeItem(STORE + "history"); renderHistory(); });
  $("requests-load").addEventListener("click", loadRequests);
  setupDataAccess({ gql, closeIfOpen: (panel) => { if (!$("side").hidden && $("side").dataset.panel === panel) closeSide(); } });
  $("docs-search").addEventListener("input", (e) => searchDocs(e.target.value));
  $("request-form").addEventListener("submit", submitRequest);
  $("request-cancel").addEventListener("click", () => $("request-dialog").close());
  $("issue-form").addEventListener("submit", submitIssue);
  $("issue-cancel").addEventListener("click", () => $("issue-dialog").close());
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && !e.defaultPrevented) { e.preventDefault(); run(); }
  });
  if (state.config.demo) {
    setupPicker();
    $("compare").addEventListener("click", compare);
    $("compare-close").addEventListener("click", closeCompare);
    await useConsumer();
  } else {
    await loadIdentityAndSchema();
  }
  showDocsHome();
  document.body.dataset.loaded = "true";
}

main();
