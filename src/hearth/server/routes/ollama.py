"""Routes: Ollama's API (docs/api.md of Ollama, endpoint by endpoint).

Thin adapters: parse (pydantic, errors rendered by the app), call the engine or the
store, render. Generation streams NDJSON by default; `stream: false` collects the
chunks into one object. Blocking service calls run in worker threads.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.from_thread
import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hearth import __version__
from hearth.api.ollama import (
    ChatRequest,
    ChatResponse,
    CopyRequest,
    CreateRequest,
    DeleteRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    EmbedRequest,
    EmbedResponse,
    GenerateRequest,
    GenerateResponse,
    Logprob,
    Message,
    ModelInfo,
    ProcessResponse,
    ProgressResponse,
    PullRequest,
    ShowRequest,
    ShowResponse,
    TagsResponse,
    ToolCall,
    VersionResponse,
)
from hearth.engine.grammar import unenforced_keywords
from hearth.errors import HearthError, InvalidInput
from hearth.server.streaming import collect, open_pump, stream_response

if TYPE_CHECKING:
    from hearth.services import Services
    from hearth.store.records import ModelRecord

__all__ = [
    "chat_chunks",
    "embed_texts",
    "generate_chunks",
    "merge_chat",
    "merge_generate",
    "model_info",
    "router",
    "services_of",
]

router = APIRouter(tags=["ollama"])

NDJSON = "application/x-ndjson"
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": 'Invalid input: `{"error": "..."}`'},
    404: {"description": 'Unknown model: `{"error": "..."}`'},
}
_DIGEST = re.compile(r"^sha256[:-][0-9a-f]{64}$")

M = TypeVar("M", bound=BaseModel)


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _line(item: BaseModel) -> bytes:
    return item.model_dump_json(exclude_none=True).encode() + b"\n"


def _error_line(exc: HearthError) -> bytes:
    return json.dumps({"error": exc.message}, ensure_ascii=False).encode() + b"\n"


def _dump(item: BaseModel) -> JSONResponse:
    return JSONResponse(item.model_dump(mode="json", exclude_none=True))


# Generation ---------------------------------------------------------------------


def chat_chunks(services: Services, req: ChatRequest) -> Iterator[ChatResponse]:
    """The chat stream of `req` (the one chat path: /api/chat and /v1/chat/completions)."""
    return iter(services.engine.chat(req))


def generate_chunks(services: Services, req: GenerateRequest) -> Iterator[GenerateResponse]:
    """The completion stream of `req` (/api/generate and /v1/completions)."""
    return iter(services.engine.generate(req))


def merge_chat(chunks: Sequence[ChatResponse]) -> ChatResponse:
    """One response from a chat stream: the texts joined, the last chunk's statistics."""
    last = chunks[-1]
    content = "".join(c.message.content or "" for c in chunks)
    thinking = "".join(c.message.thinking or "" for c in chunks) or None
    calls: list[ToolCall] = [call for c in chunks for call in (c.message.tool_calls or [])]
    message = Message(
        role=last.message.role,
        content=content,
        thinking=thinking,
        tool_calls=calls or None,
    )
    return last.model_copy(update={"message": message, "logprobs": _joined_logprobs(chunks)})


def _joined_logprobs(chunks: Sequence[ChatResponse | GenerateResponse]) -> list[Logprob] | None:
    if all(c.logprobs is None for c in chunks):
        return None
    return [entry for c in chunks for entry in c.logprobs or []]


def merge_generate(chunks: Sequence[GenerateResponse]) -> GenerateResponse:
    last = chunks[-1]
    return last.model_copy(
        update={
            "response": "".join(c.response for c in chunks),
            "logprobs": _joined_logprobs(chunks),
        }
    )


def warn_unenforced(response: Response, fmt: Any) -> Response:
    """Say which constraints of a `format` schema were not applied while generating."""
    loose = unenforced_keywords(fmt) if isinstance(fmt, dict) else []
    if loose:
        response.headers["X-Hearth-Warning"] = (
            "format: not enforced while generating (check the values): " + ", ".join(loose[:8])
        )
    return response


async def _answer(
    request: Request,
    stream: bool | None,
    make: Callable[[], Iterable[M]],
    merge: Callable[[Sequence[M]], M],
) -> Response:
    first, pump = await open_pump(make)
    if stream is False:
        items = await collect(request, first, pump)
        if not items:  # the client left (or the engine yielded nothing)
            return Response(status_code=204)
        return _dump(merge(items))
    return stream_response(first, pump, _line, _error_line, media_type=NDJSON)


