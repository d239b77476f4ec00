// The models page: the local models with their details, pull with progress, delete.
import { api, isAbort, showError, stream } from "./api.js";
import { $, el, formatBytes } from "./util.js";

const state = { controller: null };

export async function init() {
  $("#models-pull").addEventListener("submit", (e) => { e.preventDefault(); pull(); });
  $("#models-pull-stop").addEventListener("click", () => state.controller && state.controller.abort());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.controller && !$("#page-models").hidden) state.controller.abort();
  });
  await refresh();
}

export async function shown() { await refresh(); }

function contextLength(show) {
  const info = show.model_info || {};
  for (const [key, value] of Object.entries(info)) if (key.endsWith("context_length")) return value;
  return null;
}

function memoryText(memory) {
  if (!memory || typeof memory !== "object") return "—";
  for (const key of ["total", "estimate", "required", "total_bytes", "bytes", "size_vram", "ram"]) {
    if (typeof memory[key] === "number") return `≈ ${formatBytes(memory[key])}`;
  }
  const parts = Object.entries(memory).filter(([, v]) => typeof v === "number");
  if (!parts.length) return "—";
  return parts.map(([k, v]) => `${k.replace(/_/g, " ")}: ${v > 4096 ? formatBytes(v) : v}`).join(", ");
}

async function refresh() {
  let data;
  try { data = await api("/api/tags"); } catch (error) { showError(error, "could not list the models"); return; }
  const models = data.models || [];
  let loaded = new Set();
  try { loaded = new Set(((await api("/api/ps")).models || []).map((m) => m.name || m.model)); } catch (error) { showError(error, "could not list the loaded models"); }
  const tbody = $("#models-table tbody");
  tbody.replaceChildren();
  $("#models-empty").hidden = models.length > 0;
  const rows = models.map((m) => {
    const details = m.details || {};
    const context = el("td", { class: "num", "data-label": "Context" }, "…");
    const memory = el("td", { class: "num", "data-label": "Memory" }, "…");
    const row = el("tr", { "data-model": m.name },
      el("th", { scope: "row" }, m.name, loaded.has(m.name) ? el("span", { class: "badge" }, "loaded") : null, details.family ? el("div", { class: "muted" }, `${details.family} · ${details.format || ""}`) : null),
      el("td", { class: "num", "data-label": "Size" }, formatBytes(m.size)),
      el("td", { class: "num", "data-label": "Parameters" }, details.parameter_size || "—"),
      el("td", { class: "num", "data-label": "Quantization" }, details.quantization_level || "—"),
      context, memory,
      el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Delete ${m.name}`, onclick: () => remove(m.name) }, "Delete")));
    tbody.append(row);
    return { m, context, memory };
  });
  // Details come from /api/show, one model at a time so the page stays responsive.
  for (const { m, context, memory } of rows) {
    try {
      const show = await api("/api/show", { method: "POST", body: { model: m.name } });
      const ctx = contextLength(show);
      context.textContent = ctx ? Number(ctx).toLocaleString("en") : "—";
      memory.textContent = memoryText(show.memory);
      const parts = Object.entries(show.memory || {}).filter(([, v]) => typeof v === "number");
      if (parts.length) memory.title = parts.map(([k, v]) => `${k.replace(/_/g, " ")}: ${k === "num_ctx" ? v : formatBytes(v)}`).join("\n");
    } catch (error) {
      context.textContent = memory.textContent = "?";
      showError(error, `could not read the details of ${m.name}`);
    }
  }
}

async function remove(name) {
  if (!confirm(`Delete the model ${name}? Its files are removed from disk.`)) return;
  try {
    await api("/api/delete", { method: "DELETE", body: { model: name } });
    await refresh();
  } catch (error) { showError(error, `could not delete ${name}`); }
}

async function pull() {
  const name = $("#models-pull-name").value.trim();
  if (!name || state.controller) return;
  const box = $("#models-pull-box"), bar = $("#models-pull-progress"), label = $("#models-pull-label");
  state.controller = new AbortController();
  $("#models-pull-btn").disabled = true;
  $("#models-pull-stop").hidden = false;
  box.hidden = false;
  bar.removeAttribute("value");
  label.textContent = `Pulling ${name}…`;
  let success = false;
  try {
    await stream("/api/pull", {
      body: { model: name, stream: true },
      signal: state.controller.signal,
      onLine: (line) => {
        if (line.total) {
          bar.max = line.total;
          bar.value = line.completed || 0;
          label.textContent = `${line.status}: ${formatBytes(line.completed || 0)} of ${formatBytes(line.total)}`;
        } else {
          label.textContent = line.status;
        }
        if (line.status === "success") success = true;
      },
    });
    if (success) {
      label.textContent = `Pulled ${name}.`;
      $("#models-pull-name").value = "";
      await refresh();
    } else {
      showError(`the pull of ${name} ended without success; try again`);
    }
  } catch (error) {
    if (isAbort(error)) label.textContent = "Pull stopped.";
    else { label.textContent = "Pull failed."; showError(error, `could not pull ${name}`); }
  } finally {
    state.controller = null;
    $("#models-pull-btn").disabled = false;
    $("#models-pull-stop").hidden = true;
    if (!success) setTimeout(() => { if (!state.controller) box.hidden = true; }, 4000);
  }
}
