// A small Markdown renderer for model output. Safety first: every piece of text is
// HTML-escaped before any markup is added, and the only tags in the result are the ones
// this file writes. Links keep only http(s), mailto, relative and #anchor targets.
//
// Supports: fenced code blocks (``` or ~~~, with a language), indented code, headings,
// paragraphs, hard line breaks, block quotes, ordered/unordered (nested by indent) lists,
// tables, horizontal rules, and inline code, bold, italic, strike, links and autolinks.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function safeUrl(escapedUrl) {
  // The URL is already escaped; decode the entities only to inspect the scheme.
  const raw = escapedUrl.replace(/&amp;/g, "&").replace(/&#39;/g, "'").replace(/&quot;/g, '"')
    .replace(/[\u0000-\u0020]/g, "");
  if (/^(https?:|mailto:)/i.test(raw) || /^[/#.]/.test(raw) || !/^[a-z][a-z0-9+.-]*:/i.test(raw)) {
    return escapedUrl;
  }
  return null;
}

/** Inline Markdown of one block of (raw) text, returned as safe HTML. */
export function renderInline(text) {
  const slots = [];
  const keep = (html) => `\u0000${slots.push(html) - 1}\u0000`;
  let s = escapeHtml(text.replace(/\u0000/g, ""));
  // Code spans first: nothing inside them is Markdown.
  s = s.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, _ticks, code) => keep(`<code>${code.trim() === "" ? code : code.replace(/^ (.*) $/s, "$1")}</code>`));
  // Links [text](url "title") and autolinks <https://...> / bare URLs.
  s = s.replace(/\[([^\]\n]+)\]\(\s*([^)\s]+)(?:\s+&quot;[^\n]*?&quot;)?\s*\)/g, (whole, label, url) => {
    const href = safeUrl(url);
    return href === null ? whole : keep(`<a href="${href}" target="_blank" rel="noopener noreferrer">`) + label + keep("</a>");
  });
  s = s.replace(/&lt;(https?:\/\/[^\s&]+(?:&amp;[^\s&]+)*)&gt;/g, (_, url) => keep(`<a href="${url}" target="_blank" rel="noopener noreferrer">${url}</a>`));
  s = s.replace(/(^|[\s(])(https?:\/\/[^\s<]+[^\s<.,;:!?)'"*_])/g, (_, lead, url) => lead + keep(`<a href="${url}" target="_blank" rel="noopener noreferrer">${url}</a>`));
  // Emphasis.
  s = s.replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, "<strong>$2</strong>");
  s = s.replace(/(^|[^*\w])\*(?=\S)([^*\n]*?\S)\*(?!\*)/g, "$1<em>$2</em>");
  s = s.replace(/(^|[^_\w])_(?=\S)([^_\n]*?\S)_(?![_\w])/g, "$1<em>$2</em>");
  s = s.replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>");
  // Hard line breaks (two trailing spaces or a backslash), then soft ones stay spaces.
  s = s.replace(/( {2,}|\\)\n/g, "<br>\n");
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => slots[Number(i)]);
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const HR = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}&gt;|^ {0,3}>/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