@router.post(
    "/api/generate",
    summary="Generate a completion",
    responses={200: {"model": GenerateResponse}, **_ERRORS},
)
async def generate(request: Request, body: GenerateRequest) -> Response:
    """An empty prompt loads the model; with `keep_alive: 0` it unloads it."""
    services = services_of(request)
    response = await _answer(
        request, body.stream, lambda: generate_chunks(services, body), merge_generate
    )
    return warn_unenforced(response, body.format)


@router.post(
    "/api/chat",
    summary="Generate the next message in a chat",
    responses={200: {"model": ChatResponse}, **_ERRORS},
)
async def chat(request: Request, body: ChatRequest) -> Response:
    """Empty messages load the model; with `keep_alive: 0` they unload it."""
    services = services_of(request)
    response = await _answer(request, body.stream, lambda: chat_chunks(services, body), merge_chat)
    return warn_unenforced(response, body.format)


# Embeddings -----------------------------------------------------------------------


def _shorten(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    if dimensions is None or vectors.size == 0:
        return vectors
    width = vectors.shape[1]
    if not 0 < dimensions <= width:
        raise InvalidInput(
            f"dimensions must be between 1 and {width} for this model, got {dimensions}"
        )
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return cut / np.where(norms == 0, 1, norms)


def embed_texts(
    services: Services,
    model: str,
    texts: list[str],
    keep_alive: Any = None,
    dimensions: int | None = None,
    truncate: bool = True,
) -> tuple[np.ndarray, int]:
    """Embed `texts` (the one embedding path: /api/embed, /api/embeddings, /v1/embeddings).

    No texts: only check the model (Ollama answers an empty input with no vectors)."""
    if not texts:
        services.store.resolve(model)
        return np.zeros((0, 0), dtype=np.float32), 0
    result = services.engine.embed(model, texts, keep_alive=keep_alive, truncate=truncate)
    vectors = np.asarray(result.embeddings, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(len(texts), -1)
    return _shorten(vectors, dimensions), int(result.prompt_tokens)


@router.post(
    "/api/embed",
    summary="Generate embeddings",
    responses={200: {"model": EmbedResponse}, **_ERRORS},
)
def embed(request: Request, body: EmbedRequest) -> Response:
    services = services_of(request)
    texts = [body.input] if isinstance(body.input, str) else list(body.input or [])
    start = time.perf_counter_ns()
    vectors, tokens = embed_texts(
        services,
        body.model,
        texts,
        body.keep_alive,
        body.dimensions,
        truncate=body.truncate is not False,
    )
    answer = EmbedResponse(
        model=body.model,
        embeddings=vectors.tolist(),
        total_duration=time.perf_counter_ns() - start,
        load_duration=0,
        prompt_eval_count=tokens,
    )
    return _dump(answer)


@router.post(
    "/api/embeddings",
    summary="Generate one embedding (superseded by /api/embed)",
    responses={200: {"model": EmbeddingsResponse}, **_ERRORS},
)
def embeddings(request: Request, body: EmbeddingsRequest) -> Response:
    if not body.prompt:
        return _dump(EmbeddingsResponse(embedding=[]))
    vectors, _tokens = embed_texts(services_of(request), body.model, [body.prompt], body.keep_alive)
    return _dump(EmbeddingsResponse(embedding=vectors[0].tolist()))


# Models ---------------------------------------------------------------------------


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def model_info(record: ModelRecord) -> ModelInfo:
    return ModelInfo(
        name=record.name,
        model=record.name,
        modified_at=record.modified_at,
        size=record.size,
        digest=_hex(record.digest),
        details=record.details,
    )


@router.get("/api/version", summary="The server's version", response_model=VersionResponse)
def version() -> Response:
    return JSONResponse({"version": __version__}, headers={"X-Hearth-Version": __version__})


@router.get("/api/tags", summary="List local models", response_model=TagsResponse)
def tags(request: Request) -> Response:
    records = services_of(request).store.list()
    return _dump(TagsResponse(models=[model_info(r) for r in records]))


@router.get("/api/ps", summary="List loaded models", response_model=ProcessResponse)
def ps(request: Request) -> Response:
    answer = ProcessResponse(models=services_of(request).engine.ps())
    return JSONResponse(answer.model_dump(mode="json"))  # expires_at null means "forever"


def _name(model: str | None, name: str | None, what: str = "model") -> str:
    chosen = model or name
    if not chosen:
        raise InvalidInput(f"invalid request: field {what!r} is required")
    return chosen


@router.post(
    "/api/show",
    summary="Show a model's details",
    responses={200: {"model": ShowResponse}, **_ERRORS},
)
def show(request: Request, body: ShowRequest) -> Response:
    """Ollama's answer, plus `name_parts` (the name explained) and `memory` (what it takes to run)."""
    from hearth.store import describe

    services = services_of(request)
    record = services.store.resolve(_name(body.model, body.name))
    settings = services.settings
    answer = describe(
        services.store,
        record,
        num_ctx=settings.num_ctx,
        num_parallel=settings.num_parallel,
        verbose=bool(body.verbose),
    )
    return _dump(answer)


@router.post("/api/copy", summary="Copy a model", responses=_ERRORS)
def copy(request: Request, body: CopyRequest) -> Response:
    services_of(request).store.copy(body.source, body.destination)
    return Response(status_code=200)


@router.delete("/api/delete", summary="Delete a model", responses=_ERRORS)
def delete(request: Request, body: DeleteRequest) -> Response:
    services = services_of(request)
    name = _name(body.model, body.name)
    record = services.store.resolve(name)
    services.engine.unload(record.name)
    services.store.delete(name)
    return Response(status_code=200)


async def _progress(
    request: Request, stream: bool | None, make: Callable[[], Iterable[ProgressResponse]]
) -> Response:
    first, pump = await open_pump(make)
    if stream is False:
        items = await collect(request, first, pump)
        last = items[-1] if items else ProgressResponse(status="success")
        return _dump(last)
    return stream_response(first, pump, _line, _error_line, media_type=NDJSON)


@router.post(
    "/api/pull",
    summary="Download a model (streams progress)",
    responses={200: {"model": ProgressResponse}, **_ERRORS},
)
async def pull(request: Request, body: PullRequest) -> Response:
    services = services_of(request)
    name = _name(body.model, body.name)
    return await _progress(request, body.stream, lambda: services.store.pull(name))


def _create_job(body: CreateRequest, name: str, services: Services) -> Iterable[ProgressResponse]:
    """A create request as a store job: Modelfile text, or Ollama's JSON fields."""
    from hearth.store.modelfile import create_from_spec

    base_dir = services.settings.home
    if body.quantize:
        raise InvalidInput("quantizing is not supported: create from an already quantized GGUF")
    if body.modelfile:
        fields = ("from_", "files", "adapters", "template", "license", "system", "parameters")
        extra = [f.rstrip("_") for f in (*fields, "messages") if getattr(body, f) is not None]
        if extra:  # one of the two would be silently ignored
            raise InvalidInput(
                f"invalid request: give either 'modelfile' or the fields ({', '.join(extra)}), not both"
            )
        return services.store.create(name, body.modelfile, base_dir)
    bases = [body.from_] if body.from_ else []
    bases += [str(_blob_path(services, digest)) for digest in (body.files or {}).values()]
    if len(bases) != 1:
        raise InvalidInput(
            "invalid request: give exactly one of 'from' (a model name), 'files' (one GGUF blob) "
            "or 'modelfile'"
        )
    licenses = [body.license] if isinstance(body.license, str) else body.license
    return create_from_spec(
        services.store,
        name,
        base=bases[0],
        base_dir=base_dir,
        parameters=body.parameters,
        system=body.system,
        template=body.template,
        messages=body.messages,
        adapters=[str(_blob_path(services, d)) for d in (body.adapters or {}).values()],
        licenses=licenses,
    )


def _check_digest(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidInput(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return "sha256:" + digest[7:]


def _blob_path(services: Services, digest: str) -> Path:
    digest = _check_digest(digest)
    path: Path = services.store.blob_path(digest)
    if not services.store.has_blob(digest):
        raise InvalidInput(
            f"blob {digest} not found: upload it first with POST /api/blobs/{digest}"
        )
    return path


@router.post(
    "/api/create",
    summary="Create a model (streams progress)",
    responses={200: {"model": ProgressResponse}, **_ERRORS},
)
async def create(request: Request, body: CreateRequest) -> Response:
    services = services_of(request)
    name = _name(body.model, body.name)
    return await _progress(request, body.stream, lambda: _create_job(body, name, services))


@router.head(
    "/api/blobs/{digest}",
    summary="Check that a blob exists",
    responses={404: {"description": "No such blob"}},
)
def blob_exists(request: Request, digest: str) -> Response:
    found = services_of(request).store.has_blob(_check_digest(digest))
    return Response(status_code=200 if found else 404)


@router.post(
    "/api/blobs/{digest}",
    summary="Upload a blob (verified against its digest)",
    status_code=201,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def blob_upload(request: Request, digest: str) -> Response:
    digest = _check_digest(digest)
    services = services_of(request)
    stream = request.stream()

    def chunks() -> Iterator[bytes]:
        # Pull body chunks from the event loop while the store writes in this thread.
        while True:
            try:
                chunk = anyio.from_thread.run(stream.__anext__)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    await anyio.to_thread.run_sync(lambda: services.store.add_blob(chunks(), digest))
    return Response(status_code=201)
