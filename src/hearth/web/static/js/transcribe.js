// The transcribe page: a file or a URL, progress, then transcript, translation and summary
// side by side, with SRT / TXT / MD downloads.
import { chatModels, isAbort, listModels, showError, stream, uploadStream } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { $, el, fillModels, formatTime, guessLang } from "./util.js";

const state = { controller: null, urls: [], source: "" };

export async function init() {
  $("#tr-form").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  $("#tr-stop").addEventListener("click", () => state.controller && state.controller.abort());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.controller && !$("#page-transcribe").hidden) state.controller.abort();
  });
  await refreshModels();
}

export async function shown() { await refreshModels(); }

async function refreshModels() { fillModels($("#tr-model"), chatModels(await listModels())); }

function progress(line) {
  const bar = $("#tr-progress"), label = $("#tr-progress-label");
  const stage = line.stage || line.status || "working";
  if (line.total) {
    bar.max = line.total;
    bar.value = line.completed || 0;
    const pct = Math.round((100 * (line.completed || 0)) / line.total);
    label.textContent = `${line.status || stage} (${pct}%)`;
  } else {
    bar.removeAttribute("value");
    label.textContent = `${line.status || stage}…`;
  }
}

function segments(box, list, fallback, missing = []) {
  if (list && list.length) {
    const skipped = new Set(missing);
    box.replaceChildren(...list.map((s, i) => el("p", { class: skipped.has(i) ? "segment untranslated" : "segment" },
      el("time", {}, formatTime(s.start)),
      el("span", { lang: guessLang(s.text || "") }, s.text),
      skipped.has(i) ? el("span", { class: "muted" }, "(not translated)") : null)));
  } else if (fallback) {
    box.replaceChildren(el("p", { lang: guessLang(fallback), style: "white-space: pre-wrap" }, fallback));
  } else {
    box.replaceChildren(el("p", { class: "muted" }, "—"));
  }
}

function download(id, text, type) {
  const link = $(id);
  if (!text) { link.hidden = true; return; }
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  state.urls.push(url);
  link.href = url;
  link.hidden = false;
}

function show(result) {
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
  $("#tr-result").hidden = false;
  const duration = result.duration ? ` · ${formatTime(result.duration)}` : "";
  $("#tr-meta").textContent = `Language: ${result.language || "?"}${duration}`;
  segments($("#tr-transcript"), result.segments, result.text);
  segments($("#tr-translation"), result.translated_segments, result.translation, result.untranslated || []);
  const notes = (result.warnings || []).map((w) => el("p", { class: "warning-text" }, `Warning: ${w}`));
  if (result.source === "captions" && !/\.(vtt|srt)$/i.test(state.source || "")) {
    notes.unshift(el("p", { class: "note" }, `Used the video's captions (${result.language}), not speech recognition. `
      + "Tick “Ignore captions” and transcribe again to recognise the speech."));
  }
  $("#tr-notes").replaceChildren(...notes);
  $("#tr-notes").hidden = !notes.length;
  const summary = Array.isArray(result.summary) ? result.summary.map((s) => `- ${s}`).join("\n") : result.summary || "";
  const out = $("#tr-summary-out");
  if (summary) { out.innerHTML = renderMarkdown(summary); const lang = guessLang(summary); if (lang) out.lang = lang; }
  else out.replaceChildren(el("p", { class: "muted" }, "—"));
  download("#tr-dl-srt", result.srt, "application/x-subrip");
  download("#tr-dl-txt", result.text, "text/plain");
  download("#tr-dl-md", result.markdown, "text/markdown");
}

async function start() {
  if (state.controller) return;
  const file = $("#tr-file").files[0];
  const url = $("#tr-url").value.trim();
  if (!file && !url) { showError("choose an audio or video file, or paste a URL"); return; }
  const fields = {
    language: $("#tr-language").value,
    translate_to: $("#tr-translate").value,
    summary: $("#tr-summary").checked,
    model: $("#tr-model").value,
    captions: $("#tr-no-captions").checked ? "never" : "",
  };
  state.source = file ? file.name : url;
  const needsModel = fields.translate_to || fields.summary;
  let request;
  if (file) {
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [key, value] of Object.entries(fields)) {
      if (value === "" || value === false || (key === "model" && !needsModel)) continue;
      form.append(key, String(value));
    }
    request = { form };
  } else {
    const body = { url };
    for (const [key, value] of Object.entries(fields)) {
      if (value === "" || value === false || (key === "model" && !needsModel)) continue;
      body[key] = value;
    }
    request = { body };
  }
  state.controller = new AbortController();
  $("#tr-start").disabled = true;
  $("#tr-stop").hidden = false;
  $("#tr-progress-box").hidden = false;
  $("#tr-result").hidden = true;
  progress({ status: file ? `uploading ${file.name}` : "fetching" });
  let done = false;
  try {
    const onLine = (line) => {
      if (line.done && line.result) { done = true; show(line.result); }
      else if (line.done) { done = true; showError(line.status || "nothing to transcribe: no speech was found"); }
      else progress(line);
    };
    const signal = state.controller.signal;
    if (request.form) {
      const onUpload = (fraction) => progress({ status: `uploading ${file.name}`, completed: Math.round(fraction * 1000), total: 1000 });
      await uploadStream("/api/transcribe", request.form, { signal, onUpload, onLine });
    } else {
      await stream("/api/transcribe", { body: request.body, signal, onLine });
    }
    if (!done) showError("the transcription ended without a result; try again");
  } catch (error) {
    if (!isAbort(error)) showError(error, "the transcription failed");
  } finally {
    state.controller = null;
    $("#tr-start").disabled = false;
    $("#tr-stop").hidden = true;
    $("#tr-progress-box").hidden = true;
  }
}
