// The documents page: collections, drag-and-drop upload with progress, the document list,
// and questions answered with citations that open the quoted passage.
import { api, chatModels, isAbort, listModels, showError, stream, upload } from "./api.js";
import { enableCopyButtons, renderMarkdown } from "./markdown.js";
import { $, el, fillModels, formatBytes, guessLang } from "./util.js";

const state = { sources: [], controller: null, opener: null };
const enc = encodeURIComponent;

const current = () => $("#docs-collection").value;
const nameOf = (c) => (typeof c === "string" ? c : c.name);
const items = (data, key) => (Array.isArray(data) ? data : (data && data[key]) || []);

export async function init() {
  enableCopyButtons($("#docs-answer"));
  $("#docs-collection").addEventListener("change", refreshDocuments);
  $("#docs-new-collection").addEventListener("submit", createCollection);
  $("#docs-delete-collection").addEventListener("click", deleteCollection);
  $("#docs-add-url").addEventListener("submit", (e) => { e.preventDefault(); addUrl(); });
  const drop = $("#docs-drop"), file = $("#docs-file");
  drop.addEventListener("click", () => file.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) uploadFiles([...e.dataTransfer.files]);
  });
  file.addEventListener("change", () => { if (file.files.length) uploadFiles([...file.files]); file.value = ""; });
  $("#docs-ask").addEventListener("submit", (e) => { e.preventDefault(); ask(); });
  $("#docs-question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); ask(); }
  });
  $("#docs-ask-stop").addEventListener("click", () => state.controller && state.controller.abort());
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || $("#page-documents").hidden) return;
    if (state.controller) state.controller.abort();
    else if (!$("#docs-quote").hidden) { e.preventDefault(); closeQuote(); }
  });
  await Promise.all([refreshCollections(), refreshModels()]);
}

export async function shown() { await refreshModels(); }

async function refreshModels() { fillModels($("#docs-model"), chatModels(await listModels())); }

async function refreshCollections(select) {
  let data;
  try { data = await api("/api/collections"); } catch (error) {
    $("#docs-collection").replaceChildren(el("option", { value: "" }, "(collections unavailable)"));
    showError(error, "could not list the collections");
    return;
  }
  const collections = items(data, "collections");
  const names = collections.map(nameOf);
  const box = $("#docs-collection");
  const keep = select || box.value;
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  box.replaceChildren(...collections.map((c) => el("option", { value: nameOf(c) },
    typeof c === "string" || c.documents === undefined ? nameOf(c) : `${c.name} (${plural(c.documents, "document")})`)));
  if (!names.length) box.append(el("option", { value: "" }, "no collections yet: create one"));
  if (keep && names.includes(keep)) box.value = keep;
  await refreshDocuments();
}

async function createCollection(event) {
  event.preventDefault();
  const input = $("#docs-new-name");
  const name = input.value.trim();
  try {
    await api("/api/collections", { method: "POST", body: { name } });
    input.value = "";
    await refreshCollections(name);
  } catch (error) { showError(error, `could not create the collection ${name}`); }
}

async function deleteCollection() {
  const name = current();
  if (!name) return;
  if (!confirm(`Delete the collection ${name} and every document in it?`)) return;
  try {
    await api(`/api/collections/${enc(name)}`, { method: "DELETE" });
    await refreshCollections();
  } catch (error) { showError(error, `could not delete the collection ${name}`); }
}

function showAdded(answer) {
  const result = $("#docs-upload-result");
  const count = (x) => (Array.isArray(x) ? x.length : x || 0);
  if (count(answer.added) || count(answer.skipped)) result.append(el("p", { class: "ok-text" }, `Added ${count(answer.added)}, unchanged ${count(answer.skipped)}.`));
  for (const err of answer.errors || []) {
    const text = err.error.startsWith(err.file) ? err.error : `${err.file}: ${err.error}`;
    result.append(el("p", { class: "error-text", role: "alert" }, text));
  }
  for (const warning of answer.warnings || []) result.append(el("p", { class: "muted" }, warning));
}

async function addUrl() {
  const name = current(), input = $("#docs-url"), url = input.value.trim();
  const result = $("#docs-upload-result");
  result.replaceChildren();
  if (!name) { showError("create a collection first, then add pages to it"); return; }
  const box = $("#docs-upload"), bar = $("#docs-progress"), label = $("#docs-progress-label");
  box.hidden = false;
  bar.removeAttribute("value");
  label.textContent = `Fetching ${url}…`;
  try {
    const answer = await api(`/api/collections/${enc(name)}/documents`, { method: "POST", body: { urls: [url] } });
    box.hidden = true;
    showAdded(answer);
    input.value = "";
    await refreshCollections(name);
  } catch (error) {
    result.append(el("p", { class: "error-text", role: "alert" }, `Adding ${url} failed: ${error.message}`));
  } finally {
    box.hidden = true;
  }
}

