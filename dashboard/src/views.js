// The dashboard's pages. Each takes the page's element and its route parameters, fills the
// page from the GraphQL API, and returns what to undo when the reader leaves it (charts,
// graphs, subscriptions).

import { query, subscribe } from "./api.js";
import { chart, graph } from "./charts.js";
import { facts, fill, h, link, panel, table } from "./dom.js";
import { age, art, artNumber, count, short, when } from "./format.js";

const ROLE_NAMES = ["creator", "operator", "protocol", "remix parent", "DAO"];
const PRICING = ["fixed", "tiered"];
const ACCESS = ["public", "allowlist"];

function cleanup() {
  const undo = [];
  return { add: (f) => undo.push(f), run: () => undo.splice(0).forEach((f) => f()) };
}

// ---------------------------------------------------------------------------------------------
// Overview: health (live), executions and fees over time, top models, latest executions (live).

const HEALTH = `subscription Health { health(everySeconds: 2) {
  checkedAt block indexedBlock nodeHead headLagBlocks projectionLagBlocks executorQueue
  outboxPending outboxBroadcast
  projections { name block lagBlocks eventsBehind }
  services { service instance state ageSeconds stale lastError }
} }`;

function healthView(body, data) {
  const x = data.health;
  const figure = (label, value, name, warn = false) =>
    h("div", { class: warn ? "figure warn" : "figure", "data-figure": name }, h("span", { class: "value" }, value), h("span", { class: "label" }, label));
  fill(
    body,
    h(
      "div",
      { class: "figures" },
      figure("API head block", count(x.block), "block"),
      figure("indexed block", count(x.indexedBlock), "indexedBlock"),
      figure("head lag (blocks)", x.headLagBlocks === null ? "–" : count(x.headLagBlocks), "headLag", x.headLagBlocks > 10),
      figure("projection lag (blocks)", count(x.projectionLagBlocks), "projectionLag", x.projectionLagBlocks > 10),
      figure("executor queue", x.executorQueue === null ? "–" : count(x.executorQueue), "executorQueue"),
      figure("outbox backlog", count(x.outboxPending + x.outboxBroadcast), "outbox", x.outboxPending + x.outboxBroadcast > 1000),
    ),
    table(
      [
        ["service", (s) => s.service],
        ["instance", (s) => s.instance],
        ["state", (s) => h("span", { class: s.stale ? "bad" : s.state === "running" ? "ok" : "" }, s.stale ? `${s.state} (stale)` : s.state)],
        ["heartbeat", (s) => `${age(s.ageSeconds)} ago`],
        ["last error", (s) => s.lastError || "–"],
      ],
      x.services,
      "No service has reported yet.",
      "services",
    ),
    h("p", { class: "note" }, `Read ${when(x.checkedAt)}; projections: `, x.projections.map((p) => `${p.name} ${p.lagBlocks ?? "–"}`).join(", ")),
  );
  body.dataset.state = "ready";
  body.dataset.checkedAt = String(x.checkedAt);
}

async function seriesPanel(body, undo, filter, name) {
  let current = null;
  const draw = async (interval) => {
    const data = await query(
      `query Series($interval: StatsInterval!, $where: ExecutionStats_filter) {
        executionStats(interval: $interval, where: $where, first: 48) { timestamp executions fees users } }`,
      { interval, where: filter },
    );
    const rows = data.executionStats.slice().reverse();
    if (current) current.destroy();
    if (!rows.length) {
      fill(body, toggle, h("p", { class: "empty", "data-state": "empty" }, "No executions yet."));
      current = null;
      return;
    }
    current = chart(
      name,
      rows.map((r) => when(r.timestamp)),
      [
        { label: "executions", data: rows.map((r) => r.executions), type: "bar", axis: "y" },
        { label: "fees (ART)", data: rows.map((r) => artNumber(r.fees)), type: "line", axis: "fees" },
      ],
      {
        type: "bar",
        scales: {
          y: { beginAtZero: true, title: { display: true, text: "executions" } },
          fees: { beginAtZero: true, position: "right", title: { display: true, text: "ART" }, grid: { drawOnChartArea: false } },
        },
      },
    );
    current.element.querySelector("canvas").dataset.interval = interval;
    fill(body, toggle, current.element);
    body.dataset.state = "ready";
  };
  const choice = (interval) =>
    h("button", { type: "button", "data-interval": interval, onclick: () => draw(interval).catch((e) => fill(body, h("p", { class: "error" }, e.message))) }, `per ${interval}`);
  const toggle = h("div", { class: "toggle" }, choice("hour"), choice("day"));
  undo.add(() => current && current.destroy());
  await draw("hour");
}

