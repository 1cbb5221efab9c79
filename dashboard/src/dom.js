// Small DOM helpers: elements, links between pages, tables, and a panel's three states
// (loading, empty, error) so that every view shows one of them until its data arrives.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function link(route, text) {
  return h("a", { href: `#/${route}` }, text);
}

// A table of rows: columns are [heading, row => cell]; an empty list shows `empty`.
export function table(columns, rows, empty = "Nothing yet.", name = null) {
  if (!rows.length) return h("p", { class: "empty", "data-state": "empty" }, empty);
  return h(
    "table",
    { "data-table": name, "data-rows": rows.length },
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", {}, heading)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row)))))),
  );
}

// A titled panel whose body is filled by `load(body)` (an async function); until it resolves
// the panel says it is loading, and if it fails it shows the error's message.
export function panel(title, load, name = null) {
  const body = h("div", { class: "body", "data-state": "loading" }, h("p", { class: "loading" }, "Loading…"));
  const section = h("section", { class: "panel", "data-panel": name || title }, h("h2", {}, title), body);
  Promise.resolve()
    .then(() => load(body))
    .then(() => {
      if (body.dataset.state === "loading") body.dataset.state = "ready";
      const spinner = body.querySelector(":scope > p.loading");
      if (spinner) spinner.remove();
    })
    .catch((error) => fail(body, error));
  return section;
}

export function fail(body, error) {
  body.replaceChildren(h("p", { class: "error", role: "alert" }, `Could not load: ${error.message}`));
  body.dataset.state = "error";
}

export function fill(body, ...children) {
  body.replaceChildren(...children.flat(Infinity));
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
