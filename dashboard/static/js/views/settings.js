import { get, patch, put } from "../api.js";
import { h, field, errorList, announce } from "../dom.js";
import { WEEKDAYS, intervalsText, parseIntervals, linesText, parseLines, listText, parseList } from "../format.js";
import { clinicApi, hasRole } from "../session.js";

function holidaysText(holidays) {
  return holidays.map((d) => `${d.day} ${d.name}`).join("\n");
}

function parseHolidays(text) {
  return parseList(text).map((line) => {
    const [day, ...name] = line.split(" ");
    return { day, name: name.join(" ") };
  });
}

export async function renderSettings(main) {
  main.append(h("h1", {}, "Agent settings"));
  const s = await get(clinicApi("/settings"));
  const editable = hasRole("admin", "operator");
  const errors = h("div");
  const form = h("form", { class: "card", "aria-label": "Agent settings" },
    h("fieldset", { disabled: !editable },
      h("legend", {}, "How the receptionist speaks"),
      h("div", { class: "row" },
        field({ label: "Agent name", name: "agent_name", value: s.agent_name }),
        field({ label: "Voice", name: "voice", value: s.voice, hint: "TTS voice id (flite: slt, kal…)" })),
      field({ label: "Greeting", name: "greeting", value: s.greeting, control: "textarea", hint: "The first thing callers hear. Used from the next call on." }),
      h("div", { class: "row" },
        field({ label: "Maximum call length (seconds)", name: "max_call_seconds", type: "number", min: 60, max: 14400, value: s.max_call_seconds }),
        field({ label: "Transfer number", name: "transfer_number", value: s.transfer_number, hint: "E.164, e.g. +15551234567" }),
        field({ label: "Emergency number", name: "emergency_number", value: s.emergency_number })),
      field({ label: "Emergency instructions", name: "emergency_instructions", value: s.emergency_instructions, control: "textarea" }),
      h("h2", {}, "Opening hours"),
      h("p", { class: "hint" }, "Per day, intervals like 08:00-12:00, 13:00-17:00. Leave empty when closed."),
      h("div", { class: "row" }, WEEKDAYS.map(([key, label]) =>
        field({ label, name: `hours_${key}`, value: intervalsText(s.business_hours[key]) }))),
      field({ label: "Holidays", name: "holidays", value: holidaysText(s.holidays), control: "textarea", hint: "One per line: YYYY-MM-DD name" }),
      field({ label: "FAQ answers", name: "faq", value: linesText(s.faq), control: "textarea", hint: "One per line: topic: answer" }),
      field({ label: "Accepted insurance", name: "accepted_insurance", value: listText(s.accepted_insurance), control: "textarea", hint: "One payer per line" })),
    errors,
    editable ? h("button", { type: "submit" }, "Save settings") : h("p", { class: "muted" }, "Only admins can change settings."));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const d = new FormData(form);
    const hours = {};
    for (const [key] of WEEKDAYS) {
      const intervals = parseIntervals(d.get(`hours_${key}`));
      if (intervals.length) hours[key] = intervals;
    }
    errors.replaceChildren();
    try {
      await patch(clinicApi("/settings"), {
        agent_name: d.get("agent_name"),
        voice: d.get("voice"),
        greeting: d.get("greeting"),
        max_call_seconds: Number(d.get("max_call_seconds")),
        transfer_number: d.get("transfer_number"),
        emergency_number: d.get("emergency_number"),
        emergency_instructions: d.get("emergency_instructions"),
        business_hours: hours,
        holidays: parseHolidays(d.get("holidays")),
        faq: parseLines(d.get("faq")),
        accepted_insurance: parseList(d.get("accepted_insurance")),
      });
      announce("Settings saved. The next call uses them.");
    } catch (error) {
      errors.replaceChildren(errorList(error));
      errors.querySelector("li")?.setAttribute("tabindex", "-1");
    }
  });
  main.append(form);
  if (editable) {
    main.append(await numbersSection(), await adaptersSection());
  }
}

async function numbersSection() {
  const { numbers } = await get(clinicApi("/phone-numbers"));
  const errors = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "numbers-h" },
    h("h2", { id: "numbers-h" }, "Phone numbers"),
    field({ label: "Numbers that ring this clinic", name: "numbers", value: listText(numbers), control: "textarea", hint: "One E.164 number per line" }),
    errors,
    h("button", { type: "submit" }, "Save numbers"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    try {
      await put(clinicApi("/phone-numbers"), { numbers: parseList(new FormData(form).get("numbers")) });
      announce("Phone numbers saved.");
    } catch (error) {
      errors.replaceChildren(errorList(error));
    }
  });
  return form;
}

async function adaptersSection() {
  const catalog = await get(clinicApi("/adapters"));
  const section = h("section", { class: "card", "aria-labelledby": "adapters-h" },
    h("h2", { id: "adapters-h" }, "Adapters"),
    h("p", { class: "hint" }, 'Secrets are never shown: a stored one reads "set"; leave it as "set" to keep it.'));
  for (const [kind, names] of Object.entries(catalog.available)) {
    const current = catalog.configured[kind] ?? { name: names[0], settings: {} };
    const errors = h("div");
    const form = h("form", { "aria-label": `${kind} adapter` },
      h("h3", {}, kind.toUpperCase()),
      h("div", { class: "row" },
        field({ label: `${kind} adapter`, name: "name", control: "select", value: current.name, options: names.map((n) => [n, n]) }),
        field({ label: "Settings", name: "settings", control: "textarea", value: linesText(current.settings), hint: "One per line: name: value" })),
      errors,
      h("button", { type: "submit", class: "secondary" }, `Save ${kind}`));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      errors.replaceChildren();
      try {
        await put(clinicApi(`/adapters/${kind}`), { name: d.get("name"), settings: parseLines(d.get("settings")) });
        announce(`${kind} adapter saved.`);
      } catch (error) {
        errors.replaceChildren(errorList(error));
      }
    });
    section.append(form);
  }
  return section;
}
