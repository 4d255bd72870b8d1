// Parc web UI. Every value from the API goes into the page through
// textContent (el() and svg() below): agent-reported strings are never
// parsed as HTML. No framework, no build step: views are async functions
// that fetch what they need and return the nodes to show.
"use strict";

const main = document.getElementById("main");
const SVGNS = "http://www.w3.org/2000/svg";

function append(e, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "onchange") e.addEventListener("change", v);
    else if (k === "onsubmit") e.addEventListener("submit", v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  append(e, children);
  return e;
}

// svg builds an SVG element the same way el() builds HTML ones.
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, String(v));
  }
  append(e, children);
  return e;
}

function token() {
  return localStorage.getItem("parc-token") || "";
}

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// api calls the REST API; opts.method and opts.body (sent as JSON) are
// optional. A 401 asks for a token.
async function api(path, opts) {
  opts = opts || {};
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const init = { method: opts.method || "GET", headers };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch("/api/v1" + path, init);
  if (res.status === 401) {
    askToken();
    throw new APIError(401, "an API token is needed");
  }
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new APIError(res.status, (body && body.error) || res.statusText);
  return body;
}

let asking = false;

function askToken() {
  // Parallel calls may all fail with 401: show one prompt, keep what the
  // user is typing.
  if (asking && document.getElementById("token")) return;
  asking = true;
  const input = el("input", { type: "password", id: "token", size: "60", placeholder: "API token", autocomplete: "off" });
  const save = el("button", { id: "save-token", type: "submit" }, "Use token");
  const form = el("form", { class: "bar", onsubmit: (ev) => {
    ev.preventDefault();
    localStorage.setItem("parc-token", input.value.trim());
    asking = false;
    route();
  } }, input, save);
  main.replaceChildren(el("h2", {}, "Sign in"),
    el("p", {}, "Paste an API token (the collector wrote an admin token to its data directory)."), form);
  document.getElementById("who").replaceChildren();
  input.focus();
}

// ---- small helpers -------------------------------------------------------

function fmtValue(v) {
  if (Array.isArray(v)) return v.join(", ");
  if (v !== null && typeof v === "object") return JSON.stringify(v);
  return v;
}

