// The broker's admin console. The daemon renders each page; this script keeps it live by
// polling the daemon's JSON endpoints (once a second), draws the rule graph's edges, and runs
// the agents, decisions and try-it pages. No framework and no build step: the daemon serves
// this file as written, and the page's Content-Security-Policy allows no other script.
"use strict";

const POLL_MS = 1000;
const TOKEN_KEY = "broker-admin-token";
const page = document.body.dataset.page;
const shared = { lostSince: null, previous: null, routeTotals: new Map(), refreshingRules: false };

// ---- small helpers -------------------------------------------------------------------------

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function $(id) { return document.getElementById(id); }

function localTime(iso) {
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toLocaleString();
}

function showLocalTimes(root) {
  for (const node of root.querySelectorAll("time[datetime]")) node.textContent = localTime(node.dateTime);
}

function pretty(value) { return JSON.stringify(value, null, 2); }

// ---- talking to the daemon -----------------------------------------------------------------

/** fetch with the session's token; notes a lost daemon and asks for a token on 401. */
async function api(path, options) {
  const headers = Object.assign({}, (options && options.headers) || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch(path, Object.assign({ cache: "no-store" }, options || {}, { headers }));
  } catch (error) {
    daemonLost();
    throw error;
  }
  daemonBack();
  if (response.status === 401) {
    askForToken();
    throw new Error("the daemon wants its admin token");
  }
  return response;
}

async function getJSON(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function daemonLost() {
  if (shared.lostSince) return;
  shared.lostSince = new Date();
  const banner = $("lost");
  banner.textContent = "Lost the daemon at " + shared.lostSince.toLocaleTimeString() +
    ": retrying every second. What this page shows is from before.";
  banner.hidden = false;
  document.body.classList.add("lost");
  $("live").textContent = "lost";
}

function daemonBack() {
  if (!shared.lostSince) return;
  shared.lostSince = null;
  $("lost").hidden = true;
  document.body.classList.remove("lost");
  $("live").textContent = "live";
}

function askForToken() {
  const form = $("token-form");
  if (!form.hidden) return;
  form.hidden = false;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
  $("token-input").value = "";
  $("token-form").hidden = true;
  refreshPage();
});

// ---- every page: the daemon's state once a second ------------------------------------------

async function pollStats() {
  let stats;
  try {
    stats = await getJSON("/stats");
  } catch (error) {
    return;
  }
  const live = $("live");
  live.classList.toggle("tick");
  showReloadError(stats);
  showWarming(stats.warming);
  if (page === "rules") updateRules(stats);
  shared.previous = stats;
}

function showReloadError(stats) {
  const banner = $("reload-error");
  if (!stats.last_error) {
    banner.hidden = true;
    return;
  }
  const key = stats.last_error.join("\n");
  if (banner.dataset.key === key && !banner.hidden) return;
  banner.dataset.key = key;
  banner.replaceChildren(
    el("strong", null, "The last rule reload failed. The rules in force are still " +
      stats.rules_hash.slice(0, 12) + "; fix the files and reload again."),
    el("ul", null, stats.last_error.map((line) => el("li", null, el("code", null, line)))));
  banner.hidden = false;
}

// The agent server restarted and its agents are reconnecting: say what waits and until when.
function showWarming(warming) {
  const banner = $("warming");
  if (!warming) {
    banner.hidden = true;
    return;
  }
  banner.replaceChildren(
    el("strong", null, "Warming up: the agent server's view has not settled. "),
    `${warming.reason}; ${warming.waiting_messages} messages wait for agents ` +
      `(since ${localTime(warming.since)}, until ${localTime(warming.deadline)} at the latest).`);
  banner.hidden = false;
}

// ---- rules ---------------------------------------------------------------------------------

