"""The web UI in headless Chromium against a real server with the real bundled model."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_support import FakeRegistry, screenshot

pytestmark = pytest.mark.browser

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


CONTRAST_SELECTORS = [
    ".tabs a",
    ".tabs a[aria-current]",
    "button.primary",
    ".msg .who",
    ".msg .stats",
    ".msg .body",
    ".small-h",
    ".conv-list .open",
    ".codeblock .lang",
    "label",
]
# WCAG contrast of each matching element's text against its nearest opaque background.
CONTRAST_JS = """(selectors) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      if (!el.offsetParent) continue;
      const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) low.push(`${selector}: ${ratio.toFixed(2)}`);
    }
  }
  return [...new Set(low)];
}"""


def _open(page: Any, base: str, hash_: str = "") -> None:
    page.goto(base + "/" + hash_)
    page.wait_for_selector("body[data-ready]", state="attached")  # the page's data loaded


def _wait_idle(page: Any) -> None:
    page.wait_for_selector("#chat-send:enabled", timeout=30_000)


@pytest.mark.slow
def test_chat_round_trip_streams_saves_and_reopens(page: Any, live_server: str) -> None:
    _open(page, live_server)
    assert page.url == live_server + "/ui/"  # a browser opening the address lands on the UI
    assert page.get_attribute('.tabs a[data-page="chat"]', "aria-current") == "page"
    models = page.eval_on_selector_all("#chat-model option", "os => os.map(o => o.value)")
    assert "smollm2:135m" in models and not any("e5" in m for m in models)
    page.click("#chat-settings summary")
    page.fill("#chat-system", "You are a helpful assistant.")
    page.fill("#opt-temperature", "0")
    page.fill("#opt-seed", "1")
    page.fill("#chat-input", "What is the capital of France?")
    page.press("#chat-input", "Enter")
    stats = page.locator(".msg.assistant .stats")
    stats.filter(has_text=re.compile(r"tokens/s")).wait_for(timeout=60_000)
    answer = page.inner_text(".msg.assistant .body")
    assert answer.strip()
    assert re.search(r"\d+ tokens · \d+\.\d tokens/s", stats.inner_text())
    _wait_idle(page)  # Send comes back once the conversation is saved
    assert page.is_hidden("#chat-stop")
    screenshot(page, "chat")

    # Saved with its settings and stats, listed, and reopened after a reload.
    saved = httpx.get(live_server + "/api/conversations").json()["conversations"]
    assert [c["title"] for c in saved] == ["What is the capital of France?"]
    full = httpx.get(f"{live_server}/api/conversations/{saved[0]['id']}").json()
    assert full["model"] == "smollm2:135m" and full["options"] == {"temperature": 0, "seed": 1}
    assert full["system"] == "You are a helpful assistant."
    assert full["messages"][1]["stats"]["tokens_per_second"] > 0
    page.reload()
    page.wait_for_selector("#chat-list li")
    page.click("#chat-list li .open")
    page.wait_for_selector(".msg.assistant")
    assert page.inner_text(".msg.user .body") == "What is the capital of France?"
    assert page.inner_text(".msg.assistant .body").strip() == answer.strip()
    assert page.input_value("#opt-temperature") == "0"

    # Esc stops a long answer in a new chat: the partial answer stays, marked, and saved.
    page.click("#chat-new")
    page.fill("#chat-input", "Write a very long story about a dragon who learns to bake bread.")
    page.press("#chat-input", "Enter")
    page.locator(".msg.assistant .body").filter(has_text=re.compile(r"\w")).wait_for()
    page.keyboard.press("Escape")
    page.locator(".msg.assistant .stats").filter(has_text="stopped").wait_for()
    _wait_idle(page)
    assert page.is_hidden("#chat-stop")
    listed = httpx.get(live_server + "/api/conversations").json()["conversations"]
    assert len(listed) == 2 and listed[0]["title"].startswith("Write a very long story")
    stopped = httpx.get(f"{live_server}/api/conversations/{listed[0]['id']}").json()
    assert stopped["messages"][1]["stats"]["stopped"] is True
    assert stopped["messages"][1]["content"].strip()

    # The models page shows the chat model as loaded in memory; the embedder is not.
    page.click('.tabs a[data-page="models"]')
    page.wait_for_selector('#models-table tr[data-model="smollm2:135m"] .badge:has-text("loaded")')
    assert page.locator('#models-table tr[data-model^="multilingual-e5"] .badge').count() == 0


@pytest.mark.slow
def test_chat_error_is_shown_in_the_page(page: Any, live_server: str) -> None:
    _open(page, live_server)
    page.click("#chat-settings summary")
    page.fill("#opt-num_ctx", "256")
    page.fill("#chat-system", "Remember this. " * 200)  # far more than 256 tokens
    page.fill("#chat-input", "Hello")
    page.press("#chat-input", "Enter")
    alert = page.locator(".alert").filter(has_text="the answer failed")
    alert.wait_for(timeout=30_000)
    assert "context" in alert.inner_text().lower()
    # The question goes back into the input for another try; nothing half-saved.
    page.wait_for_selector(".chat-log .error-text:has-text('No answer')")
    assert page.locator(".msg.assistant").count() == 0
    assert page.is_enabled("#chat-send") and page.input_value("#chat-input") == "Hello"
    assert httpx.get(live_server + "/api/conversations").json() == {"conversations": []}
    screenshot(page, "chat-error")


def test_markdown_renderer_escapes_model_output(page: Any, live_server: str) -> None:
    _open(page, live_server)
    hostile = (
        "<img src=x onerror=alert(1)> <script>alert(2)</script>\n\n"
        "[click](javascript:alert(3)) [ok](https://example.org/?a=1&b=2) **bold** `<b>`\n\n"
        '```html\n<iframe src="x"></iframe>\n```\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |'
    )
    result = page.evaluate(
        """async (text) => {
            const md = await import('/ui/js/markdown.js');
            const box = document.createElement('div');
            box.innerHTML = md.renderMarkdown(text);
            return {
              tags: [...box.querySelectorAll('*')].map(e => e.tagName.toLowerCase()),
              attrs: [...box.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name + '=' + a.value)),
              code: box.querySelector('pre code').textContent,
              text: box.textContent,
            };
        }""",
        hostile,
    )
    assert not {"img", "script", "iframe"} & set(result["tags"])
    assert {"strong", "ul", "li", "table", "pre", "code", "a"} <= set(result["tags"])
    assert not any(a.startswith("on") or "javascript:" in a for a in result["attrs"])
    assert "href=https://example.org/?a=1&b=2" in result["attrs"]
    assert result["code"] == '<iframe src="x"></iframe>'
    assert "<img src=x onerror=alert(1)>" in result["text"]  # shown as text, not run


def test_pages_are_labelled_responsive_and_render_cjk(page: Any, live_server: str) -> None:
    httpx.post(
        live_server + "/api/conversations",
        json={
            "model": "smollm2:135m",
            "messages": [
                {"role": "user", "content": "請用繁體中文介紹台灣的夜市文化。"},
                {
                    "role": "assistant",
                    "content": "## 夜市\n\n台灣的**夜市**有很多小吃：\n\n1. 珍珠奶茶\n2. 蚵仔煎\n\n```python\nprint('你好')\n```",
                    "stats": {"eval_count": 42, "tokens_per_second": 25.3},
                },
            ],
        },
    ).raise_for_status()
    _open(page, live_server)
    page.click("#chat-list li .open")
    page.wait_for_selector(".msg.assistant h2")
    assert page.get_attribute(".msg.assistant .body", "lang") == "zh-Hant"
    font = page.eval_on_selector(".msg.assistant .body", "e => getComputedStyle(e).fontFamily")
    assert "Noto Sans CJK TC" in font
    assert page.inner_text(".msg.assistant .stats") == "42 tokens · 25.3 tokens/s"
    screenshot(page, "chat-cjk")
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        low = page.evaluate(CONTRAST_JS, CONTRAST_SELECTORS)
        assert low == [], f"text below WCAG AA contrast (4.5:1) in {scheme} mode: {low}"
        if scheme == "dark":
            screenshot(page, "chat-dark")

    for name in ("documents", "transcribe", "models"):
        page.click(f'.tabs a[data-page="{name}"]')
        page.wait_for_selector(f"#page-{name}:not([hidden])")
        if name == "models":
            row = page.locator('#models-table tr[data-model="smollm2:135m"]')
            row.locator("td").nth(3).filter(has_text=re.compile(r"\d")).wait_for()
            assert "≈" in row.locator("td").nth(4).inner_text()
        unlabelled = page.evaluate(
            """(name) => [...document.querySelectorAll(`#page-${name} input, #page-${name} select, #page-${name} textarea`)]
                 .filter(e => e.type !== 'hidden' && !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map(e => e.id)""",
            name,
        )
        assert unlabelled == [], f"{name}: controls without labels: {unlabelled}"
        screenshot(page, name)

    # A narrow window: nothing sticks out sideways, every page still usable.
    page.set_viewport_size({"width": 390, "height": 800})
    for name in ("chat", "documents", "transcribe", "models"):
        page.click(f'.tabs a[data-page="{name}"]')
        page.wait_for_selector(f"#page-{name}:not([hidden])")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is wider than a narrow window by {overflow}px"
        screenshot(page, f"{name}-narrow")

    # Keyboard: Tab from the top reaches the pages' tabs, Enter on a tab switches pages.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click('.tabs a[data-page="chat"]')
    page.keyboard.press("Tab")
    focused = []
    for _ in range(6):
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
        page.keyboard.press("Tab")
    assert "Models" in focused
    page.focus('.tabs a[data-page="models"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#page-models:not([hidden])")


@pytest.mark.slow
def test_model_pull_from_a_local_registry_and_delete(
    page: Any, live_server: str, registry: FakeRegistry
) -> None:
    _open(page, live_server, "#models")
    page.wait_for_selector('#models-table tr[data-model="smollm2:135m"]')
    page.fill("#models-pull-name", "tiny")
    page.click("#models-pull-btn")
    page.wait_for_selector('#models-table tr[data-model="tiny:latest"]', timeout=60_000)
    assert page.inner_text("#models-pull-label") == "Pulled tiny."
    assert any("/manifests/latest" in path for path in registry.requests)
    assert any("/blobs/sha256:" in path for path in registry.requests)
    row = page.locator('#models-table tr[data-model="tiny:latest"]')
    row.locator("td").nth(3).filter(has_text="2,048").wait_for()
    screenshot(page, "models-pulled")

    # A name the registry does not know: the error is shown in the page.
    page.fill("#models-pull-name", "nosuchmodel")
    page.click("#models-pull-btn")
    page.wait_for_selector(".alert", timeout=30_000)
    assert "nosuchmodel" in page.inner_text(".alert")

    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete tiny:latest").click()
    page.wait_for_selector('#models-table tr[data-model="tiny:latest"]', state="detached")
    names = [m["name"] for m in httpx.get(live_server + "/api/tags").json()["models"]]
    assert "tiny:latest" not in names


@contextlib.contextmanager
def _serve_html(html: str) -> Iterator[str]:
    """Serve one HTML page on loopback; yields its URL."""
    with _serve({"/ferry.html": ("text/html; charset=utf-8", html.encode())}) as base:
        yield f"{base}/ferry.html"


@contextlib.contextmanager
def _serve(files: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    """Serve {path: (content type, body)} on loopback (404 for anything else); yields the base URL."""

    class Files(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path not in files:
                self.send_error(404)
                return
            kind, body = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _pdf(text_lines: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page_lines in (
        ["Introduction", "This booklet describes the island of Brindle."],
        text_lines,
    ):
        y = 800
        for line in page_lines:
            pdf.drawString(72, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.mark.slow
def test_documents_upload_ask_with_citation_and_failed_upload(
    page: Any, live_server: str, tmp_path: Path
) -> None:
    _open(page, live_server, "#documents")
    page.fill("#docs-new-name", "island")
    page.press("#docs-new-name", "Enter")
    page.wait_for_selector('#docs-collection option[value="island"]', state="attached")

    pdf = tmp_path / "lighthouse.pdf"
    pdf.write_bytes(
        _pdf(
            ["The Brindle lighthouse was built in 1872 by Mara Quill.", "Its lamp burns whale oil."]
        )
    )
    page.set_input_files("#docs-file", str(pdf))
    page.wait_for_selector("#docs-upload-result .ok-text", timeout=60_000)
    assert page.inner_text("#docs-upload-result .ok-text").startswith("Added 1")
    page.wait_for_selector("#docs-table td:has-text('lighthouse.pdf')")

    page.fill("#docs-question", "When was the Brindle lighthouse built?")
    page.click("#docs-ask-btn")
    page.wait_for_selector("#docs-sources li", timeout=60_000)
    page.wait_for_selector("#docs-ask-btn:enabled", timeout=90_000)
    # A source in the list opens its passage (the tiny model seldom writes inline [n]
    # markers; test_inline_citation_opens_the_passage_and_esc_closes_it clicks one).
    page.locator("#docs-sources li button").first.click()
    quote = page.locator("#docs-quote")
    quote.wait_for()
    assert "lighthouse.pdf, page 2" in quote.inner_text()
    assert "1872" in quote.locator("blockquote").inner_text()
    screenshot(page, "documents-answer")

    # Failed uploads: a file over the server's body limit, and a file it cannot read.
    big = tmp_path / "huge.txt"
    big.write_bytes(b"x" * (5 * 1024 * 1024))
    page.set_input_files("#docs-file", str(big))
    error = page.locator("#docs-upload-result .error-text")
    error.wait_for(timeout=30_000)
    assert "Upload failed" in error.inner_text() and "too large" in error.inner_text()
    junk = tmp_path / "program.exe"
    junk.write_bytes(bytes(range(256)) * 64)
    page.set_input_files("#docs-file", str(junk))
    page.wait_for_selector(
        "#docs-upload-result .error-text:has-text('program.exe')", timeout=30_000
    )
    screenshot(page, "documents-upload-error")

    # Drag and drop: a file dropped on the drop zone is uploaded like a chosen one.
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["# Notes\\n\\nThe ferry is painted blue."], "notes.md", { type: "text/markdown" }));
            const zone = document.querySelector("#docs-drop");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }"""
    )
    page.wait_for_selector("#docs-table td:has-text('notes.md')", timeout=60_000)

    # A web page by URL (served on loopback), then the whole collection goes.
    with _serve_html(
        "<html><head><title>Ferry timetable</title></head><body><h1>Ferry</h1>"
        "<p>The Brindle ferry leaves the harbour every morning at seven.</p></body></html>"
    ) as url:
        page.fill("#docs-url", url)
        page.press("#docs-url", "Enter")
        page.wait_for_selector("#docs-upload-result .ok-text", timeout=60_000)
    page.wait_for_selector("#docs-table tbody tr:nth-child(3)")
    assert page.locator("#docs-table tbody tr").count() == 3
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#docs-delete-collection")
    page.wait_for_selector('#docs-collection option[value="island"]', state="detached")
    assert httpx.get(live_server + "/api/collections").json()["collections"] == []


