// Charts (Chart.js) and graphs (Cytoscape). Each drawn one is registered under its name in
// `window.__artisan` and its element carries the number of points or nodes it drew, so that a
// test (or a curious reader in the console) can check what is on screen.

import Chart from "chart.js/auto";
import cytoscape from "cytoscape";

import { h } from "./dom.js";

const registry = (window.__artisan = window.__artisan || { charts: {}, graphs: {} });
const COLORS = ["#3b6ea8", "#d9822b", "#2f9e6e", "#a23b72", "#6c757d"];

// A chart in a new canvas: `datasets` are {label, data, type?, axis?}; labels on the x axis.
export function chart(name, labels, datasets, options = {}) {
  const canvas = h("canvas", { "data-chart": name, role: "img", "aria-label": name });
  const wrapper = h("div", { class: "chart" }, canvas);
  const instance = new Chart(canvas, {
    type: options.type || "line",
    data: {
      labels,
      datasets: datasets.map((set, i) => ({
        label: set.label,
        data: set.data,
        type: set.type,
        yAxisID: set.axis || "y",
        borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length] + "99",
        stepped: options.stepped || false,
        tension: 0,
        pointRadius: 3,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: options.scales || undefined,
      plugins: { legend: { position: "bottom" } },
    },
  });
  canvas.dataset.points = String(datasets.length ? datasets[0].data.length : 0);
  registry.charts[name] = instance;
  return { element: wrapper, destroy: () => instance.destroy() };
}

const KIND_STYLE = {
  asset: { color: "#2f9e6e", shape: "round-rectangle" },
  execution: { color: "#3b6ea8", shape: "ellipse" },
  model: { color: "#d9822b", shape: "diamond" },
  curator: { color: "#a23b72", shape: "triangle" },
};

// A directed graph: nodes {id, label, kind}, edges {source, target, label}; onTap(node id).
// Cytoscape needs its container in the page (it measures it), so the graph is drawn once the
// element is attached; its element then carries `data-drawn` (the nodes drawn).
export function graph(name, nodes, edges, onTap, layout = "breadthfirst") {
  const container = h("div", { class: "graph", "data-graph": name, "data-nodes": nodes.length, "data-edges": edges.length });
  let cy = null;
  let destroyed = false;
  const draw = () => {
    if (destroyed) return;
    if (!container.isConnected) {
      requestAnimationFrame(draw);
      return;
    }
    cy = cytoscape({
      container,
      elements: [
        ...nodes.map((n) => ({ data: { id: n.id, label: n.label, kind: n.kind, root: n.root ? 1 : 0 } })),
        ...edges.map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target, label: e.label } })),
      ],
      style: [
        {
          selector: "node",
          style: {
            label: "data(label)",
            "font-size": 10,
            "text-valign": "bottom",
            "text-margin-y": 4,
            width: 22,
            height: 22,
            "background-color": (n) => (KIND_STYLE[n.data("kind")] || KIND_STYLE.asset).color,
            shape: (n) => (KIND_STYLE[n.data("kind")] || KIND_STYLE.asset).shape,
          },
        },
        { selector: "node[root = 1]", style: { "border-width": 3, "border-color": "#111" } },
        {
          selector: "edge",
          style: {
            width: 1.5,
            "curve-style": "bezier",
            "target-arrow-shape": "triangle",
            "line-color": "#999",
            "target-arrow-color": "#999",
            label: "data(label)",
            "font-size": 8,
            color: "#555",
          },
        },
      ],
      layout: { name: layout, directed: true, padding: 20, spacingFactor: 1.2 },
      wheelSensitivity: 0.3,
    });
    cy.on("tap", "node", (event) => onTap && onTap(event.target.id()));
    registry.graphs[name] = cy;
    container.dataset.drawn = String(cy.nodes().length);
  };
  requestAnimationFrame(draw);
  return {
    element: container,
    destroy: () => {
      destroyed = true;
      if (cy) cy.destroy();
    },
  };
}