function fmtTime(t) {
  if (!t || t.startsWith("0001-")) return "";
  return t.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

function ciLink(id, name) {
  return el("a", { href: "#/ci/" + encodeURIComponent(id) }, name || id);
}

function table(id, head, rows, empty) {
  if (!rows.length) return el("p", { class: "muted", id: id }, empty || "None.");
  return el("table", { id: id }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

function tr(...cells) {
  return el("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD") ? c : el("td", {}, c)));
}

function select(id, options, current, onchange) {
  const s = el("select", { id: id, onchange: () => onchange(s.value) });
  for (const [value, label] of options) {
    const o = el("option", { value: value }, label);
    if (value === current) o.selected = true;
    s.append(o);
  }
  return s;
}

function hashWith(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return "#" + path + (s ? "?" + s : "");
}

function pill(text, kind) {
  return el("span", { class: "pill " + (kind || "") }, text);
}

// pages fetches up to max pages of a list route and returns every item
// and whether more were left.
async function pages(path, params, max) {
  const items = [];
  let after = "";
  for (let i = 0; i < max; i++) {
    const q = new URLSearchParams(params);
    q.set("limit", "1000");
    if (after) q.set("after", after);
    const r = await api(path + "?" + q);
    items.push(...r.items);
    if (!r.next) return { items, more: false };
    after = r.next;
  }
  return { items, more: true };
}

const CLASSES = ["computer", "cpu", "disk", "nic", "gpu", "software", "service", "printer", "network_device", "licence", "contract"];

// ---- dashboard -----------------------------------------------------------

function card(id, title, href, body) {
  return el("section", { class: "card", id: id }, el("h3", {}, el("a", { href: href }, title)), body);
}

function settled(p, render) {
  return p.then(render, (err) => {
    if (err.status === 401) throw err;
    return el("p", { class: "error" }, err.message);
  });
}

async function dashboardView() {
  const ciCounts = settled(Promise.all(CLASSES.map((c) => pages("/cis", { class: c }, 10).then((r) => [c, r]))), (rs) =>
    table("dash-classes", ["Class", "CIs"], rs.filter(([, r]) => r.items.length).map(([c, r]) =>
      tr(el("a", { href: hashWith("/cis", { class: c }) }, c), el("td", { class: "num", "data-class": c }, String(r.items.length) + (r.more ? "+" : "")))), "No CIs yet."));

  const incidents = settled(pages("/incidents", { status: "open" }, 5), (r) => {
    const by = {};
    for (const i of r.items) by[i.priority] = (by[i.priority] || 0) + 1;
    const rows = Object.keys(by).sort((a, b) => a - b).map((p) =>
      tr(el("a", { href: hashWith("/incidents", { status: "open", priority: p }) }, "P" + p), el("td", { class: "num", "data-priority": p }, String(by[p]))));
    const latest = r.items.slice(0, 8).map((i) =>
      el("li", {}, el("a", { href: "#/incident/" + encodeURIComponent(i.number) }, i.number), " ", pill("P" + i.priority, "p" + i.priority), " ", i.short_description));
    return [el("p", { class: "big", id: "dash-open-incidents" }, String(r.items.length) + (r.more ? "+" : "")),
      table("dash-priorities", ["Priority", "Open"], rows, "No open incidents."), latest.length ? el("ul", { class: "plain", id: "dash-incident-list" }, latest) : null];
  });

  const changes = settled(pages("/changes", { state: "authorize" }, 2), (r) => {
    const waiting = r.items.filter((c) => !c.approved);
    return [el("p", { class: "big", id: "dash-awaiting" }, String(waiting.length)),
      el("ul", { class: "plain" }, waiting.slice(0, 8).map((c) =>
        el("li", {}, el("a", { href: "#/change/" + encodeURIComponent(c.number) }, c.number), " ", c.title, " ", pill(c.risk_level || "?", "risk-" + (c.risk_level || "")))))];
  });

  const licences = settled(api("/licences/compliance"), (rep) => {
    const s = rep.summary || {};
    return el("dl", { class: "kv" },
      el("dt", {}, "Over-deployed licences"), el("dd", { id: "dash-over", class: s.over_deployed ? "bad" : "" }, String(s.over_deployed || 0)),
      el("dt", {}, "Licences"), el("dd", {}, String(s.licences || 0)),
      el("dt", {}, "Compliant"), el("dd", {}, String(s.compliant || 0)),
      el("dt", {}, "Expired"), el("dd", {}, String(s.expired || 0)),
      el("dt", {}, "Unlicensed installs"), el("dd", {}, String(s.unlicensed_installs || 0)),
      el("dt", {}, "Unused seats"), el("dd", {}, String(s.unused_seats || 0)));
  });

  const due = settled(api("/lifecycle/due?days=30"), (r) => [
    el("p", { class: "big", id: "dash-due" }, String(r.items.length)),
    el("ul", { class: "plain" }, r.items.slice(0, 8).map((d) =>
      el("li", {}, ciLink(d.id, d.name), " — ", d.kind, " ", d.date, " (", String(d.days_left), " days)")))]);

  const [a, b, c, d, e] = await Promise.all([ciCounts, incidents, changes, licences, due]);
  return [el("h2", { id: "dashboard" }, "Dashboard"), el("div", { class: "cards" },
    card("card-cis", "Configuration items by class", "#/cis", a),
    card("card-incidents", "Open incidents", hashWith("/incidents", { status: "open" }), b),
    card("card-changes", "Changes awaiting approval", hashWith("/changes", { state: "authorize" }), c),
    card("card-licences", "Licence compliance", "#/licences", d),
    card("card-lifecycle", "Lifecycle due in 30 days", "#/lifecycle", e))];
}

// ---- CI explorer ---------------------------------------------------------

async function listView(params) {
  const cls = params.get("class") || "";
  const after = params.get("after") || "";
  const text = params.get("q") || "";
  const q = new URLSearchParams({ limit: "100" });
  if (cls) q.set("class", cls);
  if (after) q.set("after", after);
  if (text) q.set("q", text);
  const data = await api((text ? "/search?" : "/cis?") + q);
  const classSel = select("class", [["", "all classes"], ...CLASSES.map((c) => [c, c])], cls,
    (v) => { location.hash = hashWith("/cis", { class: v, q: text }); });
  const box = el("input", { type: "search", id: "search", placeholder: "search name, identifier…", value: text, size: "30" });
  const form = el("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); location.hash = hashWith("/cis", { class: cls, q: box.value.trim() }); } },
    box, el("button", { type: "submit", id: "search-go" }, "Search"));
  const rows = data.items.map((ci) =>
    tr(ciLink(ci.id, ci.name), ci.class + (ci.subclass ? " / " + ci.subclass : ""), ci.state || "", el("td", { class: "muted" }, fmtTime(ci.updated))));
  const next = data.next ? el("a", { id: "next", href: hashWith("/cis", { class: cls, q: text, after: data.next }) }, "Next page →") : null;
  return [el("div", { class: "bar" }, el("h2", {}, text ? "Search" : "Configuration items"), classSel, form),
    table("cis", ["Name", "Class", "State", "Updated"], rows, "No configuration items match."), next];
}

const CLASS_COLOURS = { computer: "#3b6fd8", software: "#8a63c9", service: "#d2691e", disk: "#5a8f5a", cpu: "#5a8f5a", nic: "#5a8f5a", gpu: "#5a8f5a", licence: "#b8860b", contract: "#b8860b" };

// graphView draws the CI in the centre and its neighbours around it; a
// group of more than 20 neighbours of one relationship type and direction
// becomes one count node.
function graphView(ci, edges) {
  const groups = new Map();
  for (const e of edges) {
    const k = e.direction + " " + e.type;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(e);
  }
  const nodes = [];
  for (const [, es] of groups) {
    if (es.length > 20) nodes.push({ count: es.length, type: es[0].type, direction: es[0].direction });
    else for (const e of es) nodes.push({ id: e.other, name: e.other_name || e.other, type: e.type, direction: e.direction });
  }
  const W = 880, H = Math.max(360, Math.min(720, 200 + nodes.length * 14)), cx = W / 2, cy = H / 2;
  const rx = W / 2 - 180, ry = H / 2 - 50;
  const root = svg("svg", { id: "graph", viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": "relationship graph" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8893a4" }))));
  const edgeLayer = svg("g", { class: "edges" }), nodeLayer = svg("g", { class: "nodes" });
  root.append(edgeLayer, nodeLayer);
  const R = 9, RC = 16;
  nodes.forEach((n, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * (i + 0.5)) / Math.max(nodes.length, 1);
    const x = cx + rx * Math.cos(a), y = cy + ry * Math.sin(a);
    // The arrow points from the relationship's From to its To.
    const [x1, y1, x2, y2] = n.direction === "out" ? [cx, cy, x, y] : [x, y, cx, cy];
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const r1 = n.direction === "out" ? RC : (n.count ? R + 6 : R), r2 = n.direction === "out" ? (n.count ? R + 6 : R) : RC;
    edgeLayer.append(svg("line", { x1: x1 + (x2 - x1) * r1 / len, y1: y1 + (y2 - y1) * r1 / len, x2: x2 - (x2 - x1) * r2 / len, y2: y2 - (y2 - y1) * r2 / len, class: "edge", "marker-end": "url(#arrow)" }));
    edgeLayer.append(svg("text", { x: (cx + x) / 2, y: (cy + y) / 2 - 3, class: "edge-label", "text-anchor": "middle" }, n.type));
    const label = n.count ? n.count + " × " + (n.type === "installed_on" ? "software" : n.type) : n.name;
    const short = label.length > 28 ? label.slice(0, 27) + "…" : label;
    const anchor = Math.abs(x - cx) < 40 ? "middle" : (x > cx ? "start" : "end");
    const dx = anchor === "middle" ? 0 : (x > cx ? 14 : -14), dy = anchor === "middle" ? (y > cy ? 24 : -14) : 4;
    const g = svg("g", { class: n.count ? "node count" : "node", transform: "translate(" + x + "," + y + ")" },
      svg("title", {}, label),
      n.count ? svg("circle", { r: R + 6, class: "count-dot" }) : svg("circle", { r: R, fill: CLASS_COLOURS[classOf(n)] || "#6b7a90" }),
      n.count ? svg("text", { class: "count-num", "text-anchor": "middle", y: 4 }, String(n.count)) : null,
      svg("text", { x: dx, y: dy, "text-anchor": anchor, class: "node-label" }, short));
    if (n.id) {
      g.setAttribute("data-ci", n.id);
      g.addEventListener("click", () => { location.hash = "#/ci/" + encodeURIComponent(n.id); });
    } else {
      g.addEventListener("click", () => { document.getElementById("edges").scrollIntoView(); });
    }
    nodeLayer.append(g);
  });
  const centreLabel = ci.name || ci.id;
  nodeLayer.append(svg("g", { class: "node centre", transform: "translate(" + cx + "," + cy + ")" },
    svg("title", {}, centreLabel), svg("circle", { r: RC, fill: CLASS_COLOURS[ci.class] || "#6b7a90" }),
    svg("text", { y: RC + 16, "text-anchor": "middle", class: "node-label centre-label" }, centreLabel.length > 40 ? centreLabel.slice(0, 39) + "…" : centreLabel)));
  return root;
}

