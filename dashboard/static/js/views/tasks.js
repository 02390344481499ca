import { get, post, query } from "../api.js";
import { h, field, table, badge, errorList, announce } from "../dom.js";
import { dateTime } from "../format.js";
import { clinicApi, session } from "../session.js";

export async function renderTasks(main) {
  const zone = session.clinic.time_zone;
  const results = h("div");
  const form = h("form", { class: "row", "aria-label": "Filter tasks" },
    field({ label: "Status", name: "status", control: "select", options: [["open", "open"], ["resolved", "resolved"]] }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show")));
  main.append(h("h1", {}, "Staff tasks"), form, results);

  async function showDetail(task, cell) {
    try {
      const full = await get(clinicApi(`/tasks/${task.id}`));
      cell.replaceChildren(full.detail || "No details.");
    } catch (error) {
      cell.replaceChildren(errorList(error));
    }
  }

  async function resolve(task, button) {
    button.disabled = true;
    try {
      await post(clinicApi(`/tasks/${task.id}/resolve`));
      announce(`Resolved: ${task.title}`);
      await load();
    } catch (error) {
      button.disabled = false;
      results.prepend(errorList(error));
    }
  }

  async function load() {
    try {
      const tasks = await get(clinicApi(`/tasks${query({ status: new FormData(form).get("status") })}`));
      results.replaceChildren(table({
        caption: "Tasks, oldest first",
        columns: [
          { label: "Created", render: (t) => dateTime(t.created_at, zone) },
          { label: "Task", render: (t) => t.title },
          { label: "Kind", render: (t) => t.kind.replaceAll("_", " ") },
          { label: "Status", render: (t) => badge(t.status) },
          { label: "Call", render: (t) => (t.call_id ? h("a", { href: `#/calls/${t.call_id}` }, "View call") : "") },
          { label: "Details", render: (t) => { const cell = h("span"); cell.append(h("button", { type: "button", class: "secondary", onclick: () => showDetail(t, cell) }, "Show")); return cell; } },
          { label: "Action", render: (t) => (t.status === "open"
            ? h("button", { type: "button", "aria-label": `Resolve: ${t.title}`, onclick: (e) => resolve(t, e.currentTarget) }, "Resolve") : "") },
        ],
        rows: tasks,
        empty: "No tasks here.",
      }));
    } catch (error) {
      results.replaceChildren(errorList(error));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  await load();
}
