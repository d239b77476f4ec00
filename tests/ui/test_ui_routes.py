"""GET / content negotiation and the static files of the UI, over a real server."""

from __future__ import annotations

import re

import httpx
import ollama

from hearth.server.routes.ui import STATIC_DIR


def test_tools_get_ollamas_answer(live_server: str) -> None:
    for accept in ("*/*", "application/json", None):
        headers = {"User-Agent": "curl/8.5.0"} | ({"Accept": accept} if accept else {})
        response = httpx.get(live_server + "/", headers=headers)
        assert response.status_code == 200
        assert response.text == "Ollama is running"
        assert response.headers["content-type"].startswith("text/plain")
    head = httpx.head(live_server + "/")
    assert head.status_code == 200
    # The official client still talks to the same server.
    assert any(m.model == "smollm2:135m" for m in ollama.Client(host=live_server).list().models)


def test_browsers_land_on_the_ui(live_server: str) -> None:
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = httpx.get(live_server + "/", headers={"Accept": accept})
    assert response.status_code == 302 and response.headers["location"] == "/ui/"
    assert "Accept" in response.headers["vary"]
    page = httpx.get(live_server + "/", headers={"Accept": accept}, follow_redirects=True)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text


def test_assets_have_types_revalidate_and_stay_inside_the_folder(live_server: str) -> None:
    with httpx.Client(base_url=live_server) as client:
        html = client.get("/ui/").text
        # Every asset the page references is local and served with the right type.
        refs = re.findall(r'(?:href|src)="(/ui/[^"]+)"', html)
        assert refs and all(not ref.startswith("http") for ref in refs)
        types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        for ref in refs:
            response = client.get(ref)
            assert response.status_code == 200, ref
            suffix = "." + ref.rsplit(".", 1)[-1]
            assert response.headers["content-type"].startswith(types[suffix]), ref
            assert response.headers["cache-control"] == "no-cache"
        for module in sorted((STATIC_DIR / "js").glob("*.js")):
            text = module.read_text()
            assert "http://" not in text and "https://cdn" not in text, module.name
            response = client.get(f"/ui/js/{module.name}")
            assert response.headers["content-type"].startswith("text/javascript")
        # Revalidation works: the ETag answers 304.
        first = client.get("/ui/style.css")
        again = client.get("/ui/style.css", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        for escape in ("/ui/%2e%2e/%2e%2e/config.py", "/ui/..%2f..%2fconfig.py", "/ui/nope.js"):
            response = client.get(escape)
            assert response.status_code == 404 and "error" in response.json()
        assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
