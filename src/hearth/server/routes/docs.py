"""Routes: collections, documents, retrieval-only search and grounded answers (NDJSON).

Thin adapters over `services.rag` (hearth.rag.RagService); every blocking call runs in a
worker thread. Errors are HearthErrors, rendered once by the app as `{"error": ...}`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from hearth.api.docs import (
    AddResult,
    AskChunk,
    AskRequest,
    Collection,
    CollectionList,
    CreateCollectionRequest,
    DocumentList,
    SearchRequest,
    SearchResponse,
    UrlsRequest,
)
from hearth.errors import HearthError, InvalidInput, PayloadTooLarge
from hearth.server.streaming import collect, open_pump, stream_response

__all__ = ["router"]

router = APIRouter(tags=["documents"])
NDJSON = "application/x-ndjson"
M = TypeVar("M", bound=BaseModel)


def _rag(request: Request) -> Any:
    return request.app.state.services.rag


async def _json(request: Request, model: type[M]) -> M:
    body = await request.body()
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise InvalidInput(f"invalid JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        if first.get("type") == "extra_forbidden":
            raise InvalidInput(f"invalid request: unknown field {field!r}") from None
        if first.get("type") == "missing":
            raise InvalidInput(f"invalid request: field {field!r} is required") from None
        raise InvalidInput(f"invalid request: field {field!r}: {first.get('msg')}") from None


def _line(item: AskChunk) -> bytes:
    return (json.dumps(_chunk(item), ensure_ascii=False) + "\n").encode()


def _chunk(item: AskChunk) -> dict[str, Any]:
    """An answer line without its unset fields, but each source whole (`page: null` too)."""
    data = item.model_dump(mode="json", exclude_none=True)
    if item.sources is not None:
        data["sources"] = [source.model_dump(mode="json") for source in item.sources]
    return data


def _error_line(exc: HearthError) -> bytes:
    return (json.dumps({"error": exc.message}) + "\n").encode()


@router.get("/api/collections", response_model=CollectionList, summary="List collections")
async def list_collections(request: Request) -> CollectionList:
    items = await anyio.to_thread.run_sync(_rag(request).collections)
    return CollectionList(collections=items)


@router.post(
    "/api/collections", response_model=Collection, status_code=201, summary="Create a collection"
)
async def create_collection(request: Request, req: CreateCollectionRequest) -> JSONResponse:
    created = await anyio.to_thread.run_sync(
        _rag(request).create_collection, req.name, req.embed_model
    )
    return JSONResponse(created.model_dump(), status_code=201)


@router.delete("/api/collections/{name}", summary="Delete a collection and its documents")
async def delete_collection(request: Request, name: str) -> Response:
    await anyio.to_thread.run_sync(_rag(request).delete_collection, name)
    return Response(status_code=200)


@router.get(
    "/api/collections/{name}/documents",
    response_model=DocumentList,
    summary="List the documents of a collection",
)
async def list_documents(request: Request, name: str) -> DocumentList:
    docs = await anyio.to_thread.run_sync(_rag(request).documents, name)
    return DocumentList(documents=docs)


@router.post(
    "/api/collections/{name}/documents",
    response_model=AddResult,
    summary='Add documents: multipart `file` fields, or JSON {"urls": [...]}',
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": UrlsRequest.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                    }
                },
            },
        }
    },
)
async def add_documents(request: Request, name: str) -> AddResult:
    rag = _rag(request)
    if request.headers.get("content-type", "").startswith("multipart/"):
        limit = request.app.state.services.settings.max_body_bytes
        try:
            form = await request.form(max_files=1000)
        except Exception as exc:  # malformed multipart bodies raise parser-specific errors
            raise InvalidInput(f"could not read the multipart form: {exc}") from exc
        files: list[tuple[str, bytes, str | None]] = []
        total = 0
        for upload in form.getlist("file"):
            if not isinstance(upload, UploadFile):
                raise InvalidInput("each `file` field must be a file upload")
            data = await upload.read()
            total += len(data)
            if total > limit:
                raise PayloadTooLarge(
                    f"uploads larger than {limit} bytes; send fewer files at a time"
                )
            files.append((upload.filename or "upload", data, upload.content_type))
        await form.close()
        if not files:
            raise InvalidInput("the form has no `file` field: attach documents as `file`")
        return await anyio.to_thread.run_sync(lambda: rag.add_bytes(files, collection=name))
    req = await _json(request, UrlsRequest)
    bad = [u for u in req.urls if not u.lower().startswith(("http://", "https://"))]
    if bad:
        raise InvalidInput(f"url {bad[0]!r} is not an http(s) URL")
    # A team server (beyond loopback) does not fetch URLs of its own network.
    local = request.app.state.services.settings.loopback_only
    return await anyio.to_thread.run_sync(
        lambda: rag.add(req.urls, collection=name, local_network=local)
    )


@router.delete("/api/collections/{name}/documents/{doc_id}", summary="Remove a document")
async def delete_document(request: Request, name: str, doc_id: str) -> Response:
    await anyio.to_thread.run_sync(_rag(request).remove, name, doc_id)
    return Response(status_code=200)


@router.post("/api/search", response_model=SearchResponse, summary="Retrieve passages")
async def search(request: Request, req: SearchRequest) -> SearchResponse:
    sources, _hits = await anyio.to_thread.run_sync(
        lambda: _rag(request).search(req.query, req.collection, k=req.k, diversity=req.diversity)
    )
    return SearchResponse(results=sources)


@router.post(
    "/api/ask",
    summary="Answer from the documents: NDJSON sources, deltas, then done (stream false: the final object)",
    responses={200: {"model": AskChunk, "description": "NDJSON lines"}},
)
async def ask(request: Request, req: AskRequest) -> Response:
    rag = _rag(request)
    first, pump = await open_pump(
        lambda: rag.ask_stream(req.question, req.collection, req.model, req.k, req.diversity)
    )
    if not req.stream:
        items = await collect(request, first, pump)
        if not items:
            return Response(status_code=204)
        return JSONResponse(_chunk(items[-1]))
    return stream_response(first, pump, _line, _error_line, media_type=NDJSON)
