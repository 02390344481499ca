// The admin API over fetch: same-origin cookie session, CSRF header on writes, JSON errors.

let csrfToken = null;
let onUnauthorized = () => {};
let lastRequest = Date.now();

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

export function setCsrfToken(token) { csrfToken = token; }
// When the API last heard from this page: the server's idle clock restarts then too.
export function lastRequestAt() { return lastRequest; }
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  lastRequest = Date.now();
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    if (response.status === 401 && !path.endsWith("/auth/login")) onUnauthorized();
    throw new ApiError(response.status, data?.detail ?? response.statusText);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
