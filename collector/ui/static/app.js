// Parc web UI. Every value from the API goes into the page through
// textContent (el() below): agent-reported strings are never parsed as HTML.
"use strict";

const main = document.getElementById("main");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function token() {
  return localStorage.getItem("parc-token") || "";
}

async function api(path) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const res = await fetch("/api/v1" + path, { headers });
  if (res.status === 401) {
    askToken();
    throw new Error("an API token is needed");
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function askToken() {
  const input = el("input", { type: "password", id: "token", size: "60", placeholder: "API token" });
  const save = el("button", { id: "save-token", onclick: () => { localStorage.setItem("parc-token", input.value.trim()); route(); } }, "Use token");
  main.replaceChildren(el("p", {}, "Paste an API token (the collector wrote an admin token to its data directory)."), el("div", { class: "bar" }, input, save));
}

function fmtValue(v) {
  if (Array.isArray(v)) return v.join(", ");
  if (v !== null && typeof v === "object") return JSON.stringify(v);
  return v;
}

async function listView(params) {
  const cls = params.get("class") || "";
  const after = params.get("after") || "";
  const q = new URLSearchParams({ limit: "100" });
  if (cls) q.set("class", cls);
  if (after) q.set("after", after);
  const data = await api("/cis?" + q);
  const select = el("select", { id: "class" });
  for (const c of ["", "computer", "cpu", "disk", "nic", "gpu", "software", "service", "licence", "contract"]) {
    const o = el("option", { value: c }, c || "all classes");
    if (c === cls) o.selected = true;
    select.append(o);
  }
  select.addEventListener("change", () => { location.hash = "#/?class=" + encodeURIComponent(select.value); });
  const rows = data.items.map((ci) =>
    el("tr", {}, el("td", {}, el("a", { href: "#/ci/" + encodeURIComponent(ci.id) }, ci.name || ci.id)),
      el("td", {}, ci.class + (ci.subclass ? " / " + ci.subclass : "")), el("td", {}, ci.state || ""),
      el("td", { class: "muted" }, ci.updated || "")));
  const table = el("table", { id: "cis" }, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Class"), el("th", {}, "State"), el("th", {}, "Updated")), ...rows);
  const next = data.next ? el("a", { href: "#/?class=" + encodeURIComponent(cls) + "&after=" + encodeURIComponent(data.next) }, "Next page →") : null;
  main.replaceChildren(el("div", { class: "bar" }, el("h2", {}, "Configuration items"), select), table, next);
}

async function ciView(ref) {
  const v = await api("/cis/" + encodeURIComponent(ref));
  const h = await api("/cis/" + encodeURIComponent(ref) + "/history");
  const ci = v.ci;
  const attrs = Object.entries(ci.attrs || {}).sort().map(([k, a]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, fmtValue(a.value)), el("td", { class: "muted" }, a.source)));
  const edges = v.edges.map((e) =>
    el("tr", {}, el("td", {}, e.direction === "out" ? "→ " + e.type : "← " + e.type),
      el("td", {}, el("a", { href: "#/ci/" + encodeURIComponent(e.other) }, e.other_name || e.other)),
      el("td", { class: "muted" }, Object.entries(e.attrs || {}).map(([k, x]) => k + "=" + x).join(" "))));
  const hist = h.items.slice(-50).reverse().map((x) =>
    el("tr", {}, el("td", { class: "muted" }, x.at), el("td", {}, x.actor), el("td", {}, x.kind + (x.rel ? " " + x.rel : "")),
      el("td", {}, (x.changes || []).map((c) => c.field + ": " + fmtValue(c.before ?? "∅") + " → " + fmtValue(c.after ?? "∅")).join("; "))));
  main.replaceChildren(
    el("h2", { id: "ci-name" }, ci.name), el("p", { class: "muted" }, ci.class, " · ", ci.id, " · state ", ci.state || "—"),
    el("h3", {}, "Attributes"), el("table", { id: "attrs" }, ...attrs),
    el("h3", {}, "Relationships (" + v.edges.length + ")"), el("table", { id: "edges" }, ...edges),
    el("h3", {}, "History"), el("table", { id: "history" }, ...hist));
}

async function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  try {
    if (path.startsWith("/ci/")) await ciView(decodeURIComponent(path.slice(4)));
    else await listView(new URLSearchParams(query || ""));
  } catch (err) {
    if (!document.getElementById("token")) main.replaceChildren(el("p", { class: "error" }, err.message));
  }
}

// A link may carry a token in its fragment (#/...?token=T; fragments never
// reach a server's logs): keep it and drop it from the address bar.
function takeToken() {
  const [path, query] = (location.hash || "#/").slice(1).split("?");
  const q = new URLSearchParams(query || "");
  if (!q.get("token")) return;
  localStorage.setItem("parc-token", q.get("token"));
  q.delete("token");
  history.replaceState(null, "", "#" + path + (q.toString() ? "?" + q : ""));
}

window.addEventListener("hashchange", () => { takeToken(); route(); });
takeToken();
route();
