import { get, post } from "../api.js";
import { h, field, table, badge, errorList, announce } from "../dom.js";
import { dateTime } from "../format.js";
import { clinicApi, hasRole, session } from "../session.js";

const AUDIENCES = [["hygiene_recall", "Hygiene recall"], ["unconfirmed_tomorrow", "Unconfirmed tomorrow"], ["no_shows_last_week", "No-shows last week"]];
const CHANNELS = [["sms", "SMS"], ["voice", "Voice call"], ["sms_then_voice", "SMS, then a call"]];
const ACTIONS = { draft: ["start"], scheduled: ["pause", "cancel"], running: ["pause", "cancel"], paused: ["resume", "cancel"] };

// Shown only when this deployment has the campaigns API and the user's role may use it.
export async function campaignsAvailable() {
  if (!hasRole("admin", "staff")) return false;
  try {
    await get(clinicApi("/campaigns"));
    return true;
  } catch {
    return false;
  }
}

function progressCell(p) {
  if (!p) return "";
  const done = p.sent + p.failed + p.opted_out;
  return h("div", {},
    h("progress", { class: "progress", max: Math.max(p.targets, 1), value: done, "aria-label": `${done} of ${p.targets} contacted` }),
    h("div", { class: "muted" }, `${p.sent} sent · ${p.delivered} delivered · ${p.confirmed} confirmed · ${p.rebooked} rebooked · ${p.opted_out} opted out · ${p.failed} failed`));
}

export async function renderCampaigns(main) {
  const zone = session.clinic.time_zone;
  const list = h("div");
  main.append(h("h1", {}, "Campaigns"), list, newCampaignForm());
  let timer = null;

  async function act(campaign, action) {
    try {
      await post(clinicApi(`/campaigns/${campaign.id}/${action}`));
      announce(`${campaign.name}: ${action} done.`);
      await load();
    } catch (error) { list.prepend(errorList(error)); }
  }

  async function load() {
    try {
      const campaigns = await get(clinicApi("/campaigns"));
      const progress = await Promise.all(campaigns.map((c) => get(clinicApi(`/campaigns/${c.id}/progress`)).catch(() => null)));
      const rows = campaigns.map((c, i) => ({ ...c, progress: progress[i] }));
      list.replaceChildren(table({
        caption: "Campaigns and their progress (refreshed every 10 seconds)",
        columns: [
          { label: "Name", render: (c) => c.name },
          { label: "Audience", render: (c) => c.audience.replaceAll("_", " ") },
          { label: "Channel", render: (c) => c.channel.replaceAll("_", " ") },
          { label: "Schedule", render: (c) => c.cron ?? (c.start_at ? dateTime(c.start_at, zone) : "once") },
          { label: "Status", render: (c) => badge(c.status) },
          { label: "Progress", render: (c) => progressCell(c.progress) },
          { label: "Actions", render: (c) => h("div", { class: "actions" }, (ACTIONS[c.status] ?? []).map((a) =>
            h("button", { type: "button", class: "secondary", "aria-label": `${a} ${c.name}`, onclick: () => act(c, a) }, a))) },
        ],
        rows,
        empty: "No campaigns yet.",
      }));
    } catch (error) { list.replaceChildren(errorList(error)); }
  }

  function newCampaignForm() {
    const errors = h("div");
    const form = h("form", { class: "card", "aria-label": "New campaign" },
      h("h2", {}, "New campaign"),
      h("div", { class: "row" },
        field({ label: "Name", name: "name" }),
        field({ label: "Audience", name: "audience", control: "select", options: AUDIENCES }),
        field({ label: "Channel", name: "channel", control: "select", options: CHANNELS }),
        field({ label: "Repeat (cron)", name: "cron", hint: "Optional, clinic time, e.g. 0 10 * * 1" })),
      errors, h("button", { type: "submit" }, "Create campaign"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      errors.replaceChildren();
      try {
        await post(clinicApi("/campaigns"), { name: d.get("name"), audience: d.get("audience"), channel: d.get("channel"), cron: d.get("cron") || null });
        form.reset();
        announce("Campaign created.");
        await load();
      } catch (error) { errors.replaceChildren(errorList(error)); }
    });
    return form;
  }

  await load();
  timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
