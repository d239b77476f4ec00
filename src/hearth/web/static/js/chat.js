// The chat page: model picker, streamed Markdown answers, stop, system prompt and
// parameters, saved conversations, tokens/s per answer.
import { api, chatModels, isAbort, listModels, showError, stream } from "./api.js";
import { enableCopyButtons, renderMarkdown } from "./markdown.js";
import { $, el, fillModels, guessLang } from "./util.js";

const OPTION_FIELDS = ["temperature", "top_p", "num_ctx", "seed"];
const state = { id: null, messages: [], controller: null, busy: false };

export async function init() {
  const form = $("#chat-form"), input = $("#chat-input");
  enableCopyButtons($("#chat-log"));
  form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.controller && !$("#page-chat").hidden) { event.preventDefault(); stop(); }
  });
  $("#chat-stop").addEventListener("click", stop);
  $("#chat-new").addEventListener("click", () => { if (!state.busy) newChat(); });
  await Promise.all([refreshModels(), refreshList()]);
  input.focus();
}

export async function shown() { await refreshModels(); }

const MODEL_ITEM = "hearth.chatModel";

async function refreshModels() {
  const select = $("#chat-model");
  fillModels(select, chatModels(await listModels()), select.value || localStorage.getItem(MODEL_ITEM));
  if (!select.dataset.remember) {
    select.dataset.remember = "1";
    select.addEventListener("change", () => localStorage.setItem(MODEL_ITEM, select.value));
  }
}

function options() {
  const out = {};
  for (const name of OPTION_FIELDS) {
    const value = $(`#opt-${name}`).value.trim();
    if (value !== "") out[name] = Number(value);
  }
  return out;
}

function setOptions(values = {}) {
  for (const name of OPTION_FIELDS) $(`#opt-${name}`).value = values[name] ?? "";
}

function newChat() {
  state.id = null;
  state.messages = [];
  $("#chat-system").value = "";
  renderLog();
  markCurrent();
  $("#chat-input").focus();
}

// Conversation list ------------------------------------------------------------

async function refreshList() {
  let data;
  try { data = await api("/api/conversations"); } catch (error) { showError(error, "could not list the saved conversations"); return; }
  const list = $("#chat-list");
  list.replaceChildren(...data.conversations.map((c) => el("li", { "data-id": c.id },
    el("button", { type: "button", class: "open", title: c.title, lang: guessLang(c.title), onclick: () => open(c.id) }, c.title),
    el("button", { type: "button", class: "del", "aria-label": `Delete conversation ${c.title}`, onclick: () => remove(c.id, c.title) }, "✕"))));
  $("#chat-list-empty").hidden = data.conversations.length > 0;
  markCurrent();
}

function markCurrent() {
  for (const li of $("#chat-list").children) li.classList.toggle("current", li.dataset.id === state.id);
}

async function open(id) {
  if (state.busy) return;
  try {
    const c = await api(`/api/conversations/${id}`);
    state.id = c.id;
    state.messages = c.messages.map((m) => ({ role: m.role, content: m.content, stats: m.stats }));
    $("#chat-system").value = c.system || "";
    setOptions(c.options);
    if (c.model) {
      const select = $("#chat-model");
      if (![...select.options].some((o) => o.value === c.model)) select.append(el("option", { value: c.model }, `${c.model} (missing)`));
      select.value = c.model;
    }
    renderLog();
    markCurrent();
  } catch (error) { showError(error, "could not open the conversation"); }
}

async function remove(id, title) {
  if (!confirm(`Delete the conversation "${title}"?`)) return;
  try {
    await api(`/api/conversations/${id}`, { method: "DELETE" });
    if (state.id === id) newChat();
    await refreshList();
  } catch (error) { showError(error, "could not delete the conversation"); }
}

async function save() {
  const body = { model: $("#chat-model").value, system: $("#chat-system").value, options: options(), messages: state.messages };
  try {
    if (state.id) await api(`/api/conversations/${state.id}`, { method: "PUT", body });
    else state.id = (await api("/api/conversations", { method: "POST", body })).id;
    await refreshList();
  } catch (error) { showError(error, "the conversation could not be saved"); }
}

// Messages -----------------------------------------------------------------------

function statsText(stats) {
  if (!stats) return "";
  const parts = [];
  if (stats.eval_count !== undefined) parts.push(`${stats.eval_count} tokens`);
  if (stats.tokens_per_second) parts.push(`${stats.tokens_per_second.toFixed(1)} tokens/s`);
  if (stats.stopped) parts.push("stopped");
  if (stats.done_reason === "length") parts.push("cut at the length limit");
  if (stats.error) parts.push(`failed: ${stats.error}`);
  return parts.join(" · ");
}

