// Foundry web view: read-only. Every request is a GET; live data comes
// from Server-Sent Events that carry one snapshot, then deltas.
"use strict";

const $ = (id) => document.getElementById(id);
const STATES = ["online", "stale", "disconnected", "offline", "enrolled"];
const fleet = new Map(); // id -> host view
const rows = new Map();  // id -> <tr>
let stream = null;
let jobStream = null;
let renderedAt = 0;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function fmtTime(ms) {
  if (!ms) return "";
  return new Date(ms).toLocaleString();
}

function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}

function labels(m) {
  if (!m) return "";
  return Object.keys(m).sort().map((k) => k + "=" + m[k]).join(", ");
}

function facts(h) {
  const parts = [];
  if (h.hostname) parts.push(h.hostname);
  if (h.os) parts.push(h.os);
  if (h.arch) parts.push(h.arch);
  if (h.cpus) parts.push(h.cpus + " cpu");
  if (h.mem_total) parts.push((h.mem_total / (1 << 30)).toFixed(1) + " GiB");
  if (h.kernel) parts.push(h.kernel);
  return parts.join(" · ");
}

function fillRow(tr, h) {
  tr.dataset.state = h.state;
  const cells = [
    el("td", "host", h.id),
    el("td", "state state-" + h.state, h.state),
    el("td", "seen", ago(h.last_seen)),
    el("td", null, h.version || ""),
    el("td", null, h.role || ""),
    el("td", null, labels(h.labels)),
    el("td", "facts", facts(h)),
  ];
  cells[2].title = fmtTime(h.last_seen);
  tr.replaceChildren(...cells);
}

function renderCounts() {
  const n = {};
  for (const h of fleet.values()) n[h.state] = (n[h.state] || 0) + 1;
  const box = $("counts");
  const items = [el("span", "count", "hosts " + fleet.size)];
  for (const s of STATES) {
    if (!n[s] && s === "enrolled") continue;
    const c = el("span", "count state-" + s, s + " " + (n[s] || 0));
    c.id = "count-" + s;
    items.push(c);
  }
  box.replaceChildren(...items);
}

