// Who is logged in; the clinic every view works on.
import { get, post, setCsrfToken } from "./api.js";

export const session = { user: null, clinic: null, idleSeconds: null };

function adopt(data) {
  session.user = data.user;
  session.clinic = data.clinic;
  session.idleSeconds = data.idle_timeout_seconds;
  setCsrfToken(data.csrf_token);
  return data;
}

export async function resume() {
  try {
    return adopt(await get("/api/auth/me"));
  } catch {
    return null;
  }
}

export async function login(email, password) {
  return adopt(await post("/api/auth/login", { email, password }));
}

export async function logout() {
  try { await post("/api/auth/logout"); } finally { forget(); }
}

export function forget() {
  session.user = null;
  session.clinic = null;
  setCsrfToken(null);
}

export function clinicApi(path = "") {
  return `/api/clinics/${encodeURIComponent(session.clinic.id)}${path}`;
}

export function hasRole(...roles) {
  return Boolean(session.user) && roles.includes(session.user.role);
}