function updateRules(stats) {
  const head = document.querySelector(".rules-head");
  if (head && head.dataset.hash !== stats.rules_hash) {
    refreshRulesPage();
    return;
  }
  const previous = shared.previous;
  const seconds = previous ? Math.max(0.001, stats.at - previous.at) : 0;
  $("decisions-total").textContent = stats.decisions;
  if (previous) $("decisions-rate").textContent = ((stats.decisions - previous.decisions) / seconds).toFixed(1);
  for (const card of document.querySelectorAll(".route[data-counted]")) {
    const outcomes = stats.routes[card.dataset.counted] || {};
    const total = Object.values(outcomes).reduce((sum, n) => sum + n, 0);
    const before = shared.routeTotals.get(card.dataset.counted);
    card.querySelector(".total").textContent = total;
    if (previous && before !== undefined) {
      card.querySelector(".rate").textContent = ((total - before) / seconds).toFixed(1);
    }
    shared.routeTotals.set(card.dataset.counted, total);
    card.querySelector(".outcomes").replaceChildren(
      ...Object.entries(outcomes).map(([outcome, n]) =>
        el("li", { "data-outcome": outcome }, outcome + " ", el("b", null, n))));
    card.classList.toggle("busy", total > 0);
  }
}

/** The rules changed: take the new page from the daemon and draw it again. */
async function refreshRulesPage() {
  if (shared.refreshingRules) return;
  shared.refreshingRules = true;
  try {
    const response = await api("/console");
    const text = await response.text();
    const fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
    document.querySelector("main").replaceWith(document.adoptNode(fresh));
    shared.routeTotals.clear();
    showLocalTimes(document);
    drawEdges();
  } finally {
    shared.refreshingRules = false;
  }
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** Every `otherwise` link as an arrow on the right; the evaluation order as a line on the left. */
function drawEdges() {
  const graph = $("graph");
  const layer = $("edges");
  if (!graph || !layer) return;
  const box = graph.getBoundingClientRect();
  layer.setAttribute("width", box.width);
  layer.setAttribute("height", box.height);
  layer.replaceChildren();
  const defs = svg("defs", {});
  for (const kind of ["otherwise", "next"]) {
    const marker = svg("marker", {
      id: "arrow-" + kind, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow " + kind }));
    defs.append(marker);
  }
  layer.append(defs);
  const cards = [...graph.querySelectorAll(".route")];
  const byName = new Map(cards.map((card) => [card.dataset.route, card]));
  const rect = (card) => {
    const r = card.getBoundingClientRect();
    return { left: r.left - box.left, right: r.right - box.left, top: r.top - box.top, bottom: r.bottom - box.top };
  };
  // The order routes are tried in: each top-level route to the next, the last to on_no_route.
  const spine = cards.filter((card) => !card.classList.contains("inline"));
  for (let i = 0; i + 1 < spine.length; i++) {
    const a = rect(spine[i]);
    const b = rect(spine[i + 1]);
    const x = a.left - 14;
    const path = svg("path", {
      d: `M ${a.left} ${a.top + 18} H ${x} V ${b.top + 18} H ${b.left - 2}`,
      class: "edge next", "marker-end": "url(#arrow-next)",
      "data-from": spine[i].dataset.route, "data-to": spine[i + 1].dataset.route,
    });
    path.append(svg("title", {}));
    path.firstChild.textContent = "no match: try " + spine[i + 1].dataset.route;
    layer.append(path);
  }
  let lane = 0;
  for (const card of cards) {
    const target = byName.get(card.dataset.otherwise);
    if (!target) continue;
    const a = rect(card);
    const b = rect(target);
    const y1 = (a.top + a.bottom) / 2;
    const y2 = (b.top + b.bottom) / 2;
    const bend = 28 + 10 * (lane++ % 4) + Math.min(60, Math.abs(y2 - y1) * 0.1);
    const x = Math.max(a.right, b.right);
    const path = svg("path", {
      d: `M ${a.right} ${y1} C ${x + bend} ${y1}, ${x + bend} ${y2}, ${b.right + 2} ${y2}`,
      class: "edge otherwise", "marker-end": "url(#arrow-otherwise)",
      "data-from": card.dataset.route, "data-to": target.dataset.route,
    });
    path.append(svg("title", {}));
    path.firstChild.textContent = "otherwise: " + card.dataset.route + " → " + target.dataset.route;
    layer.append(path);
  }
}

// ---- agents --------------------------------------------------------------------------------

const agentView = { offset: 0, limit: 100, q: "", online: "", sort: "agent_id", order: "asc" };

async function loadAgents() {
  const query = new URLSearchParams({
    offset: agentView.offset, limit: agentView.limit, sort: agentView.sort, order: agentView.order,
  });
  if (agentView.q) query.set("q", agentView.q);
  if (agentView.online) query.set("online", agentView.online);
  let answer;
  try {
    answer = await getJSON("/agents?" + query);
  } catch (error) {
    return;
  }
  $("sync").textContent = (answer.synced ? "synced" : answer.state) + " since " + localTime(answer.state_since) +
    (answer.warming ? ", warming up" : "");
  $("sync").className = "sync " + (answer.synced && !answer.warming ? "ok" : "warn");
  const first = answer.matched === 0 ? 0 : answer.offset + 1;
  const last = Math.min(answer.offset + answer.agents.length, answer.matched);
  $("agent-range").textContent = `${first}–${last} of ${answer.matched}` +
    (answer.matched !== answer.count ? ` (of ${answer.count})` : "") + ` · ${answer.online} online`;
  $("agent-previous").disabled = answer.offset === 0;
  $("agent-next").disabled = answer.next_offset === null;
  $("agent-rows").replaceChildren(...answer.agents.map((agent) =>
    el("tr", { "data-agent-id": agent.agent_id, "data-online": String(agent.is_online) },
      el("td", null, el("code", null, agent.agent_id)),
      el("td", null, agent.agent_name),
      el("td", null, el("span", { class: agent.is_online ? "state online" : "state offline" },
        agent.is_online ? "online" : "offline")),
      el("td", null, agent.last_seen),
      el("td", { class: "metrics" }, Object.entries(agent.metrics).map(([k, v]) => el("span", null, k + "=" + v))),
      el("td", { class: "number" }, agent.decisions))));
}

function setUpAgents() {
  let typing;
  $("agent-query").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      agentView.q = $("agent-query").value.trim();
      agentView.offset = 0;
      loadAgents();
    }, 200);
  });
  $("agent-online").addEventListener("change", () => {
    agentView.online = $("agent-online").value;
    agentView.offset = 0;
    loadAgents();
  });
  $("agent-limit").addEventListener("change", () => {
    agentView.limit = Number($("agent-limit").value);
    agentView.offset = 0;
    loadAgents();
  });
  $("agent-filters").addEventListener("submit", (event) => event.preventDefault());
  $("agent-previous").addEventListener("click", () => {
    agentView.offset = Math.max(0, agentView.offset - agentView.limit);
    loadAgents();
  });
  $("agent-next").addEventListener("click", () => {
    agentView.offset += agentView.limit;
    loadAgents();
  });
  for (const header of document.querySelectorAll("th[data-sort]")) {
    header.addEventListener("click", () => {
      const key = header.dataset.sort;
      agentView.order = agentView.sort === key && agentView.order === "asc" ? "desc" : "asc";
      agentView.sort = key;
      agentView.offset = 0;
      for (const other of document.querySelectorAll("th[data-sort]")) other.removeAttribute("aria-sort");
      header.setAttribute("aria-sort", agentView.order === "asc" ? "ascending" : "descending");
      loadAgents();
    });
  }
  loadAgents();
  setInterval(loadAgents, 2 * POLL_MS);
}

