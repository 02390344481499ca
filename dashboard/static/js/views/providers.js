import { get, post, put, del } from "../api.js";
import { h, field, errorList, announce } from "../dom.js";
import { WEEKDAYS, intervalsText, parseIntervals, parseList } from "../format.js";
import { clinicApi, hasRole } from "../session.js";

function timeOffText(entries) {
  return entries.map((t) => `${t.starts_at} ${t.ends_at}${t.reason ? ` ${t.reason}` : ""}`).join("\n");
}

function parseTimeOff(text) {
  return parseList(text).map((line) => {
    const [starts_at, ends_at, ...reason] = line.split(" ");
    return { starts_at, ends_at, reason: reason.join(" ") };
  });
}

function providerForm(provider, onSaved) {
  const isNew = !provider.id;
  const errors = h("div");
  const form = h("form", { class: "card", "aria-label": isNew ? "New provider" : `Provider ${provider.name}` },
    h("h2", {}, isNew ? "Add a provider" : provider.name),
    h("div", { class: "row" },
      field({ label: "Key", name: "key", value: provider.key, readOnly: !isNew, hint: isNew ? "A short handle, e.g. dr-smith" : "Cannot change" }),
      field({ label: "Name", name: "name", value: provider.name }),
      field({ label: "Title", name: "title", value: provider.title })),
    h("div", { class: "row" }, WEEKDAYS.map(([key, label]) =>
      field({ label: `${label} hours`, name: `weekly_${key}`, value: intervalsText(provider.weekly?.[key]) }))),
    field({ label: "Time off", name: "time_off", control: "textarea", value: timeOffText(provider.time_off ?? []),
      hint: "One per line: start end reason, with offsets, e.g. 2026-12-24T08:00:00-05:00 2026-12-24T17:00:00-05:00 Holiday" }),
    errors,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, isNew ? "Add provider" : "Save provider"),
      isNew ? null : h("button", { type: "button", class: "danger", onclick: remove }, "Remove provider")));

  async function remove() {
    if (!window.confirm(`Remove ${provider.name}? Past appointments keep their provider.`)) return;
    try {
      await del(clinicApi(`/providers/${provider.id}`));
      announce(`${provider.name} removed.`);
      await onSaved();
    } catch (error) {
      errors.replaceChildren(errorList(error));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const d = new FormData(form);
    const weekly = {};
    for (const [key] of WEEKDAYS) {
      const intervals = parseIntervals(d.get(`weekly_${key}`));
      if (intervals.length) weekly[key] = intervals;
    }
    const body = { key: d.get("key"), name: d.get("name"), title: d.get("title"), weekly, time_off: parseTimeOff(d.get("time_off")), external_ehr_id: provider.external_ehr_id ?? null };
    errors.replaceChildren();
    try {
      if (isNew) await post(clinicApi("/providers"), body);
      else await put(clinicApi(`/providers/${provider.id}`), body);
      announce(`${body.name} saved.`);
      await onSaved();
    } catch (error) {
      errors.replaceChildren(errorList(error));
    }
  });
  if (!hasRole("admin", "operator", "integrator")) form.querySelectorAll("input, textarea, button").forEach((el) => { el.disabled = true; });
  return form;
}

export async function renderProviders(main) {
  const list = h("div");
  main.append(h("h1", {}, "Providers"), list);
  async function load() {
    const providers = await get(clinicApi("/providers"));
    list.replaceChildren(
      ...providers.map((p) => providerForm(p, load)),
      hasRole("admin", "operator", "integrator") ? providerForm({ key: "", name: "", title: "", weekly: {}, time_off: [] }, load) : null);
  }
  await load();
}
