// The Artisan dashboard: a page per thing people look up, routed by the URL's hash, reading
// only the public GraphQL API (queries, and subscriptions for what moves).

import "./style.css";
import { h } from "./dom.js";
import { account, epoch, epochs, execution, lineage, model, overview } from "./views.js";

const ROUTES = [
  [/^$/, () => overview],
  [/^model\/(\d+)$/, (m) => (page) => model(page, m[1])],
  [/^account\/(0x[0-9a-fA-F]{40})$/, (m) => (page) => account(page, m[1].toLowerCase())],
  [/^epochs$/, () => epochs],
  [/^epoch\/(\d+)$/, (m) => (page) => epoch(page, m[1])],
  [/^lineage(?:\/(.+))?$/, (m) => (page) => lineage(page, m[1] ? decodeURIComponent(m[1]) : "")],
  [/^execution\/(0x[0-9a-fA-F]{64})$/, (m) => (page) => execution(page, m[1].toLowerCase())],
];

// What someone typed in the search box, to the page that shows it.
function routeFor(text) {
  const t = text.trim();
  if (/^\d+$/.test(t)) return `model/${t}`;
  if (/^0x[0-9a-fA-F]{40}$/.test(t)) return `account/${t}`;
  if (/^0x[0-9a-fA-F]{64}$/.test(t)) return `lineage/${t}`;
  return `lineage/${t}`;
}

const page = h("main", { id: "page" });
const search = h("input", { type: "search", name: "q", placeholder: "model id, account, execution, CID…", "aria-label": "search" });
const nav = h(
  "header",
  {},
  h("a", { href: "#/", class: "brand" }, "Artisan"),
  h("nav", {}, h("a", { href: "#/" }, "Overview"), h("a", { href: "#/epochs" }, "Rewards"), h("a", { href: "#/lineage" }, "Lineage"), h("a", { href: "graphql" }, "GraphiQL")),
  h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); if (search.value.trim()) location.hash = `#/${routeFor(search.value)}`; } }, search),
);
document.body.replaceChildren(nav, page);

let leave = () => {};
function render() {
  leave();
  const path = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  for (const [pattern, view] of ROUTES) {
    const match = path.match(pattern);
    if (match) {
      page.dataset.route = path || "overview";
      leave = view(match)(page) || (() => {});
      window.scrollTo(0, 0);
      return;
    }
  }
  page.dataset.route = "not-found";
  page.replaceChildren(h("h1", {}, "Not found"), h("p", {}, `Nothing here is called "${path}". `, h("a", { href: "#/" }, "Back to the overview.")));
  leave = () => {};
}
window.addEventListener("hashchange", render);
render();