// classOf guesses a neighbour's class from the relationship (the edge
// list carries no class): only for the dot's colour.
function classOf(n) {
  if (n.type === "installed_on") return "software";
  if (n.type === "contains") return n.direction === "out" ? "disk" : "computer";
  if (n.type === "runs_on") return n.direction === "in" ? "service" : "computer";
  if (n.type === "licensed_by") return n.direction === "out" ? "licence" : "software";
  return "";
}

async function ciView(ref) {
  const enc = encodeURIComponent(ref);
  const [v, h, inc, imp] = await Promise.all([
    api("/cis/" + enc), api("/cis/" + enc + "/history"),
    api("/cis/" + enc + "/incidents").catch((e) => { if (e.status === 401) throw e; return { error: e.message }; }),
    api("/cis/" + enc + "/impact?direction=downstream&depth=3").catch((e) => { if (e.status === 401) throw e; return { error: e.message }; })]);
  const ci = v.ci;
  const attrs = Object.entries(ci.attrs || {}).sort().map(([k, a]) => tr(el("th", {}, k), fmtValue(a.value), el("td", { class: "muted" }, a.source)));
  const edges = v.edges.map((e) =>
    tr(e.direction === "out" ? "→ " + e.type : "← " + e.type, ciLink(e.other, e.other_name),
      el("td", { class: "muted" }, Object.entries(e.attrs || {}).map(([k, x]) => k + "=" + x).join(" "))));
  const hist = h.items.slice(-50).reverse().map((x) =>
    tr(el("td", { class: "muted" }, fmtTime(x.at)), x.actor, x.kind + (x.rel ? " " + x.rel : ""),
      (x.changes || []).map((c) => c.field + ": " + fmtValue(c.before ?? "∅") + " → " + fmtValue(c.after ?? "∅")).join("; ")));

  let incidents;
  if (inc.error) incidents = el("p", { class: "error" }, inc.error);
  else {
    const own = inc.incidents.map((i) => tr(el("a", { href: "#/incident/" + encodeURIComponent(i.number) }, i.number), i.short_description, i.status, "P" + i.priority));
    const deps = [];
    for (const d of inc.dependants || []) for (const i of d.incidents) deps.push(tr(ciLink(d.id, d.name), el("a", { href: "#/incident/" + encodeURIComponent(i.number) }, i.number), i.short_description, i.status, "P" + i.priority));
    incidents = [table("ci-incidents", ["Number", "Description", "Status", "Priority"], own, "No open incidents on this CI."),
      (inc.problems || []).length ? el("p", {}, "Open problems: " + inc.problems.join(", ")) : null,
      deps.length ? [el("h4", {}, "Open incidents on dependants"), table("dep-incidents", ["CI", "Number", "Description", "Status", "Priority"], deps)] : null];
  }

  let impact;
  if (imp.error) impact = el("p", { class: "error" }, imp.error);
  else {
    const names = new Map([[ci.id, ci.name]]);
    for (const n of imp.nodes) names.set(n.id, n.name);
    impact = [
      imp.nodes.length ? el("p", { class: "muted" }, Object.entries(imp.count_by_class || {}).map(([k, n]) => k + " " + n).join(" · "), imp.truncated ? " (truncated)" : "") : null,
      table("impact", ["CI", "Class", "Depth", "Via", "Path"], imp.nodes.map((n) =>
        tr(ciLink(n.id, n.name), n.class + (n.subclass ? " / " + n.subclass : ""), String(n.depth), n.via, el("td", { class: "path" }, (n.path || []).map((p) => names.get(p) || p).join(" → ")))), "No dependants.")];
  }
  return [
    el("h2", { id: "ci-name" }, ci.name), el("p", { class: "muted" }, ci.class, ci.subclass ? " / " + ci.subclass : "", " · ", ci.id, " · state ", ci.state || "—"),
    el("h3", {}, "Relationships (" + v.edges.length + ")"), graphView(ci, v.edges),
    el("h3", {}, "Open incidents"), incidents,
    el("h3", {}, "Impact (downstream, depth 3)"), impact,
    el("h3", {}, "Attributes"), table("attrs", ["Name", "Value", "Source"], attrs),
    el("details", {}, el("summary", {}, "All relationships"), table("edges", ["Type", "CI", "Attributes"], edges)),
    el("h3", {}, "History"), table("history", ["At", "Actor", "What", "Changes"], hist)];
}

