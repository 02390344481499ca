import { get, query } from "../api.js";
import { h, field, table, errorList } from "../dom.js";
import { barChart, lineChart } from "../charts.js";
import { duration, ms, percent } from "../format.js";
import { clinicApi } from "../session.js";

function kpi(label, value) {
  return h("div", { class: "kpi" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

export async function renderMetrics(main) {
  const body = h("div");
  const form = h("form", { class: "row", "aria-label": "Period" },
    field({ label: "From", name: "from", type: "date" }),
    field({ label: "To", name: "to", type: "date" }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show")));
  main.append(h("h1", {}, "Metrics"), form, body);

  async function load() {
    const data = new FormData(form);
    try {
      const m = await get(clinicApi(`/metrics${query({ from: data.get("from"), to: data.get("to") })}`));
      show(m);
    } catch (error) {
      body.replaceChildren(errorList(error));
    }
  }

  function show(m) {
    form.querySelector("[name=from]").value = m.start;
    form.querySelector("[name=to]").value = m.end;
    const t = m.total;
    const labels = m.days.map((d) => d.day.slice(5));
    body.replaceChildren(
      h("p", { class: "muted" }, `${m.start} to ${m.end}, days in ${m.time_zone}.`),
      h("div", { class: "kpis" },
        kpi("Calls handled", t.calls_handled),
        kpi("Average handle time", duration(t.average_handle_seconds)),
        kpi("Transfer rate", percent(t.transfer_rate)),
        kpi("Booking completion", percent(t.booking_completion_rate)),
        kpi("After-hours calls answered", t.after_hours_answered),
        kpi("Turn latency p50 / p95", `${ms(t.turn_latency_p50_ms)} / ${ms(t.turn_latency_p95_ms)}`)),
      barChart({
        title: "Calls per day",
        description: "Calls handled and after-hours calls answered, per day.",
        labels,
        series: [
          { name: "Calls handled", values: m.days.map((d) => d.calls_handled) },
          { name: "After hours", values: m.days.map((d) => d.after_hours_answered) },
        ],
      }),
      lineChart({
        title: "Booking completion and transfer rate (%)",
        description: "Share of calls with booking intent that booked, and share of calls transferred, per day.",
        labels,
        series: [
          { name: "Booking completion %", values: m.days.map((d) => (d.booking_completion_rate === null ? null : Math.round(d.booking_completion_rate * 100))) },
          { name: "Transfer rate %", values: m.days.map((d) => (d.transfer_rate === null ? null : Math.round(d.transfer_rate * 100))) },
        ],
      }),
      lineChart({
        title: "Turn latency (ms)",
        description: "From the end of the caller's speech to the first audio of the answer, p50 and p95 per day.",
        labels,
        unit: " ms",
        series: [
          { name: "p50", values: m.days.map((d) => d.turn_latency_p50_ms) },
          { name: "p95", values: m.days.map((d) => d.turn_latency_p95_ms) },
        ],
      }),
      h("h2", {}, "Transfer reasons"),
      table({
        caption: "Why calls were transferred",
        columns: [{ label: "Reason", render: (r) => r[0] }, { label: "Calls", render: (r) => r[1] }],
        rows: Object.entries(t.transfer_reasons),
        empty: "No transfers in this period.",
      }));
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  await load();
}