// ---- traces (decisions and try it) ---------------------------------------------------------

function renderTrace(trace) {
  const steps = trace.steps.map((step) => {
    const held = step.result !== "not_matched";
    const item = el("li", { class: held ? "step held" : "step failed" },
      el("span", { class: "mark" }, held ? "✓" : "✗"), " ", el("strong", null, step.route), " ",
      el("span", { class: "source" }, step.location));
    if (!held) item.append(el("div", { class: "why" }, "failed: ", el("code", null, step.failed_test)));
    if (step.candidates) {
      const count = step.candidate_count === undefined ? step.candidates.length : step.candidate_count;
      const shown = step.candidates.slice(0, 20).join(", ") + (count > 20 ? ", …" : "");
      item.append(el("div", { class: "candidates" },
        `candidates (${count}) from ${step.selection || "agents"}: `, shown || "none"));
    }
    if (step.result === "no_agent") item.append(el("div", { class: "why" }, "no agent chosen: following otherwise"));
    return item;
  });
  const decision = trace.decision;
  const summary = [decision.outcome.replace("_", " "), decision.route ? "by " + decision.route : "no route matched"];
  if (decision.reason) summary.push("reason: " + decision.reason);
  const deliveries = decision.deliveries.map((delivery) =>
    el("li", null, "to ", el("code", null, delivery.queue || `${delivery.exchange} / ${delivery.routing_key}`),
      delivery.agent_id ? el("span", null, " (agent ", el("code", null, delivery.agent_id), ")") : null,
      el("details", { class: "body" }, el("summary", null, "edited message"), el("pre", null, pretty(delivery.message)))));
  const skipped = trace.skipped_by_index.length
    ? el("details", { class: "skipped" }, el("summary", null, `${trace.skipped_by_index.length} routes skipped by the index`),
      el("ul", null, trace.skipped_by_index.map((s) => el("li", null, `${s.route} (${s.location}): ${s.failed_test}`))))
    : null;
  return el("div", { class: "trace" },
    el("ol", { class: "steps" }, steps), skipped,
    el("p", { class: "decision-line outcome-" + decision.outcome }, summary.join(" · ")),
    el("ul", { class: "deliveries" }, deliveries),
    el("details", { class: "body" }, el("summary", null, "message as received"), el("pre", null, pretty(trace.message))));
}