// ---- incidents -----------------------------------------------------------

const INCIDENT_STATUSES = ["open", "new", "assigned", "in_progress", "awaiting_info", "pending", "reopened", "resolved", "closed", "rejected"];

async function incidentsView(params) {
  const status = params.has("status") ? params.get("status") : "open";
  const priority = params.get("priority") || "";
  const after = params.get("after") || "";
  const q = new URLSearchParams({ limit: "100" });
  if (status) q.set("status", status);
  if (priority) q.set("priority", priority);
  if (after) q.set("after", after);
  const data = await api("/incidents?" + q);
  const st = select("status", [["", "any status"], ...INCIDENT_STATUSES.map((s) => [s, s.replace("_", " ")])], status,
    (v) => { location.hash = hashWith("/incidents", { status: v, priority }); });
  const pr = select("priority", [["", "any priority"], ...["1", "2", "3", "4", "5"].map((p) => [p, "P" + p])], priority,
    (v) => { location.hash = hashWith("/incidents", { status, priority: v }); });
  const rows = data.items.map((i) => tr(el("a", { href: "#/incident/" + encodeURIComponent(i.number) }, i.number), i.short_description,
    i.status, pill("P" + i.priority, "p" + i.priority), i.assignee || "", el("td", { class: "muted" }, fmtTime(i.updated))));
  const next = data.next ? el("a", { id: "next", href: hashWith("/incidents", { status, priority, after: data.next }) }, "Next page →") : null;
  return [el("div", { class: "bar" }, el("h2", {}, "Incidents"), st, pr),
    table("incidents", ["Number", "Description", "Status", "Priority", "Assignee", "Updated"], rows, "No incidents match."), next];
}