async function topModels(body, by) {
  const data = await query(
    `query Top($by: TopModelsBy!) { topModels(by: $by, first: 5) { modelId executions fees score model { owner } } }`,
    { by },
  );
  const value = { CURATION: (m) => count(m.score), USAGE: (m) => count(m.executions), FEES: (m) => art(m.fees, 4) }[by];
  fill(
    body,
    table(
      [
        ["model", (m) => link(`model/${m.modelId}`, `#${m.modelId}`)],
        ["owner", (m) => (m.model ? link(`account/${m.model.owner}`, short(m.model.owner, 4)) : "–")],
        [by.toLowerCase(), value],
      ],
      data.topModels,
      "No models yet.",
      `top-${by.toLowerCase()}`,
    ),
  );
}

const EXECUTION_FIELDS = "id modelId user cost priority blockNumber timestamp gpuMicros";

function executionRows(rows, name) {
  return table(
    [
      ["execution", (e) => link(`execution/${e.id}`, short(e.id, 6))],
      ["model", (e) => link(`model/${e.modelId}`, `#${e.modelId}`)],
      ["user", (e) => link(`account/${e.user}`, short(e.user, 4))],
      ["priority", (e) => e.priority],
      ["cost", (e) => art(e.cost)],
      ["block", (e) => count(e.blockNumber)],
    ],
    rows,
    "No executions yet.",
    name,
  );
}

async function latest(body, undo) {
  const data = await query(`{ executions(first: 10, orderBy: blockNumber, orderDirection: desc) { ${EXECUTION_FIELDS} } }`);
  let rows = data.executions;
  const render = () => fill(body, executionRows(rows, "latest"));
  render();
  const live = subscribe(`subscription { executions { ${EXECUTION_FIELDS} } }`, {}, (d) => {
    rows = [d.executions, ...rows.filter((r) => r.id !== d.executions.id)].slice(0, 10);
    render();
    body.dataset.live = String(Number(body.dataset.live || 0) + 1);
  });
  undo.add(() => live.close());
}

export function overview(page) {
  const undo = cleanup();
  const healthBody = h("div", { class: "body", "data-state": "loading" }, h("p", { class: "loading" }, "Connecting…"));
  const status = h("span", { class: "live-state" }, "");
  const health = subscribe(HEALTH, {}, (d) => healthView(healthBody, d), (state) => {
    status.textContent = state === "live" ? "● live" : state;
    if (state !== "live" && state !== "reconnecting") {
      healthBody.replaceChildren(h("p", { class: "error", role: "alert" }, state));
      healthBody.dataset.state = "error";
    }
  });
  undo.add(() => health.close());
  fill(
    page,
    h("section", { class: "panel wide", "data-panel": "health" }, h("h2", {}, "System health ", status), healthBody),
    panel("Executions and fees over time", (b) => seriesPanel(b, undo, null, "executions-over-time"), "series"),
    h(
      "div",
      { class: "row" },
      panel("Top models by curation", (b) => topModels(b, "CURATION"), "top-curation"),
      panel("Top models by usage", (b) => topModels(b, "USAGE"), "top-usage"),
      panel("Top models by fees", (b) => topModels(b, "FEES"), "top-fees"),
    ),
    panel("Latest executions (live)", (b) => latest(b, undo), "latest"),
  );
  return undo.run;
}

// ---------------------------------------------------------------------------------------------
// A model: terms, pricing curve, remix tree, usage, curation, recent executions.

