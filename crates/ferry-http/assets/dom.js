// Small helpers to build and update the DOM without a framework.

/**
 * Creates an element: `h("a", {href: "#/"}, "text", child)`. Attributes named `on…` add a
 * listener; `class`, `for`, `aria-*`, `data-*` and the rest are set as attributes; a `null`,
 * `undefined` or `false` attribute or child is left out.
 */
export function h(tag, attrs = {}, ...children) {
  const svg = tag === "svg" || tag === "polyline" || tag === "polygon" || tag === "line";
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Sets the text of `el` only when it changed (so screen readers and selections are not disturbed). */
export function setText(el, text) {
  const value = String(text ?? "");
  if (el.textContent !== value) el.textContent = value;
}

/**
 * A table: `columns` are `{label, num?}`; the answer's `tbody` is filled by the caller.
 * A caption names the table for screen readers.
 */
export function table(caption, columns) {
  const tbody = h("tbody");
  const el = h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    tbody,
  );
  return { el, tbody, columns };
}

/** A row with `cells` (text, nodes) under `columns`, numbers aligned right. */
export function row(columns, cells) {
  return h(
    "tr",
    {},
    cells.map((cell, i) => {
      const num = columns[i] && columns[i].num;
      return i === 0
        ? h("th", { scope: "row" }, cell)
        : h("td", { class: num ? "num" : null }, cell);
    }),
  );
}

/** Fills `tbody` with `rows`, or one row saying `empty` when there are none. */
export function fill(tbody, columns, rows, empty) {
  if (rows.length === 0) {
    replace(tbody, h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)));
  } else {
    replace(tbody, rows.map((cells) => row(columns, cells)));
  }
}

/**
 * Keeps the rows of `tbody` in step with `items` without rebuilding the rows that stay, so
 * focus, selection and hover survive the refresh. `cells(item)` returns per column a string
 * (updated in place), a `{text, href}` link, or a Node (replaced on every refresh).
 */
export function syncRows(tbody, columns, items, key, cells, empty) {
  const existing = new Map();
  for (const tr of tbody.querySelectorAll(":scope > tr[data-key]")) existing.set(tr.dataset.key, tr);
  const placeholder = tbody.querySelector(":scope > tr:not([data-key])");
  if (items.length === 0) {
    if (placeholder) setText(placeholder.firstChild, empty);
    else replace(tbody, h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)));
    return;
  }
  if (placeholder) placeholder.remove();
  let previous = null;
  for (const item of items) {
    const k = key(item);
    let tr = existing.get(k);
    const values = cells(item);
    if (!tr) {
      tr = h("tr", { "data-key": k });
      values.forEach((_, i) => {
        const num = columns[i] && columns[i].num;
        tr.append(i === 0 ? h("th", { scope: "row" }) : h("td", { class: num ? "num" : null }));
      });
    }
    existing.delete(k);
    values.forEach((value, i) => updateCell(tr.children[i], value));
    const want = previous ? previous.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    previous = tr;
  }
  for (const tr of existing.values()) tr.remove();
}

function updateCell(td, value) {
  if (value instanceof Node) {
    td.replaceChildren(value);
  } else if (value && typeof value === "object" && "href" in value) {
    let a = td.firstElementChild;
    if (!a || a.tagName !== "A") {
      a = h("a");
      td.replaceChildren(a);
    }
    if (a.getAttribute("href") !== value.href) a.setAttribute("href", value.href);
    setText(a, value.text);
  } else {
    if (td.firstElementChild) td.replaceChildren();
    setText(td, value);
  }
}

/** A `<dl>` of label/value pairs; class `cards` draws them as tiles (`cards small`: smaller). */
export function pairs(entries, cls = "pairs") {
  if (cls.split(" ").includes("cards")) {
    return h("dl", { class: cls }, entries.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
  }
  return h("dl", { class: cls }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