async function incidentView(num) {
  const v = await api("/incidents/" + encodeURIComponent(num));
  const i = v.incident;
  const facts = [
    ["Status", i.status], ["Priority", "P" + i.priority + " (impact " + i.impact + ", urgency " + i.urgency + ")"], ["Category", i.category],
    ["Assignee", [i.assignee, i.group].filter(Boolean).join(" / ") || "—"], ["Opened by", i.opened_by], ["Occurred", fmtTime(i.occurred)],
    ["Reported", fmtTime(i.reported)], ["Major", i.major ? "yes" : "no"],
    ["SLA", (v.sla.response_breached ? "response breached " : "") + (v.sla.resolution_breached ? "resolution breached " : "") + (v.sla.near_breach ? "near breach" : "") || "within target"],
    ["Caused by change", i.caused_by_change ? el("a", { href: "#/change/" + encodeURIComponent(i.caused_by_change) }, i.caused_by_change) : "—"],
  ].map(([k, x]) => tr(el("th", {}, k), x));
  const cis = (i.cis || []).map((l) => tr(ciLink(l.ci, l.name), l.class || "", l.source));
  const timeline = (i.timeline || []).map((e) => tr(el("td", { class: "muted" }, fmtTime(e.at)), e.actor, e.kind,
    [e.from || e.to ? (e.from || "∅") + " → " + (e.to || "∅") + " " : "", e.text || ""]));
  return [el("h2", { id: "incident-title" }, i.number + " ", i.short_description),
    i.description ? el("p", { class: "desc" }, i.description) : null,
    el("table", { id: "incident-facts", class: "facts" }, facts),
    el("h3", {}, "Configuration items"), table("incident-cis", ["CI", "Class", "Linked by"], cis, "No CI linked."),
    (v.problems || []).length ? [el("h3", {}, "Problems"), el("ul", {}, v.problems.map((p) => el("li", {}, p.number + " " + (p.title || ""))))] : null,
    (v.known_errors || []).length ? [el("h3", {}, "Known errors that may apply"), el("ul", {}, v.known_errors.map((k) => el("li", {}, k.number + " " + (k.title || "") + (k.workaround ? " — workaround: " + k.workaround : ""))))] : null,
    el("h3", {}, "Timeline"), table("timeline", ["At", "Actor", "What", "Detail"], timeline, "Nothing yet.")];
}

// ---- changes -------------------------------------------------------------

const CHANGE_STATES = ["draft", "assess", "authorize", "scheduled", "implement", "review", "closed", "rejected", "cancelled"];

async function changesView(params) {
  const state = params.get("state") || "";
  const after = params.get("after") || "";
  const q = new URLSearchParams({ limit: "100" });
  if (state) q.set("state", state);
  if (after) q.set("after", after);
  const data = await api("/changes?" + q);
  const st = select("state", [["", "any state"], ...CHANGE_STATES.map((s) => [s, s])], state, (v) => { location.hash = hashWith("/changes", { state: v }); });
  const rows = data.items.map((c) => tr(el("a", { href: "#/change/" + encodeURIComponent(c.number) }, c.number), c.title, c.type, c.state,
    c.risk_level ? pill(c.risk_level + " (" + (c.risk_score || 0) + ")", "risk-" + c.risk_level) : "", c.approved ? "yes" : "no", el("td", { class: "muted" }, fmtTime(c.window && c.window.start))));
  const next = data.next ? el("a", { id: "next", href: hashWith("/changes", { state, after: data.next }) }, "Next page →") : null;
  return [el("div", { class: "bar" }, el("h2", {}, "Changes"), st),
    table("changes", ["Number", "Title", "Type", "State", "Risk", "Approved", "Window"], rows, "No changes match."), next];
}