// ---- decisions -----------------------------------------------------------------------------

const decisionView = { seen: new Set(), route: "", outcome: "" };

async function fillDecisionFilters() {
  try {
    const [outline, stats] = await Promise.all([getJSON("/rules/outline"), getJSON("/stats")]);
    const routes = outline.routes.map((r) => r.kind === "on_no_route" ? "none" : r.name);
    const outcomes = new Set(["published", "dead_letter_no_route", "dropped", "status_update", "requeued"]);
    for (const byOutcome of Object.values(stats.routes)) for (const o of Object.keys(byOutcome)) outcomes.add(o);
    const fill = (select, values) => {
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "" }, "any"), ...values.map((v) => el("option", { value: v }, v)));
      select.value = chosen;
    };
    fill($("decision-route"), routes);
    fill($("decision-outcome"), [...outcomes].sort());
  } catch (error) {
    // the next poll tries again
  }
}

async function loadDecisions() {
  if (!$("decision-follow").checked && decisionView.seen.size) return;
  const query = new URLSearchParams({ limit: 100, traces: 0 });
  if (decisionView.route) query.set("route", decisionView.route);
  if (decisionView.outcome) query.set("outcome", decisionView.outcome);
  let records;
  try {
    records = await getJSON("/decisions?" + query);
  } catch (error) {
    return;
  }
  const list = $("decisions");
  const fresh = [];
  for (const record of records) {
    const key = record.at + "|" + record.message_id + "|" + record.route + "|" + record.outcome;
    if (decisionView.seen.has(key)) continue;
    decisionView.seen.add(key);
    fresh.push(el("li", { class: "decision", "data-route": record.route || "none", "data-outcome": record.outcome },
      el("div", { class: "decision-head" },
        el("time", { datetime: record.at }, localTime(record.at)), " ",
        el("strong", null, record.route || "no route"), " ",
        el("span", { class: "outcome outcome-" + record.outcome }, record.outcome), " ",
        record.message_id ? el("code", null, String(record.message_id)) : null),
      record.traced ? traceBox(record.id)
        : record.explanation ? el("pre", { class: "explanation" }, record.explanation) : null));
  }
  list.prepend(...fresh);
  while (list.children.length > 300) list.lastChild.remove();
  if (!list.children.length) list.replaceChildren(el("li", { class: "empty" }, "No decision matches yet."));
  else if (fresh.length) for (const empty of list.querySelectorAll(".empty")) empty.remove();
}

/** A folded trace, fetched from the daemon the first time it is opened. */
function traceBox(id) {
  const box = el("details", { class: "trace-box" }, el("summary", null, "trace"));
  box.addEventListener("toggle", async () => {
    if (!box.open || box.dataset.loaded) return;
    box.dataset.loaded = "yes";
    try {
      const [record] = await getJSON("/decisions?id=" + encodeURIComponent(id));
      box.append(record && record.trace ? renderTrace(record.trace)
        : el("p", { class: "note" }, "This decision is no longer among the recent ones."));
    } catch (error) {
      delete box.dataset.loaded;
    }
  });
  return box;
}