async function refreshDocuments() {
  const tbody = $("#docs-table tbody");
  const name = current();
  let docs = [];
  if (name) {
    try { docs = items(await api(`/api/collections/${enc(name)}/documents`), "documents"); } catch (error) { showError(error, "could not list the documents"); }
  }
  tbody.replaceChildren();  // after the fetch, so the list never flickers empty
  $("#docs-empty").hidden = docs.length > 0;
  for (const doc of docs) {
    const file = doc.file || doc.name || doc.path || doc.id;
    const chunks = doc.chunks ?? doc.chunk_count ?? doc.n_chunks ?? "";
    const details = [doc.pages ? `${doc.pages} page${doc.pages === 1 ? "" : "s"}` : null, doc.bytes ? formatBytes(doc.bytes) : null].filter(Boolean).join(" · ");
    tbody.append(el("tr", {},
      el("td", { lang: guessLang(file) }, file, details ? el("div", { class: "muted" }, details) : null),
      el("td", { class: "num" }, String(chunks)),
      el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Remove ${file}`, onclick: () => removeDocument(doc.id, file) }, "Remove"))));
  }
}

async function removeDocument(id, file) {
  if (!confirm(`Remove ${file} from ${current()}?`)) return;
  try {
    await api(`/api/collections/${enc(current())}/documents/${enc(id)}`, { method: "DELETE" });
    await refreshCollections(current());
  } catch (error) { showError(error, `could not remove ${file}`); }
}

async function uploadFiles(files) {
  const name = current();
  const result = $("#docs-upload-result");
  result.replaceChildren();
  if (!name) { showError("create a collection first, then add files to it"); return; }
  const form = new FormData();
  for (const f of files) form.append("file", f, f.name);
  const box = $("#docs-upload"), bar = $("#docs-progress"), label = $("#docs-progress-label");
  box.hidden = false;
  bar.value = 0;
  label.textContent = `Uploading ${files.length === 1 ? files[0].name : `${files.length} files`}…`;
  try {
    const answer = await upload(`/api/collections/${enc(name)}/documents`, form, (fraction) => {
      bar.value = Math.round(fraction * 100);
      if (fraction >= 1) label.textContent = "Reading and indexing…";
    });
    bar.value = 100;
    box.hidden = true;
    showAdded(answer);
    await refreshCollections(name);
  } catch (error) {
    result.append(el("p", { class: "error-text", role: "alert" }, `Upload failed: ${error.message}`));
  } finally {
    box.hidden = true;
  }
}

// Asking -------------------------------------------------------------------------

function citeButtons(root) {
  // Turn [1], [2, 3] in the answer's text (not in code) into buttons that show the passage.
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement.closest("code, pre, button") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) if (/\[\d+(?:\s*,\s*\d+)*\]/.test(walker.currentNode.data)) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const parts = node.data.split(/(\[\d+(?:\s*,\s*\d+)*\])/);
    const frag = document.createDocumentFragment();
    for (const part of parts) {
      const m = part.match(/^\[(.*)\]$/);
      if (!m) { frag.append(part); continue; }
      for (const n of m[1].split(",").map((x) => Number(x.trim()))) {
        const source = state.sources.find((s) => Number(s.n) === n);
        if (source) frag.append(el("button", { type: "button", class: "cite", "aria-label": `Show source ${n}: ${source.file}${source.page ? `, page ${source.page}` : ""}`, onclick: (e) => showQuote(source, e.currentTarget) }, `[${n}]`));
        else frag.append(`[${n}]`);
      }
    }
    node.replaceWith(frag);
  }
}

function showQuote(source, opener) {
  const box = $("#docs-quote");
  const where = `[${source.n}] ${source.file}${source.page ? `, page ${source.page}` : ""}${source.anchor ? ` (${source.anchor})` : ""}`;
  box.replaceChildren(
    el("div", { class: "where" }, where),
    el("blockquote", { lang: guessLang(source.text || "") }, source.text || ""),
    el("button", { type: "button", class: "link", "aria-keyshortcuts": "Escape", onclick: closeQuote }, "Close"));
  state.opener = opener || null;
  box.hidden = false;
  box.focus();
}

function closeQuote() {
  // Hide the passage and give the focus back to the citation that opened it.
  $("#docs-quote").hidden = true;
  if (state.opener && state.opener.isConnected) state.opener.focus();
  state.opener = null;
}

function renderSources() {
  const list = $("#docs-sources");
  $("#docs-sources-h").hidden = !state.sources.length;
  list.replaceChildren(...state.sources.map((s) => el("li", { value: s.n },
    el("button", { type: "button", class: "link", onclick: (e) => showQuote(s, e.currentTarget) },
      `${s.file}${s.page ? `, page ${s.page}` : ""}`),
    s.score !== undefined && s.score !== null ? el("span", { class: "muted" }, ` · score ${Number(s.score).toFixed(2)}`) : null)));
}

async function ask() {
  const question = $("#docs-question").value.trim();
  const collection = current();
  if (!question || state.controller) return;
  if (!collection) { showError("create a collection and add documents before asking"); return; }
  const out = $("#docs-answer");
  out.replaceChildren();
  $("#docs-quote").hidden = true;
  state.sources = [];
  renderSources();
  let text = "", pending = false;
  const paint = () => {
    out.innerHTML = renderMarkdown(text);
    const lang = guessLang(text);
    if (lang) out.lang = lang; else out.removeAttribute("lang");
    citeButtons(out);
  };
  state.controller = new AbortController();
  $("#docs-ask-btn").disabled = true;
  $("#docs-ask-stop").hidden = false;
  try {
    await stream("/api/ask", {
      body: { question, collection, model: $("#docs-model").value || undefined, k: Number($("#docs-k").value) || 4, stream: true },
      signal: state.controller.signal,
      onLine: (line) => {
        if (line.sources && !line.done) { state.sources = line.sources; renderSources(); }
        if (line.delta) {
          text += line.delta;
          if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; paint(); }); }
        }
        if (line.done) {
          if (line.sources) state.sources = line.sources;
          if (typeof line.answer === "string") text = line.answer;
          renderSources();
          paint();
        }
      },
    });
  } catch (error) {
    if (!isAbort(error)) showError(error, "the question could not be answered");
  } finally {
    state.controller = null;
    $("#docs-ask-btn").disabled = false;
    $("#docs-ask-stop").hidden = true;
  }
}
