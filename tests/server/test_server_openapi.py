"""The committed OpenAPI snapshot matches the app, so API changes are deliberate."""

from __future__ import annotations

import json
from pathlib import Path

import hearth.server
from hearth.server.app import openapi_json

SNAPSHOT = Path(hearth.server.__file__).parent / "openapi.json"
REGENERATE = ".venv/bin/python -m hearth.server.app > src/hearth/server/openapi.json"


def test_openapi_snapshot_is_current() -> None:
    current = json.loads(openapi_json())
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    added = sorted(set(current["paths"]) - set(committed["paths"]))
    removed = sorted(set(committed["paths"]) - set(current["paths"]))
    assert current == committed, (
        f"the API differs from the committed snapshot (paths added: {added}, removed: {removed}); "
        f"if the change is deliberate, regenerate it with: {REGENERATE}"
    )


def test_snapshot_documents_both_apis() -> None:
    paths = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["paths"]
    for path in (
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/tags",
        "/v1/chat/completions",
        "/v1/embeddings",
    ):
        assert path in paths
    schema = paths["/api/chat"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ChatRequest")


def test_every_route_that_takes_a_body_documents_it() -> None:
    paths = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["paths"]
    undocumented = [
        f"{method.upper()} {path}"
        for path, methods in paths.items()
        for method, operation in methods.items()
        if method in {"post", "put", "patch"} and "requestBody" not in operation
    ]
    assert undocumented == []
    upload = paths["/api/transcribe"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(upload)
