import { get, post, patch, del } from "../api.js";
import { h, field, table, errorList, announce } from "../dom.js";
import { dateTime } from "../format.js";
import { clinicApi, session } from "../session.js";

const ROLES = [["admin", "admin"], ["staff", "staff"], ["integrator", "integrator"]];

export async function renderUsers(main) {
  const zone = session.clinic.time_zone;
  const usersBox = h("div");
  const tokensBox = h("div");
  const secretBox = h("div", { "aria-live": "polite" });
  main.append(h("h1", {}, "Users and API tokens"), h("h2", {}, "Users"), usersBox, addUserForm(), h("h2", {}, "API tokens"), secretBox, tokensBox);
  let users = [];

  async function load() {
    users = await get(clinicApi("/users"));
    usersBox.replaceChildren(table({
      caption: "People and integrations that can sign in",
      columns: [
        { label: "E-mail", render: (u) => u.email },
        { label: "Role", render: (u) => u.role },
        { label: "Active", render: (u) => (u.active ? "yes" : "no") },
        { label: "Action", render: (u) => (u.id === session.user.id ? "you" : h("button", {
          type: "button", class: "secondary", "aria-label": `${u.active ? "Deactivate" : "Reactivate"} ${u.email}`,
          onclick: () => change(u.id, { active: !u.active }),
        }, u.active ? "Deactivate" : "Reactivate")) },
      ],
      rows: users,
    }));
    const tokens = await get(clinicApi("/tokens"));
    const emailOf = Object.fromEntries(users.map((u) => [u.id, u.email]));
    tokensBox.replaceChildren(table({
      caption: "Tokens (the secret is shown once, when issued)",
      columns: [
        { label: "Name", render: (t) => t.name },
        { label: "Acts as", render: (t) => emailOf[t.user_id] ?? t.user_id },
        { label: "Starts with", render: (t) => h("code", {}, `${t.prefix}…`) },
        { label: "Last used", render: (t) => (t.last_used_at ? dateTime(t.last_used_at, zone) : "never") },
        { label: "Status", render: (t) => (t.revoked_at ? "revoked" : h("button", {
          type: "button", class: "danger", "aria-label": `Revoke token ${t.name}`, onclick: () => revoke(t),
        }, "Revoke")) },
      ],
      rows: tokens,
      empty: "No tokens issued.",
    }), issueForm());
  }

  async function change(id, body) {
    try { await patch(clinicApi(`/users/${id}`), body); announce("User updated."); await load(); }
    catch (error) { usersBox.prepend(errorList(error)); }
  }

  async function revoke(token) {
    if (!window.confirm(`Revoke ${token.name}? Programs using it stop working at once.`)) return;
    try { await del(clinicApi(`/tokens/${token.id}`)); announce("Token revoked."); await load(); }
    catch (error) { tokensBox.prepend(errorList(error)); }
  }

  function addUserForm() {
    const errors = h("div");
    const form = h("form", { class: "card", "aria-label": "Add a user" },
      h("h3", {}, "Add a user"),
      h("div", { class: "row" },
        field({ label: "E-mail", name: "email", type: "email", autocomplete: "off" }),
        field({ label: "Initial password", name: "password", type: "password", autocomplete: "new-password", hint: "At least 12 characters" }),
        field({ label: "Role", name: "role", control: "select", options: ROLES, value: "staff" })),
      errors, h("button", { type: "submit" }, "Add user"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      errors.replaceChildren();
      try {
        await post(clinicApi("/users"), { email: d.get("email"), password: d.get("password"), role: d.get("role") });
        form.reset();
        announce("User added.");
        await load();
      } catch (error) { errors.replaceChildren(errorList(error)); }
    });
    return form;
  }

  function issueForm() {
    const errors = h("div");
    const form = h("form", { class: "card", "aria-label": "Issue an API token" },
      h("h3", {}, "Issue a token"),
      h("div", { class: "row" },
        field({ label: "Name", name: "name", hint: "What uses it, e.g. practice management sync" }),
        field({ label: "Acts as", name: "user_id", control: "select", options: users.filter((u) => u.active).map((u) => [u.id, `${u.email} (${u.role})`]) })),
      errors, h("button", { type: "submit" }, "Issue token"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const d = new FormData(form);
      errors.replaceChildren();
      try {
        const issued = await post(clinicApi("/tokens"), { name: d.get("name"), user_id: d.get("user_id") });
        await load();
        secretBox.replaceChildren(h("div", { class: "card", role: "alert" },
          h("p", {}, "Copy this token now; it will not be shown again:"),
          h("p", { class: "secret" }, issued.token)));
      } catch (error) { errors.replaceChildren(errorList(error)); }
    });
    return form;
  }

  await load();
}
