import { h, field, errorList } from "../dom.js";
import { login } from "../session.js";

export function renderLogin(main, message, onLoggedIn) {
  const errors = h("div");
  const form = h("form", { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in"),
    message ? h("p", { role: "alert" }, message) : null,
    field({ label: "E-mail", name: "email", type: "email", autocomplete: "username", required: true }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    errors,
    h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    errors.replaceChildren();
    try {
      await login(data.get("email"), data.get("password"));
      await onLoggedIn();
    } catch (error) {
      errors.replaceChildren(errorList(error.status === 429 ? "Too many attempts; wait a minute." : error));
      form.querySelector("input[name=password]").focus();
    }
  });
  main.replaceChildren(form);
  form.querySelector("input").focus();
}
