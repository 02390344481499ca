// Hash routes ("#/calls/abc") to views. A view renders into <main> and may return a cleanup
// function (e.g. closing a live event stream) that runs when the user navigates away.

const routes = [];
let cleanup = null;

export function route(pattern, view) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; })}$`);
  routes.push({ regex, names, view });
}

function match(path) {
  for (const { regex, names, view } of routes) {
    const found = regex.exec(path);
    if (found) return { view, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(found[i + 1])])) };
  }
  return null;
}

export async function render(main, fallback) {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.hash.replace(/^#/, "") || fallback;
  const found = match(path) || match(fallback);
  for (const link of document.querySelectorAll("nav a")) {
    const current = path.startsWith(link.getAttribute("href").slice(1));
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  const result = await found.view(main, found.params);
  if (typeof result === "function") cleanup = result;
  // Move focus to the new page's heading so keyboard and screen reader users land on it.
  const heading = main.querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

export function stop() {
  if (cleanup) { cleanup(); cleanup = null; }
}