def test_inline_citation_opens_the_passage_and_esc_closes_it(page: Any, live_server: str) -> None:
    """The answer's [n] markers are buttons that open the quoted passage; Esc closes it.

    /api/ask is answered with a scripted stream (in the API's own types): the test is
    about the page, and the tiny model does not reliably write [n] markers.
    """
    from hearth.api.docs import AskChunk, Source

    source = Source(
        n=1,
        file="lighthouse.pdf",
        page=2,
        text="The Brindle lighthouse was built in 1872 by Mara Quill.",
        score=0.9,
        document_id="d1",
    )
    answer = "It was built in 1872 [1]."
    lines = [
        AskChunk(sources=[source]),
        AskChunk(delta=answer),
        AskChunk(done=True, answer=answer, cited=[1], sources=[source], sources_fit=1),
    ]
    body = "".join(line.model_dump_json(exclude_none=True) + "\n" for line in lines)
    page.route(
        "**/api/ask",
        lambda route: route.fulfill(status=200, content_type="application/x-ndjson", body=body),
    )
    _open(page, live_server, "#documents")
    page.fill("#docs-new-name", "island")
    page.press("#docs-new-name", "Enter")
    page.wait_for_selector('#docs-collection option[value="island"]', state="attached")
    page.fill("#docs-question", "When was the Brindle lighthouse built?")
    page.click("#docs-ask-btn")
    cite = page.locator("#docs-answer .cite")
    cite.wait_for()
    assert cite.count() == 1 and cite.inner_text() == "[1]"
    assert page.inner_text("#docs-answer").startswith("It was built in 1872")
    page.wait_for_selector("#docs-ask-btn:enabled")

    cite.click()
    quote = page.locator("#docs-quote")
    quote.wait_for()
    assert "[1] lighthouse.pdf, page 2" in quote.inner_text()
    assert quote.locator("blockquote").inner_text() == source.text
    page.keyboard.press("Escape")
    quote.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('cite')")  # focus back


