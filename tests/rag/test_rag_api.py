"""The documents API through a real server on loopback, with the bundled models."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from rag_files import HTML, make_pdf

NOTES = b"# Orchard notes\n\n## Apples\nThe Bramley apple trees are pruned every February.\n"


@pytest.fixture
def page_server() -> Iterator[str]:
    """A loopback HTTP server with one HTML page and one PDF."""
    pdf = make_pdf(["The observatory opens at 21:00 on clear nights."])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, ctype = {
                "/lighthouse": (HTML.encode(), "text/html; charset=utf-8"),
                "/observatory.pdf": (pdf, "application/pdf"),
            }.get(self.path, (b"missing", "text/plain"))
            self.send_response(200 if body != b"missing" else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_documents_api_end_to_end(live_server: str, page_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=120) as client:
        created = client.post("/api/collections", json={"name": "farm"})
        assert created.status_code == 201, created.text
        assert created.json()["embed_model"] == "multilingual-e5-small"
        assert client.post("/api/collections", json={"name": "farm"}).status_code == 409
        assert client.post("/api/collections", json={"name": "../x"}).status_code == 400

        files = [
            ("file", ("notes.md", NOTES, "text/markdown")),
            ("file", ("broken.pdf", b"%PDF-1.4 nope", "application/pdf")),
        ]
        added = client.post("/api/collections/farm/documents", files=files)
        assert added.status_code == 200, added.text
        body = added.json()
        assert [d["file"] for d in body["added"]] == ["notes.md"]
        assert (
            body["errors"][0]["file"] == "broken.pdf"
            and "not a readable PDF" in body["errors"][0]["error"]
        )
        again = client.post("/api/collections/farm/documents", files=files[:1]).json()
        assert again["added"] == [] and [d["file"] for d in again["skipped"]] == ["notes.md"]
        twins = [
            ("file", ("twin.md", b"# One\n\nThe first twin.", "text/markdown")),
            ("file", ("twin.md", b"# Two\n\nThe second twin.", "text/markdown")),
        ]
        both = client.post("/api/collections/farm/documents", files=twins).json()
        assert [d["file"] for d in both["added"]] == ["twin.md"]  # the first; never both "added"
        assert "another file in this upload has the same name" in both["errors"][0]["error"]
        twin = next(d for d in both["added"])
        assert client.delete(f"/api/collections/farm/documents/{twin['id']}").status_code == 200

        urls = client.post(
            "/api/collections/farm/documents",
            json={
                "urls": [
                    f"{page_server}/lighthouse",
                    f"{page_server}/observatory.pdf",
                    f"{page_server}/gone",
                ]
            },
        ).json()
        assert sorted(d["file"] for d in urls["added"]) == [
            f"{page_server}/lighthouse",
            f"{page_server}/observatory.pdf",
        ]
        assert "HTTP 404" in urls["errors"][0]["error"]

        docs = client.get("/api/collections/farm/documents").json()["documents"]
        assert len(docs) == 3
        pdf_doc = next(d for d in docs if d["file"].endswith(".pdf"))
        assert pdf_doc["pages"] == 1 and set(pdf_doc) == {
            "id",
            "file",
            "pages",
            "chunks",
            "bytes",
            "added_at",
            "source",
        }
        assert pdf_doc["source"] == f"{page_server}/observatory.pdf"
        listed = client.get("/api/collections").json()["collections"]
        assert listed == [
            {
                "name": "farm",
                "documents": 3,
                "chunks": listed[0]["chunks"],
                "embed_model": "multilingual-e5-small",
            }
        ]

        found = client.post(  # as `curl -d` sends it: JSON labelled as a form
            "/api/search",
            content=json.dumps(
                {"query": "When does the observatory open?", "collection": "farm", "k": 2}
            ),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        results = found.json()["results"]
        assert results[0]["file"].endswith("observatory.pdf") and results[0]["page"] == 1
        assert set(results[0]) == {"n", "file", "page", "anchor", "text", "score", "document_id"}

        with client.stream(
            "POST",
            "/api/ask",
            json={"question": "When are the Bramley apple trees pruned?", "collection": "farm"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in response.iter_lines() if line]
        assert "sources" in lines[0] and lines[0]["sources"][0]["file"] == "notes.md"
        assert all({"page", "anchor"} <= set(s) for s in lines[0]["sources"])  # null, not absent
        assert all("delta" in line for line in lines[1:-1]) and len(lines) > 2
        final = lines[-1]
        assert final["done"] is True and final["answer"] == final["answer"].strip()
        assert isinstance(final["cited"], list) and final["sources"] == lines[0]["sources"]

        single = client.post(
            "/api/ask",
            json={
                "question": "What is the capital of Peru?",
                "collection": "farm",
                "stream": False,
            },
        ).json()
        assert single["done"] is True and single["not_found"] is True and single["sources"]
        assert all("page" in s for s in single["sources"])

        # diversity (MMR) reaches the sources of an answer as it does a search
        query = {"collection": "farm", "k": 3}
        question = "When are the Bramley apple trees pruned?"
        plain = client.post("/api/search", json={**query, "query": question}).json()["results"]
        varied = client.post(
            "/api/search", json={**query, "query": question, "diversity": 0.9}
        ).json()["results"]
        assert [r["text"] for r in varied] != [r["text"] for r in plain]
        answered = client.post(
            "/api/ask",
            json={**query, "question": question, "diversity": 0.9, "stream": False},
        ).json()
        assert [s["text"] for s in answered["sources"]] == [r["text"] for r in varied]

        unknown = client.post("/api/ask", json={"question": "x", "collection": "nope"})
        assert unknown.status_code == 404 and "not found" in unknown.json()["error"]
        bad = client.post("/api/ask", json={"collection": "farm"})
        assert bad.status_code == 400 and "question" in bad.json()["error"]
        huge = client.post("/api/ask", json={"collection": "farm", "question": "馬祖" * 5000})
        assert huge.status_code == 400 and "shorten it to at most 8,000" in huge.json()["error"]

        assert client.delete(f"/api/collections/farm/documents/{pdf_doc['id']}").status_code == 200
        assert client.delete(f"/api/collections/farm/documents/{pdf_doc['id']}").status_code == 404
        assert client.delete("/api/collections/farm/documents/~nosuchuser").status_code == 404
        assert len(client.get("/api/collections/farm/documents").json()["documents"]) == 2
        assert client.delete("/api/collections/farm").status_code == 200
        assert client.get("/api/collections/farm/documents").status_code == 404