// flash is a message shown once on the next render of a change page.
let flash = null;

async function changeView(num) {
  const enc = encodeURIComponent(num);
  const [c, imp] = await Promise.all([api("/changes/" + enc),
    api("/changes/" + enc + "/impact").catch((e) => { if (e.status === 401) throw e; return { error: e.message }; })]);
  const out = [el("h2", { id: "change-title" }, c.number + " ", c.title),
    el("p", {}, pill(c.state, "state", ""), " ", c.type, " change requested by ", c.requester, c.risk_level ? [" · risk ", pill(c.risk_level + " (" + c.risk_score + ")", "risk-" + c.risk_level)] : "")];
  if (flash && flash.num === c.number) {
    out.push(el("p", { id: "flash", class: "flash" }, flash.text));
    flash = null;
  }
  if (c.description) out.push(el("p", { class: "desc" }, c.description));
  out.push(el("table", { class: "facts", id: "change-facts" },
    tr(el("th", {}, "Window"), c.window && c.window.start ? fmtTime(c.window.start) + " → " + fmtTime(c.window.end) : "—"),
    tr(el("th", {}, "CIs"), (c.cis || []).map((id, i) => [i ? ", " : "", ciLink(id, imp.impact && ((imp.impact.affected || []).find((a) => a.id === id) || {}).name)])),
    tr(el("th", {}, "Approval rule"), c.required ? c.required.rule + " — quorum " + c.required.quorum +
      (c.required.approvers ? " of " + c.required.approvers.join(", ") : "") + (c.required.owners ? "; owners " + c.required.owners.join(", ") : "") : "—"),
    tr(el("th", {}, "Approved"), el("td", { id: "approved" }, c.approved ? "yes" : "no"))));

  // Approvals and the buttons.
  out.push(el("h3", {}, "Approvals"), table("approvals", ["By", "Decision", "As", "Comment", "At"], (c.approvals || []).map((a) =>
    tr(a.by, pill(a.decision, a.decision), (a.as || []).join(", "), a.comment || "", el("td", { class: "muted" }, fmtTime(a.at)))), "No decision yet."));
  if (c.state === "authorize" && c.approved) {
    out.push(el("p", { class: "muted", id: "authorized" }, "The approval rule is met: the change can be scheduled."));
  } else if (c.state === "authorize") {
    const comment = el("textarea", { id: "comment", rows: "2", cols: "60", placeholder: "comment (required to reject)" });
    const errBox = el("p", { id: "action-error", class: "error", role: "alert" });
    const decide = (verb) => async (ev) => {
      ev.preventDefault();
      for (const b of document.querySelectorAll(".decide button")) b.disabled = true;
      errBox.textContent = "";
      try {
        const r = await api("/changes/" + enc + "/" + verb, { method: "POST", body: { comment: comment.value } });
        flash = { num: r.number, text: verb === "approve"
          ? (r.approved ? "Approved: approval rule " + (r.required ? r.required.rule : "") + " is met; the change is authorized." : "Approval recorded; the rule " + (r.required ? r.required.rule : "") + " needs more approvals.")
          : "Rejected: the change is now " + r.state + "." };
        await route();
      } catch (err) {
        if (err.status === 401) return;
        errBox.textContent = err.message;
        for (const b of document.querySelectorAll(".decide button")) b.disabled = false;
      }
    };
    out.push(el("form", { class: "decide", id: "decide" }, comment, el("div", { class: "bar" },
      el("button", { id: "approve", type: "button", class: "ok", onclick: decide("approve") }, "Approve"),
      el("button", { id: "reject", type: "button", class: "danger", onclick: decide("reject") }, "Reject")), errBox));
  }

  out.push(el("h3", {}, "Impact" + (imp.snapshot ? " (snapshot at submit)" : imp.error ? "" : " (live analysis)")));
  if (imp.error) out.push(el("p", { class: "error" }, imp.error));
  else out.push(impactSnapshot(imp.impact));

  out.push(el("h3", {}, "Log"), table("change-log", ["At", "Actor", "Action", "State", "Note"], (c.log || []).map((l) =>
    tr(el("td", { class: "muted" }, fmtTime(l.at)), l.actor, l.action, l.from || l.to ? (l.from || "") + " → " + (l.to || "") : "", l.note || ""))));
  return out;
}