const MODEL_FIELDS = "id owner cid parentId depth kind access pricingKind fixedPrice thresholds prices remixAllowed remixShareBps daoTreasury daoShareBps registeredBlock";

export function model(page, id) {
  const undo = cleanup();
  fill(page, h("h1", {}, `Model #${id}`), panel("Terms", async (body) => {
    const data = await query(
      `query Model($id: ID!, $score: ID!) {
        model(id: $id) { ${MODEL_FIELDS} usage { executions fees users lastBlock }
          accessList(first: 20) { account granted }
          parent { id parent { id } }
          children(first: 50) { id children(first: 50) { id } } }
        curationScore(id: $score) { score likes stars forks cites curators } }`,
      { id, score: `0:${id}` },
    );
    const m = data.model;
    if (!m) {
      fill(body, h("p", { class: "empty", "data-state": "empty" }, `No model #${id} as of the API's head.`));
      body.dataset.state = "empty";
      return;
    }
    const c = data.curationScore;
    fill(
      body,
      facts([
        ["owner", link(`account/${m.owner}`, m.owner)],
        ["weights CID", short(m.cid, 12)],
        ["remix of", m.parentId === "0" ? "–" : link(`model/${m.parentId}`, `#${m.parentId} (depth ${m.depth})`)],
        ["access", ACCESS[m.access] || m.access],
        ["pricing", `${PRICING[m.pricingKind] || m.pricingKind}${m.pricingKind === 0 ? `: ${art(m.fixedPrice)}` : ""}`],
        ["remix", m.remixAllowed ? `allowed, parent share ${m.remixShareBps / 100} %` : "not allowed"],
        ["DAO", m.daoShareBps ? h("span", {}, link(`account/${m.daoTreasury}`, short(m.daoTreasury, 4)), ` ${m.daoShareBps / 100} %`) : "–"],
        ["registered", `block ${count(m.registeredBlock)}`],
        ["usage", m.usage ? `${count(m.usage.executions)} executions, ${art(m.usage.fees)}, ${count(m.usage.users)} users` : "none"],
        ["curation", c ? `score ${count(c.score)}: ${c.likes} likes, ${c.stars} stars, ${c.forks} forks, ${c.cites} cites by ${c.curators} curators` : "no signals"],
        ["allowlist", m.access === 1 ? (m.accessList.filter((a) => a.granted).map((a) => short(a.account, 4)).join(", ") || "empty") : "–"],
      ]),
    );
    // The pricing curve: the price per execution by how many the model has run before.
    const steps = m.pricingKind === 0 ? [["0", m.fixedPrice]] : m.thresholds.map((t, i) => [t, m.prices[i]]);
    const tier = (i) => (i + 1 < steps.length ? `${steps[i][0]}–${Number(steps[i + 1][0]) - 1} before` : `${steps[i][0]}+ before`);
    const curve = chart("pricing-curve", steps.map((_, i) => tier(i)), [{ label: "price per execution (ART)", data: steps.map(([, p]) => artNumber(p)) }], { type: "bar", scales: { y: { beginAtZero: true } } });
    undo.add(curve.destroy);
    // The remix tree: ancestors up to two steps, descendants two steps down.
    const nodes = new Map([[m.id, { id: m.id, label: `#${m.id}`, kind: "model", root: true }]]);
    const edges = [];
    const add = (child, parent) => {
      if (!nodes.has(child)) nodes.set(child, { id: child, label: `#${child}`, kind: "model" });
      if (!nodes.has(parent)) nodes.set(parent, { id: parent, label: `#${parent}`, kind: "model" });
      edges.push({ source: parent, target: child, label: "remix" });
    };
    if (m.parent) {
      add(m.id, m.parent.id);
      if (m.parent.parent) add(m.parent.id, m.parent.parent.id);
    }
    for (const child of m.children) {
      add(child.id, m.id);
      for (const grandchild of child.children) add(grandchild.id, child.id);
    }
    const tree = graph("remix-tree", [...nodes.values()], edges, (node) => (location.hash = `#/model/${node}`));
    undo.add(tree.destroy);
    body.append(h("h3", {}, "Pricing curve"), curve.element, h("h3", {}, "Remix tree"), tree.element);
  }, "terms"),
  panel("Executions and fees over time", (b) => seriesPanel(b, undo, { model: id }, "model-over-time"), "series"),
  panel("Recent executions", async (body) => {
    const data = await query(`query Recent($id: ID!) { model(id: $id) { executions(first: 20, orderBy: blockNumber, orderDirection: desc) { ${EXECUTION_FIELDS} } } }`, { id });
    fill(body, executionRows(data.model ? data.model.executions : [], "model-executions"));
  }, "executions"));
  return undo.run;
}