def test_transcript_view_shows_untranslated_segments(page: Any, live_server: str) -> None:
    """A translation the model failed on is marked, not passed off (scripted /api/transcribe)."""
    from hearth.api.speech import Segment, TranscribeDone, Transcript

    segments = [Segment(start=0, end=2, text="hello"), Segment(start=2, end=4, text="goodbye")]
    warning = "1 of 2 segments were not translated into French (the model failed: boom)"
    result = Transcript(
        language="en",
        duration=4,
        segments=segments,
        text="hello goodbye",
        translation="bonjour goodbye",
        translated_segments=[segments[0].model_copy(update={"text": "bonjour"}), segments[1]],
        untranslated=[1],
        warnings=[warning],
    )
    body = TranscribeDone(result=result).model_dump_json() + "\n"
    page.route(
        "**/api/transcribe",
        lambda route: route.fulfill(status=200, content_type="application/x-ndjson", body=body),
    )
    _open(page, live_server, "#transcribe")
    page.fill("#tr-url", "http://127.0.0.1:9/talk.mp4")
    page.click("#tr-start")
    page.wait_for_selector("#tr-result:not([hidden])")
    assert page.inner_text("#tr-notes .warning-text") == f"Warning: {warning}"
    rows = page.locator("#tr-translation .segment")
    assert "not translated" not in rows.nth(0).inner_text()
    assert rows.nth(1).locator("span").all_inner_texts() == ["goodbye", "(not translated)"]
    screenshot(page, "transcribe-untranslated")


