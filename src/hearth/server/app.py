"""The FastAPI application of `hearth serve`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hearth import __version__
from hearth.errors import HearthError
from hearth.server.routes import docs, ollama, openai, speech, tasks, ui
from hearth.services import Services

__all__ = ["create_app"]


def create_app(services: Services) -> FastAPI:
    """Build the app around `services` (kept in `app.state.services`)."""
    app = FastAPI(title="hearth", version=__version__, docs_url=None, redoc_url=None)
    app.state.services = services

    @app.exception_handler(HearthError)
    async def _hearth_error(_request: Request, exc: HearthError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    for module in (ollama, openai, docs, speech, tasks, ui):
        app.include_router(module.router)
    return app
