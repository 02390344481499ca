import { get, post, put, del } from "../api.js";
import { h, field, errorList, announce, uid } from "../dom.js";
import { listText, parseList } from "../format.js";
import { clinicApi, hasRole } from "../session.js";

function typeForm(kind, providers, onSaved) {
  const isNew = !kind.id;
  const errors = h("div");
  const groupId = uid("offered");
  const form = h("form", { class: "card", "aria-label": isNew ? "New appointment type" : `Appointment type ${kind.name}` },
    h("h2", {}, isNew ? "Add an appointment type" : kind.name),
    h("div", { class: "row" },
      field({ label: "Code", name: "code", value: kind.code, readOnly: !isNew, hint: isNew ? "lowercase, e.g. whitening" : "Cannot change" }),
      field({ label: "Name", name: "name", value: kind.name }),
      field({ label: "Duration (minutes)", name: "duration_minutes", type: "number", min: 5, max: 480, value: kind.duration_minutes }),
      field({ label: "Buffer after (minutes)", name: "buffer_after_minutes", type: "number", min: 0, max: 240, value: kind.buffer_after_minutes })),
    h("fieldset", { "aria-describedby": groupId },
      h("legend", {}, "Offered by"),
      h("span", { id: groupId, class: "hint" }, "At least one provider"),
      providers.map((p) => {
        const id = uid("prov");
        return h("div", {}, h("input", { type: "checkbox", id, name: "providers", value: p.key, checked: kind.providers.includes(p.key) }), " ", h("label", { for: id }, p.name));
      })),
    field({ label: "New patients only", name: "new_patients_only", type: "checkbox", value: kind.new_patients_only }),
    field({ label: "Words callers use for it", name: "synonyms", control: "textarea", value: listText(kind.synonyms), hint: "One per line" }),
    errors,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, isNew ? "Add appointment type" : "Save appointment type"),
      isNew ? null : h("button", { type: "button", class: "danger", onclick: remove }, "Remove")));

  async function remove() {
    if (!window.confirm(`Remove ${kind.name}?`)) return;
    try {
      await del(clinicApi(`/appointment-types/${kind.id}`));
      announce(`${kind.name} removed.`);
      await onSaved();
    } catch (error) {
      errors.replaceChildren(errorList(error));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const d = new FormData(form);
    const body = {
      code: d.get("code"), name: d.get("name"),
      duration_minutes: Number(d.get("duration_minutes")),
      buffer_after_minutes: Number(d.get("buffer_after_minutes") || 0),
      new_patients_only: d.get("new_patients_only") === "on",
      providers: d.getAll("providers"),
      synonyms: parseList(d.get("synonyms")),
    };
    errors.replaceChildren();
    try {
      if (isNew) await post(clinicApi("/appointment-types"), body);
      else await put(clinicApi(`/appointment-types/${kind.id}`), body);
      announce(`${body.name} saved.`);
      await onSaved();
    } catch (error) {
      errors.replaceChildren(errorList(error));
    }
  });
  if (!hasRole("admin", "operator", "integrator")) form.querySelectorAll("input, textarea, button").forEach((el) => { el.disabled = true; });
  return form;
}

export async function renderTypes(main) {
  const list = h("div");
  main.append(h("h1", {}, "Appointment types"), list);
  async function load() {
    const [kinds, providers] = await Promise.all([get(clinicApi("/appointment-types")), get(clinicApi("/providers"))]);
    const blank = { code: "", name: "", duration_minutes: 30, buffer_after_minutes: 0, new_patients_only: false, providers: [], synonyms: [] };
    list.replaceChildren(
      ...kinds.map((k) => typeForm(k, providers, load)),
      hasRole("admin", "operator", "integrator") ? typeForm(blank, providers, load) : null);
  }
  await load();
}