function renderFleet() {
  const t0 = performance.now();
  const body = $("fleet-body");
  const ids = Array.from(fleet.keys()).sort();
  const frag = document.createDocumentFragment();
  rows.clear();
  for (const id of ids) {
    const tr = el("tr");
    tr.id = "host-" + id;
    fillRow(tr, fleet.get(id));
    rows.set(id, tr);
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
  renderCounts();
  renderedAt = performance.now() - t0;
  document.body.dataset.fleetRenderMs = renderedAt.toFixed(1);
  document.body.dataset.fleetRows = String(ids.length);
  // The next frame is drawn after layout and paint: that is when a
  // person sees the table (measured by the benchmark).
  requestAnimationFrame(() => setTimeout(() => {
    document.body.dataset.fleetPaintMs = (performance.now() - t0).toFixed(1);
  }));
}

function insertSorted(body, tr, id) {
  // Rows are kept sorted by id; a new host is rare, so a linear scan is fine.
  for (const other of body.children) {
    if (other.id.slice(5) > id) { body.insertBefore(tr, other); return; }
  }
  body.appendChild(tr);
}

function applyDelta(msg) {
  const body = $("fleet-body");
  for (const h of msg.upserts || []) {
    fleet.set(h.id, h);
    let tr = rows.get(h.id);
    if (!tr) {
      tr = el("tr");
      tr.id = "host-" + h.id;
      rows.set(h.id, tr);
      insertSorted(body, tr, h.id);
    }
    fillRow(tr, h);
  }
  for (const id of msg.removed || []) {
    fleet.delete(id);
    const tr = rows.get(id);
    if (tr) tr.remove();
    rows.delete(id);
  }
  renderCounts();
}

function addEvent(ev) {
  const list = $("recent-events");
  const li = el("li", "sev-" + ev.severity,
    new Date(ev.time).toLocaleTimeString() + "  " + (ev.host || "-") + "  " + ev.type + "  " + ev.message);
  list.insertBefore(li, list.firstChild);
  while (list.children.length > 200) list.lastChild.remove();
  const live = $("events-body");
  if (live.dataset.follow === "1" && eventMatches(ev)) {
    live.insertBefore(eventRow(ev), live.firstChild);
  }
}

function connectFleet() {
  if (stream) stream.close();
  const where = $("where").value.trim();
  const url = "/api/stream" + (where ? "?where=" + encodeURIComponent(where) : "");
  stream = new EventSource(url);
  stream.onopen = () => { $("live").textContent = "live"; $("live").className = "live on"; };
  stream.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "live off"; };
  stream.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.snapshot) {
      fleet.clear();
      for (const h of msg.snapshot) fleet.set(h.id, h);
      renderFleet();
      document.body.dataset.snapshotBytes = String(e.data.length);
    } else {
      applyDelta(msg);
      // Sizes of the deltas, for the benchmark (BENCHMARKS.md).
      if (window.foundryDeltaBytes) window.foundryDeltaBytes.push(e.data.length);
      if (window.foundryDeltaHosts) window.foundryDeltaHosts.push(...(msg.upserts || []).map((h) => h.id + ":" + h.state));
    }
    if (msg.event) addEvent(msg.event);
  };
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (r.status === 401) { location.href = "/login"; throw new Error("not logged in"); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function checkWhere(where) {
  // The server parses --where; ask it so the error is the CLI's.
  try {
    await getJSON("/api/hosts?where=" + encodeURIComponent(where));
    $("where-error").textContent = "";
    return true;
  } catch (e) {
    $("where-error").textContent = e.message;
    return false;
  }
}

async function showJobs() {
  const res = await getJSON("/api/jobs");
  const frag = document.createDocumentFragment();
  for (const j of res.jobs || []) {
    const tr = el("tr");
    const a = el("a", "job", j.id);
    a.href = "#job/" + encodeURIComponent(j.id);
    const td = el("td");
    td.appendChild(a);
    tr.append(td, el("td", null, j.verb), el("td", null, j.operator), el("td", "state", j.state),
      el("td", null, j.batches_run + "/" + j.batches), el("td", null, (j.hosts || []).length || ""),
      el("td", null, fmtTime(j.created)));
    frag.appendChild(tr);
  }
  $("jobs-body").replaceChildren(frag);
}

function renderJob(j) {
  $("job-title").textContent = "Job " + j.id + " — " + j.verb + " — " + j.state;
  const n = {};
  for (const h of j.hosts || []) n[h.state] = (n[h.state] || 0) + 1;
  const total = (j.hosts || []).length;
  const done = (n.ok || 0) + (n.failed || 0) + (n.not_reached || 0);
  const items = [el("span", "count", "hosts " + total)];
  for (const s of Object.keys(n).sort()) {
    const c = el("span", "count", s + " " + n[s]);
    c.id = "job-count-" + s;
    items.push(c);
  }
  $("job-summary").replaceChildren(...items);
  $("job-bar").max = Math.max(total, 1);
  $("job-bar").value = done;
  document.body.dataset.jobDone = String(done);
  document.body.dataset.jobTotal = String(total);
  document.body.dataset.jobState = j.state;
  const frag = document.createDocumentFragment();
  for (const h of j.hosts || []) {
    const tr = el("tr");
    tr.id = "job-host-" + h.host;
    tr.append(el("td", null, h.host), el("td", null, h.batch), el("td", "state", h.state), el("td", "error", h.error || ""));
    frag.appendChild(tr);
  }
  $("job-body").replaceChildren(frag);
}

function showJob(id) {
  if (jobStream) jobStream.close();
  jobStream = new EventSource("/api/jobs/" + encodeURIComponent(id) + "/stream");
  jobStream.onmessage = (e) => renderJob(JSON.parse(e.data));
  jobStream.onerror = () => { jobStream.close(); jobStream = null; };
}

function healthCell(ok) {
  return el("td", ok ? "state-online" : "state-disconnected", ok ? "healthy" : "unhealthy");
}

// checkedCell says when a status run saw it and, for what the CLI
// reported from the cluster, who ran it.
function checkedCell(ms, operator) {
  const td = el("td", "checked", fmtTime(ms) + (operator ? " by " + operator : ""));
  td.title = ago(ms);
  return td;
}

// clusterRows are a cluster component's release (or K3s's API) and its
// nodes, as the last status run that read the cluster reported them.
function clusterRows(c) {
  const k = c.cluster;
  const out = [];
  const tr = el("tr", "cluster");
  tr.id = "stack-cluster-" + c.name;
  tr.dataset.healthy = String(k.healthy);
  let version = k.chart_version || "";
  if (k.app_version) version += (version ? " (app " + k.app_version + ")" : k.app_version);
  if (k.desired_version && k.desired_version !== k.chart_version && k.desired_version !== k.app_version) version += ", config wants " + k.desired_version;
  let service = k.status || "";
  if (k.revision) service += " rev " + k.revision;
  if (k.workloads) service += ", " + (k.workloads_ready || 0) + "/" + k.workloads + " ready";
  if (k.not_ready) service += "; not ready: " + k.not_ready;
  tr.append(el("td", null, c.name), healthCell(k.healthy), el("td", "where", k.where), el("td", null, version),
    el("td", null, service), checkedCell(k.checked_at, k.operator));
  out.push(tr);
  for (const n of k.nodes || []) {
    const nr = el("tr", "cluster node");
    nr.id = "stack-node-" + c.name + "-" + n.name;
    nr.append(el("td", null, c.name), healthCell(n.ready && !n.problem), el("td", "where", "node " + n.name),
      el("td", null, n.version || ""), el("td", null, [n.roles, n.problem || (n.ready ? "Ready" : "not Ready")].filter(Boolean).join(", ")),
      checkedCell(k.checked_at, k.operator));
    out.push(nr);
  }
  return out;
}

async function showStack() {
  const res = await getJSON("/api/stack");
  const frag = document.createDocumentFragment();
  for (const c of res.components || []) {
    if (c.cluster) for (const tr of clusterRows(c)) frag.appendChild(tr);
    for (const h of c.hosts || []) {
      const tr = el("tr");
      tr.id = "stack-host-" + c.name + "-" + h.host;
      tr.dataset.healthy = String(h.healthy);
      tr.append(el("td", null, c.name), healthCell(h.healthy),
        el("td", "where", "host " + h.host), el("td", null, h.version || ""), el("td", null, h.active_state || (h.installed ? "" : "not installed")),
        checkedCell(h.checked, ""));
      frag.appendChild(tr);
    }
  }
  if (!frag.childNodes.length) {
    const tr = el("tr");
    const td = el("td", "note", "No status run yet: run `foundry stack status`.");
    td.colSpan = 6;
    tr.appendChild(td);
    frag.appendChild(tr);
  }
  $("stack-body").replaceChildren(frag);
}

function eventMatches(ev) {
  const host = $("ev-host").value.trim(), type = $("ev-type").value.trim();
  return (!host || ev.host === host) && (!type || ev.type === type);
}

function eventRow(ev) {
  const tr = el("tr");
  tr.append(el("td", null, fmtTime(ev.time)), el("td", null, ev.host), el("td", null, ev.type),
    el("td", null, ev.severity), el("td", null, ev.message));
  return tr;
}

async function showEvents() {
  const q = new URLSearchParams({ since: $("ev-since").value.trim(), host: $("ev-host").value.trim(), type: $("ev-type").value.trim() });
  const body = $("events-body");
  try {
    const res = await getJSON("/api/events?" + q);
    $("events-error").textContent = res.truncated ? "showing the newest 1000" : "";
    const frag = document.createDocumentFragment();
    for (const ev of (res.events || []).reverse()) frag.appendChild(eventRow(ev));
    body.replaceChildren(frag);
    body.dataset.follow = "1";
  } catch (e) {
    $("events-error").textContent = e.message;
  }
}

async function showAudit() {
  const q = new URLSearchParams({ since: $("au-since").value.trim(), operator: $("au-operator").value.trim() });
  try {
    const res = await getJSON("/api/audit?" + q);
    $("audit-error").textContent = res.truncated ? "showing the newest 1000" : "";
    const frag = document.createDocumentFragment();
    for (const r of (res.records || []).reverse()) {
      const tr = el("tr");
      tr.append(el("td", null, fmtTime(r.time)), el("td", null, r.operator), el("td", null, r.role || ""),
        el("td", null, r.action), el("td", null, r.outcome), el("td", null, r.message || ""));
      frag.appendChild(tr);
    }
    $("audit-body").replaceChildren(frag);
  } catch (e) {
    $("audit-error").textContent = e.message;
  }
}

function route() {
  const hash = location.hash.slice(1) || "fleet";
  const [page, arg] = hash.split("/");
  const name = page === "job" ? "job" : page;
  for (const s of document.querySelectorAll(".page")) s.classList.toggle("shown", s.id === "page-" + name);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === "nav-" + (name === "job" ? "jobs" : name));
  if (name !== "job" && jobStream) { jobStream.close(); jobStream = null; }
  const show = { jobs: showJobs, stack: showStack, events: showEvents, audit: showAudit }[name];
  if (name === "job" && arg) showJob(decodeURIComponent(arg));
  else if (show) show().catch((e) => console.error(e));
}

document.addEventListener("DOMContentLoaded", () => {
  $("where-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const where = $("where").value.trim();
    if (where === "" || await checkWhere(where)) connectFleet();
  });
  $("events-form").addEventListener("submit", (e) => { e.preventDefault(); showEvents(); });
  $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); showAudit(); });
  window.addEventListener("hashchange", route);
  getJSON("/api/whoami").then((w) => { $("whoami").textContent = w.operator + " (" + w.role + ")"; }).catch(() => {});
  // Relative heartbeat times age in place, without new data.
  setInterval(() => {
    for (const [id, tr] of rows) {
      const h = fleet.get(id);
      if (h && tr.children[2]) tr.children[2].textContent = ago(h.last_seen);
    }
  }, 5000);
  connectFleet();
  route();
});
