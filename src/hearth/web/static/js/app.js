// The page switcher: one section per page, chosen by the URL's #hash.
import { showError } from "./api.js";
import * as chat from "./chat.js";
import * as documents from "./documents.js";
import * as models from "./models.js";
import * as transcribe from "./transcribe.js";

const pages = { chat, documents, transcribe, models };
const started = new Set();

function show(name) {
  if (!(name in pages)) name = "chat";
  for (const section of document.querySelectorAll("section.page")) section.hidden = section.dataset.page !== name;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · hearth`;
  const page = pages[name];
  const first = !started.has(name);
  started.add(name);
  document.body.removeAttribute("data-ready");
  Promise.resolve(first ? page.init() : page.shown && page.shown())
    .catch((error) => showError(error, `the ${name} page failed to load`))
    .finally(() => { if (!document.querySelector(`#page-${name}`).hidden) document.body.dataset.ready = name; });
}

window.addEventListener("error", (event) => showError(event.error || event.message, "unexpected error"));
window.addEventListener("unhandledrejection", (event) => showError(event.reason, "unexpected error"));
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
show(location.hash.slice(1));