function impactSnapshot(m) {
  const names = new Map();
  for (const a of m.affected || []) names.set(a.id, a.name);
  for (const n of [...(m.downstream || []), ...(m.upstream || [])]) names.set(n.id, n.name);
  const pathText = (p) => (p || []).map((id) => names.get(id) || id).join(" → ");
  const nodeRows = (ns) => ns.map((n) => tr(ciLink(n.id, n.name), n.class, String(n.depth), n.via, el("td", { class: "path" }, pathText(n.path))));
  const reasons = (m.reasons || []).map((r) => el("li", {}, r));
  const counts = Object.entries(m.count_by_class || {}).sort().map(([k, n]) => tr(k, el("td", { class: "num" }, String(n))));
  const incRows = [];
  for (const [ci, nums] of Object.entries(m.open_incidents || {})) incRows.push(tr(ciLink(ci, names.get(ci)), nums.map((n, i) => [i ? ", " : "", el("a", { href: "#/incident/" + encodeURIComponent(n) }, n)])));
  return el("div", { id: "change-impact" },
    el("div", { class: "risk" }, el("span", { class: "big", id: "risk-score" }, String(m.risk_score)), " ", pill(m.risk_level, "risk-" + m.risk_level),
      reasons.length ? el("ul", { id: "risk-reasons" }, reasons) : el("p", { class: "muted" }, "No risk factors.")),
    el("h4", {}, "Dependants (" + (m.downstream || []).length + (m.truncated ? ", truncated" : "") + ")"),
    table("impact-downstream", ["CI", "Class", "Depth", "Via", "Path"], nodeRows(m.downstream || []), "Nothing depends on the changed CIs."),
    el("h4", {}, "Counts by class"), table("impact-counts", ["Class", "CIs"], counts, "—"),
    (m.critical_services || []).length ? [el("h4", {}, "Critical services"), el("ul", {}, m.critical_services.map((s) => el("li", {}, ciLink(s.id, s.name), s.owner ? " — owner " + s.owner : "")))] : null,
    el("h4", {}, "Collisions"), table("impact-collisions", ["Change", "Title", "State", "Window", "CIs"], (m.collisions || []).map((c) =>
      tr(el("a", { href: "#/change/" + encodeURIComponent(c.number) }, c.number), c.title, c.state, fmtTime(c.window.start) + " → " + fmtTime(c.window.end), (c.cis || []).map((id) => names.get(id) || id).join(", ") + (c.direct ? " (same CI)" : ""))), "No other change overlaps."),
    el("h4", {}, "Freeze violations"), table("impact-freezes", ["Freeze", "Window", "Reason"], (m.freezes || []).map((f) =>
      tr(f.name || f.id, fmtTime(f.window.start) + " → " + fmtTime(f.window.end), f.reason || "")), "No freeze window is violated."),
    incRows.length ? [el("h4", {}, "Open incidents on impacted CIs"), table("impact-incidents", ["CI", "Incidents"], incRows)] : null,
    (m.upstream || []).length ? el("details", {}, el("summary", {}, "Upstream (" + m.upstream.length + ")"), table("impact-upstream", ["CI", "Class", "Depth", "Via", "Path"], nodeRows(m.upstream))) : null);
}

// ---- licences and lifecycle ----------------------------------------------