function setUpDecisions() {
  const changed = () => {
    decisionView.route = $("decision-route").value;
    decisionView.outcome = $("decision-outcome").value;
    decisionView.seen.clear();
    $("decisions").replaceChildren();
    loadDecisions();
  };
  $("decision-route").addEventListener("change", changed);
  $("decision-outcome").addEventListener("change", changed);
  $("decision-filters").addEventListener("submit", (event) => event.preventDefault());
  fillDecisionFilters();
  loadDecisions();
  setInterval(loadDecisions, POLL_MS);
  setInterval(fillDecisionFilters, 10 * POLL_MS);
}

// ---- try it --------------------------------------------------------------------------------

function renderDiagnostics(rules, diagnostics) {
  const byLine = new Map();
  for (const d of diagnostics) byLine.set(d.line, (byLine.get(d.line) || []).concat([d]));
  const lines = rules.split("\n");
  const listing = el("ol", { class: "listing" });
  lines.forEach((text, index) => {
    const number = index + 1;
    listing.append(el("li", { class: byLine.has(number) ? "line marked" : "line", value: number }, el("code", null, text)));
    for (const d of byLine.get(number) || []) {
      listing.append(el("li", { class: "diagnostic " + d.severity, value: number },
        `${d.line}:${d.column}: ${d.severity}: ${d.message}`));
    }
  });
  return el("div", { class: "diagnostics" },
    el("p", null, el("strong", null, "The pasted rules do not compile (nothing was evaluated):")),
    el("ul", { class: "diagnostic-list" }, diagnostics.map((d) => el("li", { class: d.severity }, el("code", null, d.text)))),
    listing);
}

async function runTrial(event) {
  event.preventDefault();
  const result = $("try-result");
  result.hidden = false;
  let message;
  try {
    message = JSON.parse($("try-message").value);
  } catch (error) {
    result.replaceChildren(el("p", { class: "error" }, "The message is not JSON: " + error.message));
    return;
  }
  const rules = $("try-rules").value;
  result.replaceChildren(el("p", null, "Evaluating…"));
  let response;
  try {
    response = await api("/-/try", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message, rules }),
    });
  } catch (error) {
    result.replaceChildren(el("p", { class: "error" }, "No answer: " + error.message));
    return;
  }
  const answer = await response.json();
  if (response.status === 422) {
    result.replaceChildren(renderDiagnostics(rules, answer.diagnostics));
    return;
  }
  if (!response.ok) {
    result.replaceChildren(el("p", { class: "error" }, answer.error || "HTTP " + response.status));
    return;
  }
  const trace = renderTrace(answer.trace);
  for (const body of trace.querySelectorAll(".deliveries details")) body.open = true;
  result.replaceChildren(el("div", null,
    el("p", { class: "note" }, answer.rules === "pasted" ? "Evaluated with the pasted rules." :
      "Evaluated with the rules in force (" + answer.trace.rule_set.hash.slice(0, 12) + ")."),
    answer.warnings.length ? el("ul", { class: "diagnostic-list" },
      answer.warnings.map((w) => el("li", { class: "warning" }, el("code", null, w.text)))) : null,
    trace,
    el("details", { class: "explanation" }, el("summary", null, "as broker explain prints it"),
      el("pre", null, answer.explanation))));
}

// ---- start ---------------------------------------------------------------------------------

function refreshPage() {
  if (page === "agents") loadAgents();
  if (page === "decisions") { fillDecisionFilters(); loadDecisions(); }
  pollStats();
}

showLocalTimes(document);
if (page === "rules") {
  drawEdges();
  window.addEventListener("resize", drawEdges);
}
if (page === "agents") setUpAgents();
if (page === "decisions") setUpDecisions();
if (page === "tryIt") $("try-form").addEventListener("submit", runTrial);
pollStats();
setInterval(pollStats, POLL_MS);
