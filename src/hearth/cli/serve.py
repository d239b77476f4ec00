"""CLI commands: serve (the Ollama and OpenAI APIs over HTTP)."""

from __future__ import annotations

import logging

import typer

from hearth.cli.common import err_console, get_services, get_settings
from hearth.config import env_help_text
from hearth.errors import InvalidInput

__all__ = ["register"]

HELP = f"""Serve the Ollama API (/api) and the OpenAI API (/v1) over HTTP.

Existing clients work unchanged: the `ollama` and `openai` Python packages, LangChain,
or curl. Listens on HEARTH_HOST (default 127.0.0.1:11434). Listening beyond this
machine (e.g. 0.0.0.0) requires HEARTH_API_KEYS, sent as `Authorization: Bearer KEY`.

\b
Environment:
{env_help_text()}
"""


def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        None,
        "--host",
        help="Address to listen on, HOST[:PORT] (default: HEARTH_HOST or 127.0.0.1:11434)",
    ),
) -> None:
    """Serve the Ollama and OpenAI APIs."""
    import uvicorn

    from hearth.server.app import check_bind, create_app

    settings = get_settings(ctx)  # type: ignore[arg-type]
    if host:
        settings = settings.with_(host=host)
        ctx.find_root().meta["hearth.settings"] = settings
    check_bind(settings)  # before loading anything: refuse unsafe binds with the reason
    bind_host, port = settings.host_port
    _check_free(bind_host, port)
    services = get_services(ctx)  # type: ignore[arg-type]
    app = create_app(services)
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO, format="%(message)s"
    )
    err_console.print(
        f"hearth is listening on {settings.base_url} (Ctrl-C to stop); web UI: {settings.base_url}/"
    )
    uvicorn.run(
        app,
        host=bind_host,
        port=port,
        log_level="debug" if settings.debug else "info",
        access_log=True,
        timeout_graceful_shutdown=5,
    )


def _check_free(host: str, port: int) -> None:
    """Fail with a clear message when the address is taken (another hearth, or Ollama)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InvalidInput(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another hearth (or Ollama) "
                "running there? Stop it, or pick another address with --host or HEARTH_HOST"
            ) from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("serve", help=HELP)(serve)