async function licencesView() {
  const rep = await api("/licences/compliance");
  const s = rep.summary || {};
  const rows = (rep.licences || []).map((l) => tr(l.name, l.title, l.metric, el("td", { class: "num" }, l.seats ? String(l.seats) : "site"),
    el("td", { class: "num" }, String(l.used)), el("td", { class: "num" + (l.over_deployed ? " bad" : "") }, String(l.over_deployed)),
    el("td", { class: "num" }, String(l.unused)), el("td", { class: "num" }, String(l.installs)), pill(l.status, l.status), el("td", { class: "muted" }, fmtTime(l.expiry))));
  const byTitle = new Map();
  for (const u of rep.unlicensed || []) {
    if (!byTitle.has(u.title)) byTitle.set(u.title, []);
    byTitle.get(u.title).push(u);
  }
  const unlicensed = [...byTitle.entries()].sort().map(([title, us]) => el("details", { class: "unlicensed" },
    el("summary", {}, title + " — " + us.length + " unlicensed install" + (us.length === 1 ? "" : "s")),
    table("", ["Host", "Version", "Reason"], us.map((u) => tr(ciLink(u.host, u.host_name), u.version, u.reason)))));
  return [el("h2", {}, "Licence compliance"),
    el("p", { class: "muted" }, "Computed ", fmtTime(rep.at), " over ", String(rep.hosts || 0), " hosts · ", String(s.licences || 0), " licences, ",
      String(s.compliant || 0), " compliant, ", el("strong", { id: "over-deployed" }, String(s.over_deployed || 0)), " over-deployed, ", String(s.expired || 0), " expired, ",
      String(s.unused_seats || 0), " unused seats"),
    table("licences", ["Licence", "Product", "Metric", "Entitled", "Used", "Over-deployed", "Unused", "Installs", "Status", "Expiry"], rows, "No licences recorded."),
    el("h3", {}, "Unlicensed installs (" + (rep.unlicensed || []).length + (rep.unlicensed_truncated ? "+" : "") + ")"),
    unlicensed.length ? el("div", { id: "unlicensed" }, unlicensed) : el("p", { class: "muted", id: "unlicensed" }, "None.")];
}

async function lifecycleView(params) {
  const days = params.get("days") || "30";
  const r = await api("/lifecycle/due?days=" + encodeURIComponent(days));
  const sel = select("days", [["7", "7 days"], ["30", "30 days"], ["90", "90 days"], ["365", "a year"]], days, (v) => { location.hash = hashWith("/lifecycle", { days: v }); });
  const rows = r.items.map((d) => tr(d.kind, ciLink(d.id, d.name), d.date, el("td", { class: "num" + (d.days_left < 0 ? " bad" : "") }, String(d.days_left)), d.detail || ""));
  return [el("div", { class: "bar" }, el("h2", {}, "Lifecycle: due within"), sel),
    table("due", ["What", "CI", "Date", "Days left", "Detail"], rows, "Nothing is due.")];
}

// ---- routing -------------------------------------------------------------

let generation = 0;

async function route() {
  const gen = ++generation;
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const section = path.split("/")[1] || "";
  for (const a of document.querySelectorAll("nav a")) {
    const n = a.getAttribute("data-nav");
    a.classList.toggle("active", n === (section === "" ? (params.has("class") || params.has("after") ? "cis" : "dash") : section === "ci" ? "cis" : section === "incident" ? "incidents" : section === "change" ? "changes" : section));
  }
  try {
    let nodes;
    if (path.startsWith("/ci/")) nodes = await ciView(decodeURIComponent(path.slice(4)));
    else if (path === "/cis" || (path === "/" && (params.has("class") || params.has("after") || params.has("q")))) nodes = await listView(params);
    else if (path === "/incidents") nodes = await incidentsView(params);
    else if (path.startsWith("/incident/")) nodes = await incidentView(decodeURIComponent(path.slice(10)));
    else if (path === "/changes") nodes = await changesView(params);
    else if (path.startsWith("/change/")) nodes = await changeView(decodeURIComponent(path.slice(8)));
    else if (path === "/licences") nodes = await licencesView();
    else if (path === "/lifecycle") nodes = await lifecycleView(params);
    else nodes = await dashboardView();
    if (gen !== generation || asking) return;
    main.replaceChildren(...nodes.flat(3).filter((n) => n !== null && n !== undefined && n !== false));
    whoami();
  } catch (err) {
    if (gen !== generation || asking || err.status === 401) return;
    main.replaceChildren(el("p", { class: "error", id: "error" }, err.message));
  }
}

let who = null;

async function whoami() {
  if (who === token()) return;
  who = token();
  try {
    const w = await api("/whoami");
    document.getElementById("who").replaceChildren(String(w.principal || ""), w.role ? " (" + w.role + ")" : "",
      " ", el("a", { href: "#/", id: "sign-out", onclick: (ev) => { ev.preventDefault(); localStorage.removeItem("parc-token"); who = null; askToken(); } }, "sign out"));
  } catch (e) {
    who = null;
  }
}

// A link may carry a token in its fragment (#/...?token=T; fragments never
// reach a server's logs): keep it and drop it from the address bar.
function takeToken() {
  const [path, query] = (location.hash || "#/").slice(1).split("?");
  const q = new URLSearchParams(query || "");
  if (!q.get("token")) return;
  localStorage.setItem("parc-token", q.get("token"));
  asking = false;
  q.delete("token");
  history.replaceState(null, "", "#" + path + (q.toString() ? "?" + q : ""));
}

window.addEventListener("hashchange", () => { asking = false; takeToken(); route(); });
takeToken();
route();
