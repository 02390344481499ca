// Small SVG charts drawn from data: a bar chart and a line chart, each with a title and
// description for screen readers and the numbers in a table beside it.
import { h, table } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 44, right: 12, top: 12, bottom: 34 };

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function frame(title, description, maxValue, labels) {
  const id = `chart-${Math.random().toString(36).slice(2)}`;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": `${id}-t ${id}-d` },
    s("title", { id: `${id}-t` }, title), s("desc", { id: `${id}-d` }, description));
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotH - (maxValue ? (v / maxValue) * plotH : 0);
  for (const tick of [0, 0.5, 1]) {
    const value = maxValue * tick;
    svg.append(s("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), opacity: tick ? 0.3 : 1 }));
    svg.append(s("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, formatTick(value)));
  }
  const step = (WIDTH - PAD.left - PAD.right) / Math.max(labels.length, 1);
  const every = Math.ceil(labels.length / 10);
  labels.forEach((label, i) => {
    if (i % every === 0) {
      svg.append(s("text", { x: PAD.left + step * (i + 0.5), y: HEIGHT - 12, "text-anchor": "middle" }, label));
    }
  });
  return { svg, y, step };
}

function formatTick(value) {
  return value >= 10 ? Math.round(value) : Math.round(value * 100) / 100;
}

function dataTable(caption, labels, series) {
  return h("details", {},
    h("summary", {}, "Show the numbers"),
    table({
      caption,
      columns: [{ label: "Day", render: (r) => r.label },
        ...series.map((se) => ({ label: se.name, render: (r) => r.values[se.name] ?? "—" }))],
      rows: labels.map((label, i) => ({ label, values: Object.fromEntries(series.map((se) => [se.name, se.values[i]])) })),
    }));
}

function legend(series) {
  return h("div", { class: "legend", "aria-hidden": "true" },
    series.map((se, i) => h("span", {}, h("span", { class: `swatch s${i}` }), se.name)));
}

// series: [{name, values: [number|null]}], one value per label.
export function barChart({ title, description, labels, series }) {
  const max = Math.max(1, ...series.flatMap((se) => se.values.map((v) => v ?? 0)));
  const { svg, y, step } = frame(title, description, max, labels);
  const barW = (step * 0.7) / series.length;
  series.forEach((se, k) => se.values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const x = PAD.left + step * i + step * 0.15 + barW * k;
    svg.append(s("rect", { class: k ? "bar2" : "bar", x, y: y(v), width: Math.max(barW - 1, 1), height: y(0) - y(v) },
      s("title", {}, `${labels[i]}: ${v}`)));
  }));
  return h("figure", { class: "chart" }, h("figcaption", {}, h("strong", {}, title)), svg, dataTable(title, labels, series));
}

export function lineChart({ title, description, labels, series, unit = "" }) {
  const max = Math.max(1, ...series.flatMap((se) => se.values.map((v) => v ?? 0)));
  const { svg, y, step } = frame(title, description, max, labels);
  series.forEach((se, k) => {
    const points = se.values.map((v, i) => (v === null || v === undefined ? null : [PAD.left + step * (i + 0.5), y(v)]));
    let d = "";
    let pen = false;
    for (const p of points) {
      if (!p) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)} `;
      pen = true;
    }
    svg.append(s("path", { class: k ? "line2" : "line", d }));
    points.forEach((p, i) => p && svg.append(s("circle", { cx: p[0], cy: p[1], r: 3, fill: k ? "#a4161a" : "#0b5cad" },
      s("title", {}, `${labels[i]} ${se.name}: ${se.values[i]}${unit}`))));
  });
  return h("figure", { class: "chart" }, h("figcaption", {}, h("strong", {}, title)),
    series.length > 1 ? legend(series) : null, svg, dataTable(title, labels, series));
}
