"""What every command shares: the services, one error handler, console output."""

from __future__ import annotations

import sys
import traceback
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from hearth.config import Settings
from hearth.errors import HearthError, InvalidInput

__all__ = [
    "HearthGroup",
    "console",
    "err_console",
    "fail",
    "get_services",
    "get_settings",
    "human_bytes",
    "print_json",
]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _current_context() -> Any:
    """The running command's context (typer vendors its own click, so ask typer's)."""
    import importlib

    try:
        globals_ = importlib.import_module("typer._click.globals")
    except ImportError:  # older typer uses click itself
        globals_ = importlib.import_module("click.globals")
    return globals_.get_current_context()


def _is_control_flow(exc: BaseException) -> bool:
    """click/typer exceptions (Exit, Abort, usage errors) that click itself must handle."""
    return type(exc).__module__.split(".")[0] in {"click", "typer"}


def _root(ctx: Any) -> Any:
    while ctx.parent is not None:
        ctx = ctx.parent
    return ctx


def get_settings(ctx: Any = None) -> Settings:
    ctx = ctx or _current_context()
    root = _root(ctx)
    settings = root.meta.get("hearth.settings")
    if settings is None:
        settings = Settings.from_env()
        root.meta["hearth.settings"] = settings
    return settings


def get_services(ctx: Any = None) -> Any:
    """The in-process services, built once per command run and closed at its end."""
    from hearth.services import Services

    ctx = ctx or _current_context()
    root = _root(ctx)
    services = root.meta.get("hearth.services")
    if services is None:
        services = Services.create(get_settings(ctx))
        root.meta["hearth.services"] = services
        root.call_on_close(services.close)
    return services


def human_bytes(n: int) -> str:
    """1.2 GB, 98.4 MB: sizes as Ollama prints them (powers of 1000)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error (exit code 1)."""
    raise InvalidInput(message)


def print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _debug() -> bool:
    try:
        return get_settings().debug
    except (HearthError, RuntimeError):
        return False


class HearthGroup(TyperGroup):
    """The root group: turns every error into one line on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except HearthError as exc:
            if _debug():
                traceback.print_exc()
            err_console.print(
                f"[bold red]Error:[/] {escape(exc.message)}", markup=True, highlight=False
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("Interrupted.")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise typer.Exit(1) from None
        except OSError as exc:
            if _debug():
                traceback.print_exc()
            name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            err_console.print(
                f"[bold red]Error:[/] {escape(f'{exc.strerror or exc}{name}')}",
                markup=True,
                highlight=False,
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            if _is_control_flow(exc):
                raise
            if _debug():
                traceback.print_exc()
            err_console.print(
                f"[bold red]Error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} "
                "(run with HEARTH_DEBUG=1 for the traceback, and please report it)",
                markup=True,
                highlight=False,
            )
            raise typer.Exit(1) from None
