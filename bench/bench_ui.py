"""Web UI benchmark: what a user waits for, each against a baseline measured in the same run.

1. Opening the UI: fetching index.html and every asset it references (a cold browser,
   sequentially, over a real loopback server) against the same number of trivial
   requests (GET /api/version) — the cost of the UI's files over the server's floor.
2. Saving a long conversation (PUT /api/conversations/{id} with 400 messages, one SQLite
   transaction) against writing the same JSON to a file with fsync — the cost of the
   transactional store over the simplest durable save.
3. Re-rendering a long streamed answer (~3,000 words of Markdown with code blocks) in
   headless Chromium, as the chat page does once per animation frame, against only
   escaping the same text — must stay well under a 16 ms frame.

    .venv/bin/python bench/bench_ui.py
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from hearth.config import Settings
from hearth.server.app import create_app
from hearth.services import Services


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="hearth-bench-ui-"))
    services = Services.create(Settings().with_(home=home))
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        with httpx.Client(base_url=base) as client:
            html = client.get("/ui/").text
            assets = ["/ui/", *re.findall(r'(?:href|src)="(/ui/[^"]+)"', html)]
            assets += [
                f"/ui/js/{p.name}"
                for p in sorted(
                    (Path(__file__).parents[1] / "src/hearth/web/static/js").glob("*.js")
                )
            ]
            assets = list(dict.fromkeys(assets))
            size = sum(len(client.get(a).content) for a in assets)
            ui = _median(lambda: [client.get(a) for a in assets], 20)
            floor = _median(lambda: [client.get("/api/version") for _ in assets], 20)
            rows.append(
                (
                    f"open the UI ({len(assets)} files, {size / 1000:.0f} kB)",
                    ui,
                    floor,
                    "same number of GET /api/version",
                )
            )

            messages = [
                {
                    "role": "user" if i % 2 == 0 else "assistant",
                    "content": "lorem ipsum dolor " * 40,
                }
                for i in range(400)
            ]
            cid = client.post("/api/conversations", json={}).json()["id"]
            save = _median(
                lambda: client.put(
                    f"/api/conversations/{cid}", json={"messages": messages}
                ).raise_for_status(),
                15,
            )
            target = home / "baseline.json"

            def plain() -> None:
                with open(target, "w") as fh:
                    json.dump({"messages": messages}, fh)
                    fh.flush()
                    os.fsync(fh.fileno())

            base_save = _median(plain, 15)
            rows.append(
                ("save a 400-message conversation", save, base_save, "json.dump + fsync to a file")
            )

        chromium = Path("/usr/bin/chromium")
        if chromium.exists():
            from playwright.sync_api import sync_playwright

            block = "Some **bold** text with `code` and a [link](https://example.org).\n\n```python\nfor i in range(10):\n    print(i)\n```\n\n- item one\n- item two\n\n"
            text = block * 60
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(chromium),
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu"],
                )
                page = browser.new_page()
                page.goto(base + "/ui/")
                page.wait_for_selector("body[data-ready]", state="attached")
                timing = page.evaluate(
                    """async (text) => {
                        const md = await import('/ui/js/markdown.js');
                        const box = document.createElement('div'); document.body.append(box);
                        const run = (f) => { const t = []; for (let i = 0; i < 30; i++) { const s = performance.now(); f(); box.offsetHeight; t.push(performance.now() - s); } t.sort((a, b) => a - b); return t[15]; };
                        return { md: run(() => { box.innerHTML = md.renderMarkdown(text); }),
                                 plain: run(() => { box.innerHTML = md.escapeHtml(text); }) };
                    }""",
                    text,
                )
                browser.close()
            rows.append(
                (
                    f"render a {len(text.split())}-word answer (Chromium)",
                    timing["md"] / 1000,
                    timing["plain"] / 1000,
                    "escape only, same text",
                )
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()

    print(f"{'measure':<44} {'hearth':>10} {'baseline':>10} {'ratio':>7}  baseline")
    for name, value, baseline, what in rows:
        print(
            f"{name:<44} {value * 1000:>8.2f}ms {baseline * 1000:>8.2f}ms {value / baseline:>6.2f}x  {what}"
        )


if __name__ == "__main__":
    main()
