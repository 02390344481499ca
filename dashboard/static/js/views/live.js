import { h, badge } from "../dom.js";
import { dateTime } from "../format.js";
import { clinicApi, session } from "../session.js";

export function transcriptList(lines) {
  return h("ol", { class: "transcript", "aria-label": "Transcript" },
    lines.map((line) => h("li", { class: line.role },
      h("span", { class: "who" }, line.role === "agent" ? "Receptionist:" : line.role === "caller" ? "Caller:" : "System:"),
      line.text,
      line.interrupted ? h("span", { class: "muted" }, " (interrupted)") : null)));
}

export function renderLive(main) {
  const state = h("p", { class: "muted", role: "status" }, "Connecting…");
  const list = h("div", { "aria-live": "polite" });
  main.append(h("h1", {}, "Live calls"), state, list);
  const source = new EventSource(clinicApi("/calls/live"));
  source.addEventListener("calls", (event) => {
    const calls = JSON.parse(event.data);
    state.textContent = calls.length ? `${calls.length} call(s) in progress.` : "No calls in progress.";
    list.replaceChildren(...calls.map((call) => h("section", { class: "card", "aria-label": `Call started ${dateTime(call.started_at, session.clinic.time_zone)}` },
      h("h2", {}, `Call started ${dateTime(call.started_at, session.clinic.time_zone)} `, badge(call.direction)),
      transcriptList(call.transcript))));
  });
  source.addEventListener("error", () => { state.textContent = "Reconnecting…"; });
  return () => source.close();
}