function codeBlock(code, lang) {
  const language = (lang || "").replace(/[^\w+#.-]/g, "").slice(0, 30);
  const cls = language ? ` class="language-${escapeHtml(language)}"` : "";
  const label = language ? `<span class="lang">${escapeHtml(language)}</span>` : "";
  return `<div class="codeblock">${label}<button type="button" class="copy" data-copy>Copy</button><pre><code${cls}>${escapeHtml(code)}</code></pre></div>`;
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function renderList(lines) {
  // lines: raw lines of one list (items and their continuations). Nested by indentation.
  const first = lines[0].match(LIST_ITEM);
  const ordered = /\d/.test(first[2]);
  const baseIndent = first[1].length;
  const start = ordered ? parseInt(first[2], 10) : 1;
  const items = [];
  for (const line of lines) {
    const m = line.match(LIST_ITEM);
    if (m && m[1].length <= baseIndent + 1) items.push([m[3]]);
    else if (items.length) items[items.length - 1].push(line.replace(new RegExp(`^ {0,${baseIndent + 4}}`), ""));
  }
  const tag = ordered ? "ol" : "ul";
  const startAttr = ordered && start !== 1 ? ` start="${start}"` : "";
  const body = items.map((item) => {
    const [head, ...rest] = item;
    const task = head.match(/^\[([ xX])\]\s+(.*)$/);
    const lead = task ? `<input type="checkbox" disabled${task[1] === " " ? "" : " checked"}> ${renderInline(task[2])}` : renderInline(head);
    const inner = rest.length ? renderBlocks(rest.join("\n")) : "";
    return `<li>${lead}${inner}</li>`;
  }).join("");
  return `<${tag}${startAttr}>${body}</${tag}>`;
}

/** Block-level Markdown of `text` as safe HTML. An unclosed fence (still streaming) is code. */
export function renderBlocks(text) {
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    const fence = line.match(FENCE);
    if (fence) {
      const marker = fence[1];
      const code = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(marker[0].repeat(marker.length)) && lines[i].trim().replace(new RegExp(`\\${marker[0]}`, "g"), "") === "")) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end)
      out.push(codeBlock(code.join("\n"), fence[2]));
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      const level = heading[1].length;
      out.push(`<h${level}>${renderInline(heading[2])}</h${level}>`);
      i += 1;
      continue;
    }
    if (HR.test(line)) { out.push("<hr>"); i += 1; continue; }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && lines[i].trim() && QUOTE.test(lines[i])) {
        quoted.push(lines[i].replace(/^ {0,3}(&gt;|>) ?/, ""));
        i += 1;
      }
      out.push(`<blockquote>${renderBlocks(quoted.join("\n"))}</blockquote>`);
      continue;
    }
    if (LIST_ITEM.test(line) && line.match(LIST_ITEM)[1].length < 4) {
      const block = [];
      const [, indent, marker] = line.match(LIST_ITEM);
      const ordered = /\d/.test(marker);
      while (i < lines.length) {
        const current = lines[i];
        if (!current.trim()) {
          // A blank line ends the list unless an indented or list line follows.
          const next = lines[i + 1];
          if (next !== undefined && (LIST_ITEM.test(next) || /^\s{2,}\S/.test(next))) { block.push(""); i += 1; continue; }
          break;
        }
        if (block.length && !LIST_ITEM.test(current) && !/^\s/.test(current) && (FENCE.test(current) || HEADING.test(current))) break;
        const item = current.match(LIST_ITEM);
        if (block.length && item && item[1].length <= indent.length && /\d/.test(item[2]) !== ordered) break;
        block.push(current);
        i += 1;
      }
      out.push(renderList(block));
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      const header = splitRow(line);
      const aligns = splitRow(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : ""));
      i += 2;
      const rows = [];
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) { rows.push(splitRow(lines[i])); i += 1; }
      const cell = (tag, text, j) => `<${tag}${aligns[j] ? ` style="text-align:${aligns[j]}"` : ""}>${renderInline(text || "")}</${tag}>`;
      out.push(`<table><thead><tr>${header.map((c, j) => cell("th", c, j)).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${header.map((_, j) => cell("td", r[j], j)).join("")}</tr>`).join("")}</tbody></table>`);
      continue;
    }
    if (/^( {4}|\t)/.test(line)) {
      const code = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || !lines[i].trim())) { code.push(lines[i].replace(/^( {4}|\t)/, "")); i += 1; }
      out.push(codeBlock(code.join("\n").replace(/\n+$/, ""), ""));
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i]) && !QUOTE.test(lines[i]) && !HR.test(lines[i]) && !(para.length && LIST_ITEM.test(lines[i]))) {
      para.push(lines[i]);
      i += 1;
    }
    out.push(`<p>${renderInline(para.join("\n"))}</p>`);
  }
  return out.join("\n");
}

export const renderMarkdown = renderBlocks;

/** Wire the Copy buttons of code blocks inside `root` (once, by delegation). */
export function enableCopyButtons(root) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const code = button.parentElement.querySelector("code");
    try {
      await navigator.clipboard.writeText(code.textContent);
      button.textContent = "Copied";
    } catch {
      // Clipboard needs a secure context; select the text so Ctrl+C works.
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}