function messageNode(message) {
  const body = el("div", { class: "body" });
  const lang = guessLang(message.content);
  if (lang) body.lang = lang;
  if (message.role === "assistant") body.innerHTML = renderMarkdown(message.content);
  else body.textContent = message.content;
  if (message.role === "user") body.style.whiteSpace = "pre-wrap";
  return el("article", { class: `msg ${message.role}` },
    el("div", { class: "who" }, message.role === "user" ? "You" : message.role === "assistant" ? "Assistant" : message.role),
    body,
    el("div", { class: "stats" }, statsText(message.stats)));
}

function renderLog() {
  const log = $("#chat-log");
  log.replaceChildren(...state.messages.map(messageNode));
  if (!state.messages.length) log.append(el("p", { class: "empty-hint" }, "Ask anything. Answers stay on this machine."));
  log.scrollTop = log.scrollHeight;
}

function setBusy(busy) {
  state.busy = busy;
  $("#chat-send").disabled = busy;
  $("#chat-stop").hidden = !busy;
  $("#chat-new").disabled = busy;
}

function stop() {
  if (state.controller) state.controller.abort();
}

async function send() {
  const input = $("#chat-input");
  const text = input.value.trim();
  const model = $("#chat-model").value;
  if (!text || state.busy) return;
  if (!model) { showError("choose a model first (pull one on the Models page)"); return; }
  input.value = "";
  state.messages.push({ role: "user", content: text });
  const answer = { role: "assistant", content: "", stats: null };
  state.messages.push(answer);
  renderLog();
  const log = $("#chat-log");
  const node = log.lastElementChild;
  const body = node.querySelector(".body");
  node.classList.add("streaming");

  const system = $("#chat-system").value.trim();
  const history = state.messages.slice(0, -1).map(({ role, content }) => ({ role, content }));
  const request = { model, messages: system ? [{ role: "system", content: system }, ...history] : history, stream: true, options: options() };
  state.controller = new AbortController();
  setBusy(true);
  // Re-render the whole answer at most once a frame, and less often as it grows: the
  // next paint waits three times as long as the last one took (bench/bench_ui.py).
  let pending = false, lastCost = 0, lastAt = 0;
  const schedule = () => {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, lastAt + 3 * lastCost - performance.now());
    setTimeout(() => requestAnimationFrame(paint), wait);
  };
  const paint = () => {
    const started = performance.now();
    pending = false;
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    body.innerHTML = renderMarkdown(answer.content);
    const lang = guessLang(answer.content);
    if (lang) body.lang = lang;
    if (stick) log.scrollTop = log.scrollHeight;
    lastAt = performance.now();
    lastCost = lastAt - started;
  };
  try {
    await stream("/api/chat", {
      body: request,
      signal: state.controller.signal,
      onLine: (line) => {
        if (line.message && line.message.content) {
          answer.content += line.message.content;
          schedule();
        }
        if (line.done) {
          const seconds = (line.eval_duration || 0) / 1e9;
          answer.stats = {
            eval_count: line.eval_count,
            eval_duration: line.eval_duration,
            tokens_per_second: seconds > 0 ? (line.eval_count || 0) / seconds : null,
            done_reason: line.done_reason,
          };
        }
      },
    });
  } catch (error) {
    if (isAbort(error)) answer.stats = { ...(answer.stats || {}), stopped: true };
    else {
      showError(error, "the answer failed");
      answer.stats = { ...(answer.stats || {}), error: error.message };
    }
  } finally {
    state.controller = null;
    $("#chat-stop").hidden = true;
    node.classList.remove("streaming");
    paint();
    node.querySelector(".stats").textContent = statsText(answer.stats);
    const failed = answer.stats && answer.stats.error;
    if (!answer.content && !(answer.stats && answer.stats.stopped)) {
      // Nothing came back: take the question back into the input for another try.
      state.messages.splice(-2, 2);
      if (!input.value) input.value = text;
      renderLog();
      if (failed) log.append(el("p", { class: "msg error-text", role: "status" }, `No answer: ${answer.stats.error}`));
    }
    // Saved before the next question can be sent, so a new chat is created only once.
    if (state.messages.length || state.id) await save();
    setBusy(false);
    input.focus();
  }
}