@pytest.mark.slow
def test_transcribe_upload_shows_transcript_and_downloads(
    page: Any, live_server: str, tmp_path: Path
) -> None:
    espeak = shutil.which("espeak-ng")
    assert espeak is not None, "espeak-ng is missing: `make setup` installs it (as root)"
    wav = tmp_path / "fox.wav"
    sentence = "The quick brown fox jumps over the lazy dog."
    subprocess.run([espeak, "-s", "135", "-w", str(wav), sentence], check=True, timeout=60)
    _open(page, live_server, "#transcribe")

    # Nothing chosen: the page says what to do.
    page.click("#tr-start")
    page.wait_for_selector(".alert:has-text('choose an audio or video file')")

    # A file that is not audio: the server's reason is shown.
    notes = tmp_path / "notes.mp3"
    notes.write_text("not audio at all")
    page.set_input_files("#tr-file", str(notes))
    page.click("#tr-start")
    failure = page.locator(".alert").filter(has_text="the transcription failed")
    failure.wait_for(timeout=30_000)
    assert "notes.mp3" in failure.inner_text() or "audio" in failure.inner_text().lower()
    assert page.is_enabled("#tr-start") and page.is_hidden("#tr-progress-box")

    page.set_input_files("#tr-file", str(wav))
    page.click("#tr-start")
    page.wait_for_selector("#tr-result:not([hidden])", timeout=120_000)
    transcript = page.inner_text("#tr-transcript").lower()
    assert "fox" in transcript and "00:00" in transcript
    assert page.inner_text("#tr-meta").startswith("Language: en")
    srt = page.evaluate("fetch(document.querySelector('#tr-dl-srt').href).then(r => r.text())")
    assert "-->" in srt and "fox" in srt.lower()
    for link in ("#tr-dl-srt", "#tr-dl-txt", "#tr-dl-md"):
        assert page.get_attribute(link, "href").startswith("blob:")
    with page.expect_download() as download:
        page.click("#tr-dl-txt")
    assert download.value.suggested_filename == "transcript.txt"
    assert page.is_hidden("#tr-notes")  # recognised speech, nothing to note
    screenshot(page, "transcribe-result")

    # A page whose video has captions: they are used, and the page says so.
    page_html = (
        '<html><body><video controls><source src="talk.mp4" type="video/mp4">'
        '<track kind="captions" src="talk.en.vtt" srclang="en"></video></body></html>'
    )
    captions = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nWritten by the site.\n"
    with _serve(
        {
            "/watch.html": ("text/html; charset=utf-8", page_html.encode()),
            "/talk.en.vtt": ("text/vtt", captions.encode()),
            "/talk.mp4": ("video/mp4", wav.read_bytes()),
        }
    ) as base:
        page.set_input_files("#tr-file", [])
        page.fill("#tr-url", f"{base}/watch.html")
        page.click("#tr-start")
        page.wait_for_selector("#tr-notes .note", timeout=60_000)
    assert "Written by the site." in page.inner_text("#tr-transcript")
    assert "Used the video's captions (en)" in page.inner_text("#tr-notes")
    assert page.is_visible("#tr-no-captions")
    screenshot(page, "transcribe-captions")


@pytest.mark.parametrize("settings", [{"api_keys": ("sekret-key",)}], indirect=True)
def test_api_key_is_asked_for_once_and_used(page: Any, live_server: str) -> None:
    assert httpx.get(live_server + "/ui/").status_code == 200  # the page itself is public
    assert httpx.get(live_server + "/api/tags").status_code == 401  # the API stays guarded
    page.goto(live_server + "/")
    page.wait_for_selector("#api-key")
    page.fill("#api-key", "sekret-key")
    page.press("#api-key", "Enter")
    page.wait_for_selector("body[data-ready]", state="attached")
    page.wait_for_selector('#chat-model option[value="smollm2:135m"]', state="attached")
    assert page.locator("#api-key").count() == 0