// ---------------------------------------------------------------------------------------------
// An account: balances, spend over time, earnings, claims, executions.

export function account(page, id) {
  const undo = cleanup();
  fill(
    page,
    h("h1", {}, "Account ", h("code", {}, id)),
    panel("Balances", async (body) => {
      const data = await query(`query Account($id: ID!) { account(id: $id) { escrow owed pendingWithdrawal unlockAt spent earned } }`, { id });
      const a = data.account;
      if (!a) {
        fill(body, h("p", { class: "empty", "data-state": "empty" }, "This account has no balance, spend or earnings as of the API's head."));
        body.dataset.state = "empty";
        return;
      }
      fill(body, facts([
        ["escrow", art(a.escrow)],
        ["owed", art(a.owed)],
        ["pending withdrawal", a.pendingWithdrawal === "0" ? "–" : `${art(a.pendingWithdrawal)} (unlocks ${when(a.unlockAt)})`],
        ["spent", art(a.spent)],
        ["earned", art(a.earned)],
      ]));
    }, "balances"),
    panel("Spend over time", (b) => seriesPanel(b, undo, { user: id }, "account-over-time"), "series"),
    panel("Claims", async (body) => {
      const data = await query(`query Claims($id: Bytes!) { claims(where: {account: $id}, orderBy: epoch) { epoch amount blockNumber transactionHash } }`, { id });
      fill(body, table([
        ["epoch", (c) => link(`epoch/${c.epoch}`, c.epoch)],
        ["amount", (c) => art(c.amount)],
        ["block", (c) => count(c.blockNumber)],
        ["transaction", (c) => short(c.transactionHash)],
      ], data.claims, "No claims.", "claims"));
    }, "claims"),
    panel("Executions", async (body) => {
      const data = await query(`query Runs($id: Bytes!) { executions(where: {user: $id}, first: 20, orderBy: blockNumber, orderDirection: desc) { ${EXECUTION_FIELDS} } }`, { id });
      fill(body, executionRows(data.executions, "account-executions"));
    }, "executions"),
  );
  return undo.run;
}

// ---------------------------------------------------------------------------------------------
// Reward epochs and one epoch's report.

export function epochs(page) {
  fill(page, h("h1", {}, "Reward epochs"), panel("Epochs", async (body) => {
    const data = await query(`{ rewardEpochs(orderBy: id, orderDirection: desc) { id fromBlock toBlock pool total root leafCount publishedBlock } }`);
    fill(body, table([
      ["epoch", (e) => link(`epoch/${e.id}`, e.id)],
      ["blocks", (e) => `${count(e.fromBlock)}–${count(e.toBlock)}`],
      ["pool", (e) => art(e.pool)],
      ["total", (e) => art(e.total)],
      ["leaves", (e) => count(e.leafCount)],
      ["published", (e) => (e.publishedBlock ? `block ${count(e.publishedBlock)}` : "not yet")],
    ], data.rewardEpochs, "No epoch is closed yet.", "epochs"));
  }, "epochs"));
  return () => {};
}

