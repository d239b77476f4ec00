"""Routes: the web UI and its saved conversations.

- `GET /` answers tools (curl, the ollama client) like Ollama: "Ollama is running";
  browsers (Accept names text/html) are sent to the UI at `/ui/`.
- `GET /ui/...` serves the static files of `hearth/web/static` (plain ES modules, no
  build step, nothing fetched from elsewhere).
- `/api/conversations`: the conversations the chat page saves (hearth.chats.ChatStore).
"""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse

from hearth.chats import (
    ChatStore,
    Conversation,
    ConversationCreate,
    ConversationList,
    ConversationUpdate,
)
from hearth.errors import NotFound

__all__ = ["STATIC_DIR", "chat_store", "router"]

router = APIRouter(tags=["ui"])

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# Revalidate on every load (cheap with ETag/Last-Modified), so an upgraded hearth never
# serves a page with yesterday's scripts.
_NO_STALE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_lock = threading.Lock()


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "application/xhtml+xml" in accept


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def root(request: Request) -> Response:
    """Ollama's probe answer for tools; the web UI for browsers."""
    if _wants_html(request):
        return RedirectResponse("/ui/", status_code=302, headers={"Vary": "Accept"})
    return PlainTextResponse("Ollama is running", headers={"Vary": "Accept"})


@router.get("/ui", include_in_schema=False)
def ui_slash() -> Response:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/{path:path}", include_in_schema=False)
def asset(request: Request, path: str) -> Response:
    """A file of the UI; `/ui/` is index.html. Answers 304 when the browser's copy is current."""
    target = (STATIC_DIR / (path or "index.html")).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise NotFound(f"/ui/{path}: no such file in the web UI")
    stat = target.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {**_NO_STALE, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    return FileResponse(target, media_type=media or "application/octet-stream", headers=headers)


# Conversations ----------------------------------------------------------------------


def chat_store(request: Request) -> ChatStore:
    """The app's conversation store, opened on first use under settings.data_dir."""
    state = request.app.state
    store: ChatStore | None = getattr(state, "chat_store", None)
    if store is None:
        with _lock:
            store = getattr(state, "chat_store", None)
            if store is None:
                settings = state.services.settings
                store = ChatStore(settings.data_dir / "chats.sqlite")
                state.chat_store = store
    return store


def _dump(model: Conversation | ConversationList, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


@router.get("/api/conversations", summary="List saved conversations", include_in_schema=False)
async def list_conversations(request: Request) -> Response:
    store = chat_store(request)
    items = await anyio.to_thread.run_sync(store.list)
    return _dump(ConversationList(conversations=items))


@router.post("/api/conversations", summary="Save a new conversation", include_in_schema=False)
async def create_conversation(request: Request, body: ConversationCreate) -> Response:
    store = chat_store(request)
    return _dump(await anyio.to_thread.run_sync(store.create, body), status=201)


@router.get("/api/conversations/{conversation_id}", include_in_schema=False)
async def get_conversation(request: Request, conversation_id: str) -> Response:
    store = chat_store(request)
    return _dump(await anyio.to_thread.run_sync(store.get, conversation_id))


@router.put("/api/conversations/{conversation_id}", include_in_schema=False)
async def update_conversation(
    request: Request, conversation_id: str, body: ConversationUpdate
) -> Response:
    store = chat_store(request)
    return _dump(await anyio.to_thread.run_sync(store.update, conversation_id, body))


@router.delete("/api/conversations/{conversation_id}", include_in_schema=False)
async def delete_conversation(request: Request, conversation_id: str) -> Response:
    store = chat_store(request)
    await anyio.to_thread.run_sync(store.delete, conversation_id)
    return JSONResponse({"id": conversation_id, "deleted": True})
