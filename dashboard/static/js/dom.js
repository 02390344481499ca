// Building the page from data without innerHTML: every text goes in as a text node, so
// nothing a caller said (transcripts) or typed (settings) can inject markup.

let nextId = 0;

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// A labelled form control; `control` is "input", "textarea" or "select" (with `options`).
export function field({ label, name, value = "", type = "text", hint, control = "input", options, ...rest }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : undefined;
  let input;
  if (control === "select") {
    input = h("select", { id, name, "aria-describedby": hintId, ...rest },
      options.map(([optValue, optLabel]) =>
        h("option", { value: optValue, selected: String(optValue) === String(value) }, optLabel)));
  } else if (control === "textarea") {
    input = h("textarea", { id, name, "aria-describedby": hintId, ...rest });
    input.value = value ?? "";
  } else {
    input = h("input", { id, name, type, "aria-describedby": hintId, ...rest });
    if (type === "checkbox") input.checked = Boolean(value);
    else input.value = value ?? "";
  }
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("span", { class: "hint", id: hintId }, hint) : null);
}

export function table({ caption, columns, rows, empty = "Nothing to show." }) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", {}, c.render(row))))))));
}

export function badge(text) {
  return h("span", { class: `badge ${text}` }, text.replaceAll("_", " "));
}

let statusTimer;
export function announce(message) {
  const region = document.getElementById("status");
  region.textContent = message;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { region.textContent = ""; }, 5000);
}

// Validation errors from the API (FastAPI's 422 shape or a plain message) as a list.
export function errorList(error) {
  const detail = error?.detail;
  const items = Array.isArray(detail)
    ? detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
    : [String(detail ?? error?.message ?? error)];
  return h("ul", { class: "error-list", role: "alert" }, items.map((text) => h("li", {}, text)));
}