export function epoch(page, n) {
  fill(page, h("h1", {}, `Reward epoch ${n}`), panel("Report", async (body) => {
    const data = await query(`query Report($n: Int!) { rewardReport(epoch: $n) {
      epoch fromBlock toBlock pool total storedRoot recomputedRoot publishedRoot rootMatches
      models { modelId owner parentId fees descendantsFees ratingPpm sharePpm amount }
      creators { account models amount claimed claimedBlock } } }`, { n: Number(n) });
    const r = data.rewardReport;
    fill(
      body,
      facts([
        ["blocks", `${count(r.fromBlock)}–${count(r.toBlock)}`],
        ["pool", art(r.pool)],
        ["paid out", art(r.total)],
        ["root", h("span", { class: r.rootMatches ? "ok" : "bad", "data-root-matches": String(r.rootMatches) }, r.rootMatches ? `recomputed root matches ${short(r.storedRoot)}` : `MISMATCH: stored ${short(r.storedRoot)}, recomputed ${short(r.recomputedRoot)}`)],
        ["published", r.publishedRoot ? short(r.publishedRoot) : "not yet"],
        ["download", h("span", {}, h("a", { href: `reports/rewards/${r.epoch}.csv`, download: "", "data-csv": "models" }, "models CSV"), " · ", h("a", { href: `reports/rewards/${r.epoch}/creators.csv`, download: "", "data-csv": "creators" }, "creators CSV"))],
      ]),
      h("h3", {}, "Models"),
      table([
        ["model", (m) => link(`model/${m.modelId}`, `#${m.modelId}`)],
        ["owner", (m) => link(`account/${m.owner}`, short(m.owner, 4))],
        ["fees", (m) => art(m.fees, 4)],
        ["from remixes", (m) => art(m.descendantsFees, 4)],
        ["rating", (m) => `${(m.ratingPpm / 1e4).toFixed(1)} %`],
        ["share", (m) => `${(m.sharePpm / 1e4).toFixed(2)} %`],
        ["reward", (m) => art(m.amount, 4)],
      ], r.models, "No model earned in this epoch.", "report-models"),
      h("h3", {}, "Creators"),
      table([
        ["creator", (c) => link(`account/${c.account}`, short(c.account, 4))],
        ["models", (c) => c.models.map((m) => `#${m}`).join(", ")],
        ["reward", (c) => art(c.amount, 4)],
        ["claimed", (c) => (c.claimed ? `yes, block ${count(c.claimedBlock)}` : "no")],
      ], r.creators, "No creator earned in this epoch.", "report-creators"),
    );
  }, "report"));
  return () => {};
}

// ---------------------------------------------------------------------------------------------
// Lineage: any CID, asset digest, execution or model, drawn as a graph to click through.

function nodeLabel(node) {
  if (node.kind === "model") return `model #${node.id}`;
  return `${node.kind} ${short(node.id, 4)}`;
}

export function lineage(page, id) {
  const undo = cleanup();
  const input = h("input", { type: "search", name: "lineage-id", placeholder: "CID, asset digest, execution id or model id", value: id || "", size: 70 });
  const form = h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); if (input.value.trim()) location.hash = `#/lineage/${input.value.trim()}`; } }, input, h("button", { type: "submit" }, "Trace"));
  const content = [h("h1", {}, "Lineage"), form];
  if (id) {
    content.push(panel(`Lineage of ${short(id, 10)} (both ways, 3 steps)`, async (body) => {
      const data = await query(`query Lineage($id: String!) { lineage(id: $id, direction: BOTH, depth: 3) {
        id nodes { kind id execution { id modelId user cost } model { id owner } }
        edges { relation src dst depth } } }`, { id });
      const found = data.lineage;
      const detail = h("div", { class: "detail", "data-detail": "" }, h("p", { class: "note" }, "Click a node to see it; click again to trace from it."));
      const nodes = found.nodes.map((n) => ({ id: n.id, label: nodeLabel(n), kind: n.kind, root: n.id.toLowerCase() === found.id.toLowerCase() }));
      const byId = new Map(found.nodes.map((n) => [n.id, n]));
      let selected = null;
      const view = graph("lineage", nodes, found.edges.map((e) => ({ source: e.src, target: e.dst, label: e.relation })), (nodeId) => {
        if (selected === nodeId) {
          location.hash = `#/lineage/${nodeId}`;
          return;
        }
        selected = nodeId;
        const n = byId.get(nodeId);
        const links = [link(`lineage/${nodeId}`, "trace from here")];
        if (n.kind === "execution") links.push(" · ", link(`execution/${nodeId}`, "execution and audit"));
        if (n.kind === "model") links.push(" · ", link(`model/${nodeId}`, "model page"));
        detail.replaceChildren(h("h3", {}, nodeLabel(n)), h("p", {}, h("code", {}, nodeId)), h("p", {}, ...links));
        detail.dataset.detail = nodeId;
      });
      undo.add(view.destroy);
      fill(body, h("p", { class: "note" }, `${found.nodes.length} nodes, ${found.edges.length} edges`), h("div", { class: "lineage" }, view.element, detail));
    }, "lineage"));
  }
  fill(page, ...content);
  return undo.run;
}

