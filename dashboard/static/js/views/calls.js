import { get, query } from "../api.js";
import { h, field, table, badge, errorList } from "../dom.js";
import { dateTime, duration, ms } from "../format.js";
import { clinicApi, session, hasRole } from "../session.js";
import { transcriptList } from "./live.js";

const OUTCOMES = ["", "booked", "rescheduled", "cancelled", "answered", "transferred", "emergency", "abandoned", "failed", "in_progress"];

export async function renderCalls(main) {
  const zone = session.clinic.time_zone;
  const results = h("div");
  const form = h("form", { class: "row", "aria-label": "Filter calls" },
    field({ label: "Outcome", name: "outcome", control: "select", options: OUTCOMES.map((o) => [o, o ? o.replaceAll("_", " ") : "any"]) }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Filter")));
  main.append(h("h1", {}, "Call log"), form, results);

  async function load() {
    try {
      const calls = await get(clinicApi(`/calls${query({ outcome: new FormData(form).get("outcome"), limit: 100 })}`));
      results.replaceChildren(table({
        caption: "Calls, newest first",
        columns: [
          { label: "Started", render: (c) => h("a", { href: `#/calls/${c.id}` }, dateTime(c.started_at, zone)) },
          { label: "Outcome", render: (c) => badge(c.outcome) },
          { label: "Duration", render: (c) => duration(c.duration_seconds) },
          { label: "Transfer reason", render: (c) => c.transfer_reason ?? "" },
          { label: "Tools", render: (c) => c.tools_used.join(", ") },
          { label: "Recording", render: (c) => (c.has_recording ? "yes" : "") },
        ],
        rows: calls,
        empty: "No calls yet.",
      }));
    } catch (error) {
      results.replaceChildren(errorList(error));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  await load();
}

export async function renderCall(main, { id }) {
  const zone = session.clinic.time_zone;
  main.append(h("p", {}, h("a", { href: "#/calls" }, "← Call log")));
  let call;
  try {
    call = await get(clinicApi(`/calls/${encodeURIComponent(id)}`));
  } catch (error) {
    main.append(h("h1", {}, "Call"), errorList(error));
    return;
  }
  const canListen = call.has_recording && hasRole("admin", "staff");
  main.append(
    h("h1", {}, `Call of ${dateTime(call.started_at, zone)}`),
    h("dl", { class: "card" },
      h("dt", {}, "Outcome"), h("dd", {}, badge(call.outcome)),
      h("dt", {}, "Duration"), h("dd", {}, duration(call.duration_seconds)),
      h("dt", {}, "Caller"), h("dd", {}, [call.patient_name, call.from_number].filter(Boolean).join(" · ") || "unknown"),
      call.transfer_reason ? [h("dt", {}, "Transfer reason"), h("dd", {}, call.transfer_reason)] : null,
      call.summary ? [h("dt", {}, "Summary"), h("dd", {}, call.summary)] : null),
    canListen ? h("section", { "aria-labelledby": "rec-h" },
      h("h2", { id: "rec-h" }, "Recording"),
      h("audio", { controls: true, preload: "none", src: clinicApi(`/calls/${encodeURIComponent(id)}/recording`) },
        "Your browser cannot play this recording.")) : null,
    h("h2", {}, "Transcript"),
    call.transcript.length ? transcriptList(call.transcript) : h("p", { class: "muted" }, "No transcript."),
    h("h2", {}, "Turn latencies"),
    table({
      caption: "Per turn, from the end of the caller's speech",
      columns: [
        { label: "Turn", render: (t) => t.n },
        { label: "STT final", render: (t) => ms(t.stt_final_ms) },
        { label: "Agent first token", render: (t) => ms(t.agent_first_token_ms) },
        { label: "TTS first byte", render: (t) => ms(t.tts_first_byte_ms) },
        { label: "First audio sent", render: (t) => ms(t.first_media_ms) },
      ],
      rows: call.turn_latencies.map((t, i) => ({ n: i + 1, ...t })),
      empty: "No turns measured.",
    }),
    h("h2", {}, "Tools called"),
    h("p", {}, call.tools_used.length ? call.tools_used.join(", ") : "None."),
    h("h2", {}, "Workflows started"),
    call.workflow_ids.length ? h("ul", {}, call.workflow_ids.map((w) => h("li", {}, h("code", {}, w)))) : h("p", {}, "None."));
}
