// Start-up: resume or ask for a login, then route between the views.
import { get, lastRequestAt, whenUnauthorized } from "./api.js";
import { field, h } from "./dom.js";
import { render, route, stop } from "./router.js";
import { hasRole, logout, resume, session, forget } from "./session.js";
import { renderLogin } from "./views/login.js";
import { renderMetrics } from "./views/metrics.js";
import { renderLive } from "./views/live.js";
import { renderCalls, renderCall } from "./views/calls.js";
import { renderAppointments } from "./views/appointments.js";
import { renderTasks } from "./views/tasks.js";
import { renderSettings } from "./views/settings.js";
import { renderProviders } from "./views/providers.js";
import { renderTypes } from "./views/types.js";
import { renderUsers } from "./views/users.js";
import { renderCampaigns, campaignsAvailable } from "./views/campaigns.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");

route("/metrics", renderMetrics);
route("/live", renderLive);
route("/calls", renderCalls);
route("/calls/:id", renderCall);
route("/appointments", renderAppointments);
route("/tasks", renderTasks);
route("/campaigns", renderCampaigns);
route("/settings", renderSettings);
route("/providers", renderProviders);
route("/appointment-types", renderTypes);
route("/users", renderUsers);

function defaultPage() {
  return hasRole("operator") ? "/settings" : "/calls";
}

async function showApp() {
  document.getElementById("clinic-name").textContent = session.clinic?.name ?? "";
  document.getElementById("user-email").textContent = `${session.user.email} (${session.user.role})`;
  document.getElementById("logout").hidden = false;
  for (const item of nav.querySelectorAll("[data-role]")) {
    item.hidden = !hasRole(...item.dataset.role.split(" "));
  }
  nav.querySelector('[data-feature="campaigns"]').hidden = !(await campaignsAvailable());
  nav.hidden = false;
  await render(main, defaultPage());
}

function showLogin(message) {
  stop();
  forget();
  nav.hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("clinic-name").textContent = "";
  document.getElementById("user-email").textContent = "";
  renderLogin(main, message, start);
}

whenUnauthorized(() => showLogin("Your session has ended. Please log in again."));

// Idle logoff on screen too: once the server's idle time has passed without a request, ask
// the server (which answers 401, unless another tab kept the session alive) so patient data
// does not stay on an unattended screen.
setInterval(() => {
  if (session.user && session.idleSeconds && Date.now() - lastRequestAt() > session.idleSeconds * 1000) {
    resume().then((alive) => { if (!alive) showLogin("You were logged out after a period of inactivity."); });
  }
}, 15000);
window.addEventListener("hashchange", () => { if (session.user) render(main, defaultPage()); });
document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  showLogin("You are logged out.");
});

// The operator belongs to no clinic: it picks the one to configure.
async function chooseClinic() {
  const clinics = await get("/api/clinics");
  const form = h("form", { class: "card login", "aria-labelledby": "choose-h" },
    h("h1", { id: "choose-h" }, "Choose a clinic"),
    field({ label: "Clinic", name: "clinic", control: "select", options: clinics.map((c) => [c.id, c.name]) }),
    h("button", { type: "submit" }, "Open"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.clinic = clinics.find((c) => c.id === new FormData(form).get("clinic"));
    await showApp();
  });
  main.replaceChildren(form);
  form.querySelector("select").focus();
}

async function start() {
  if (session.clinic) await showApp();
  else await chooseClinic();
}

(async () => {
  if (await resume()) await start();
  else showLogin();
})();