// ---------------------------------------------------------------------------------------------
// One execution, its settlement, and the audit's verdict with its evidence.

export function execution(page, id) {
  fill(
    page,
    h("h1", {}, "Execution ", h("code", {}, short(id, 10))),
    panel("Execution", async (body) => {
      const data = await query(`query Execution($id: ID!) { execution(id: $id) {
        id modelId user operator inputDigest outputDigest priority inputUnits gpuMicros latencyMicros
        storageBytes cost ratesVersion blockNumber blockHash timestamp transactionHash logIndex
        settlements { recipient roleName amount } rating { rating } request { maxCost nonce deadline } } }`, { id });
      const e = data.execution;
      if (!e) {
        fill(body, h("p", { class: "empty", "data-state": "empty" }, "No such execution as of the API's head."));
        body.dataset.state = "empty";
        return;
      }
      fill(
        body,
        facts([
          ["model", link(`model/${e.modelId}`, `#${e.modelId}`)],
          ["user", link(`account/${e.user}`, e.user)],
          ["operator", e.operator],
          ["input", link(`lineage/${e.inputDigest}`, short(e.inputDigest, 10))],
          ["output", link(`lineage/${e.outputDigest}`, short(e.outputDigest, 10))],
          ["meter", `${count(e.inputUnits)} input units, ${count(e.gpuMicros)} GPU µs, ${count(e.latencyMicros)} µs latency, ${count(e.storageBytes)} bytes stored`],
          ["priority", e.priority],
          ["cost", `${art(e.cost)}${e.request ? ` (max ${art(e.request.maxCost)})` : ""}`],
          ["rating", e.rating ? `${e.rating.rating} / 5` : "not rated"],
          ["on chain", `block ${count(e.blockNumber)} (${when(e.timestamp)}), tx ${short(e.transactionHash)}, log ${e.logIndex}`],
        ]),
        h("h3", {}, "Settlement"),
        table([
          ["role", (s) => s.roleName],
          ["recipient", (s) => link(`account/${s.recipient}`, short(s.recipient, 4))],
          ["amount", (s) => art(s.amount)],
        ], e.settlements, "No credits.", "settlements"),
        h("p", {}, link(`lineage/${e.id}`, "Its lineage")),
      );
    }, "execution"),
    panel("Audit (re-read from the chain)", async (body) => {
      const data = await query(`query Audit($id: String!) { audit(executionId: $id) { verdict reasons checks { name ok detail } evidence } }`, { id });
      const a = data.audit;
      fill(
        body,
        h("p", { class: `verdict ${a.verdict === "PASS" ? "ok" : "bad"}`, "data-verdict": a.verdict }, a.verdict === "PASS" ? "PASS: every check held" : `FAIL: ${a.reasons.join(", ")}`),
        table([
          ["check", (c) => c.name],
          ["", (c) => h("span", { class: c.ok ? "ok" : "bad" }, c.ok ? "✓" : "✗")],
          ["detail", (c) => c.detail],
        ], a.checks, "No checks.", "checks"),
        h("details", {}, h("summary", {}, "Evidence (what the checks read)"), h("pre", {}, JSON.stringify(a.evidence, null, 2))),
      );
    }, "audit"),
  );
  return () => {};
}
