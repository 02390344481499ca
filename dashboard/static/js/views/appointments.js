import { get, post, query } from "../api.js";
import { h, field, table, badge, errorList, announce } from "../dom.js";
import { dateTime } from "../format.js";
import { clinicApi, session } from "../session.js";

const STATUSES = ["", "pending", "booked", "cancelled", "failed", "completed", "no_show"];

export async function renderAppointments(main) {
  const zone = session.clinic.time_zone;
  const results = h("div");
  const form = h("form", { class: "row", "aria-label": "Filter appointments" },
    field({ label: "Status", name: "status", control: "select", options: STATUSES.map((s) => [s, s ? s.replaceAll("_", " ") : "any"]) }),
    field({ label: "From", name: "from", type: "date" }),
    field({ label: "To", name: "to", type: "date" }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Filter")));
  main.append(h("h1", {}, "Appointments"), form, results);

  async function cancel(appointment, button) {
    if (!window.confirm(`Cancel ${appointment.patient_name}'s ${appointment.appointment_type_name}?`)) return;
    button.disabled = true;
    try {
      const result = await post(clinicApi(`/appointments/${appointment.id}/cancel`), { reason: "cancelled by the clinic" });
      announce(result.status === "rejected" ? `Not cancelled: ${result.reason}` : "Cancellation accepted.");
      await load();
    } catch (error) {
      button.disabled = false;
      results.prepend(errorList(error));
    }
  }

  async function load() {
    const data = new FormData(form);
    try {
      const rows = await get(clinicApi(`/appointments${query({ status: data.get("status"), from: data.get("from"), to: data.get("to") })}`));
      results.replaceChildren(table({
        caption: "Appointments by start time",
        columns: [
          { label: "When", render: (a) => dateTime(a.starts_at, zone) },
          { label: "Patient", render: (a) => a.patient_name },
          { label: "Type", render: (a) => a.appointment_type_name },
          { label: "Provider", render: (a) => a.provider_name },
          { label: "Status", render: (a) => badge(a.status) },
          { label: "Action", render: (a) => (["pending", "booked"].includes(a.status)
            ? h("button", { type: "button", class: "secondary", "aria-label": `Cancel ${a.patient_name} at ${dateTime(a.starts_at, zone)}`, onclick: (e) => cancel(a, e.currentTarget) }, "Cancel")
            : "") },
        ],
        rows,
        empty: "No appointments match.",
      }));
    } catch (error) {
      results.replaceChildren(errorList(error));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  await load();
}
