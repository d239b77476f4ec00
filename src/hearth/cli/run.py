"""`hearth run` (chat in the terminal), `ps`, `stop` and `tokenize`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from hearth.api.ollama import ChatRequest, ChatResponse, Message, Options
from hearth.cli.common import (
    console,
    err_console,
    get_services,
    get_settings,
    human_bytes,
    print_json,
)
from hearth.errors import HearthError, InvalidInput

__all__ = ["ChatSession", "register"]

INTERACTIVE_HELP = """Available commands:
  /set system <text>       set the system message
  /set parameter <k> <v>   set a parameter (temperature, top_k, top_p, min_p, seed, num_ctx,
                           num_predict, repeat_penalty, repeat_last_n, stop)
  /show info               show details of the model
  /clear                   clear the conversation
  /bye                     exit
  /?, /help                this help
Use \"\"\" to begin and end a multi-line message."""

_FLOAT = {
    "temperature",
    "top_p",
    "min_p",
    "repeat_penalty",
    "typical_p",
    "presence_penalty",
    "frequency_penalty",
}
_INT = {"top_k", "seed", "num_ctx", "num_predict", "repeat_last_n", "num_thread"}


def _backend(ctx: typer.Context) -> tuple[Callable[[ChatRequest], Iterator[ChatResponse]], Any]:
    """Chat through a running server when there is one (so a model is not loaded twice)."""
    from hearth.client import find_server

    client = find_server(get_settings(ctx))
    if client is not None:
        return client.chat, client
    return get_services(ctx).engine.chat, None


@dataclass
class ChatSession:
    """A conversation in the terminal: messages, system prompt and parameters."""

    model: str
    chat: Callable[[ChatRequest], Iterator[ChatResponse]]
    options: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    messages: list[Message] = field(default_factory=list)
    format: Literal["json"] | None = None
    keep_alive: str | None = None

    def ask(self, text: str, write: Callable[[str], None]) -> ChatResponse | None:
        convo = list(self.messages)
        if self.system:
            convo.insert(0, Message(role="system", content=self.system))
        convo.append(Message(role="user", content=text))
        req = ChatRequest(
            model=self.model,
            messages=convo,
            options=Options.model_validate(self.options) if self.options else None,
            format=self.format,
            keep_alive=self.keep_alive,
        )
        parts: list[str] = []
        final: ChatResponse | None = None
        stream = self.chat(req)
        try:
            for chunk in stream:
                piece = chunk.message.content or ""
                if piece:
                    parts.append(piece)
                    write(piece)
                if chunk.done:
                    final = chunk
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        self.messages += [
            Message(role="user", content=text),
            Message(role="assistant", content="".join(parts)),
        ]
        return final

    def set_parameter(self, name: str, value: str) -> None:
        """Set one parameter, checked (type and range) before it is kept."""
        from hearth.store.modelfile import check_parameters

        options = dict(self.options)
        try:
            if name in _FLOAT:
                options[name] = float(value)
            elif name in _INT:
                options[name] = int(value)
            elif name == "stop":
                options["stop"] = [*options.get("stop", []), value]
            else:
                raise InvalidInput(f"unknown parameter {name!r}; see /? for the list")
        except ValueError:
            kind = "a number" if name in _FLOAT else "an integer"
            raise InvalidInput(f"{name} must be {kind}, not {value!r}") from None
        check_parameters(options)
        self.options = options


def _print_rates(final: ChatResponse | None) -> None:
    if final is None:
        return
    lines = []
    total = (final.total_duration or 0) / 1e9
    lines.append(f"total duration:       {total:.3f}s")
    lines.append(f"load duration:        {(final.load_duration or 0) / 1e9:.3f}s")
    pe, pd = final.prompt_eval_count or 0, (final.prompt_eval_duration or 0) / 1e9
    lines.append(f"prompt eval count:    {pe} token(s)")
    lines.append(f"prompt eval duration: {pd:.3f}s")
    if pd > 0:
        lines.append(f"prompt eval rate:     {pe / pd:.2f} tokens/s")
    ec, ed = final.eval_count or 0, (final.eval_duration or 0) / 1e9
    lines.append(f"eval count:           {ec} token(s)")
    lines.append(f"eval duration:        {ed:.3f}s")
    if ed > 0:
        lines.append(f"eval rate:            {ec / ed:.2f} tokens/s")
    err_console.print("\n".join(lines))


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _read_message(prompt: str = ">>> ") -> str | None:
    try:
        line = input(prompt)
    except EOFError:
        return None
    if line.strip().startswith('"""'):
        first = line.strip()[3:]
        if first.endswith('"""') and len(first) >= 3:
            return first[:-3]
        lines = [first] if first else []
        while True:
            try:
                more = input("... ")
            except EOFError:
                break
            if more.rstrip().endswith('"""'):
                lines.append(more.rstrip()[:-3])
                break
            lines.append(more)
        return "\n".join(lines)
    return line


def _interactive(session: ChatSession, show_info: Callable[[], None], verbose: bool) -> None:
    console.print("Type a message, /? for help, /bye to exit.", style="dim")
    while True:
        try:
            text = _read_message()
        except KeyboardInterrupt:
            console.print("\nUse /bye or Ctrl-D to exit.", style="dim")
            continue
        if text is None:
            _write("\n")
            return
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("/"):
            words = stripped.split(maxsplit=3)
            cmd = words[0].lower()
            if cmd in {"/bye", "/exit", "/quit"}:
                return
            if cmd in {"/?", "/help"}:
                console.print(INTERACTIVE_HELP)
            elif cmd == "/clear":
                session.messages.clear()
                console.print("Cleared the conversation.", style="dim")
            elif cmd == "/show" and len(words) > 1 and words[1] == "info":
                try:
                    show_info()
                except HearthError as exc:  # the chat goes on
                    err_console.print(escape(f"Error: {exc.message}"))
            elif cmd == "/set" and len(words) > 2 and words[1] == "system":
                session.system = stripped.split(maxsplit=2)[2]
                console.print("Set the system message.", style="dim")
            elif cmd == "/set" and len(words) == 4 and words[1] == "parameter":
                try:
                    session.set_parameter(words[2], words[3])
                    console.print(escape(f"Set parameter {words[2]} to {words[3]}."), style="dim")
                except InvalidInput as exc:
                    err_console.print(escape(f"Error: {exc.message.removeprefix('parameters.')}"))
            elif cmd in {"/set", "/show"}:  # known, but incomplete: show how it is used
                usage, lines = [], INTERACTIVE_HELP.splitlines()
                for i, line in enumerate(lines):
                    if line.startswith(f"  {cmd} "):  # with its continuation lines
                        usage.append(line)
                        usage += takewhile(lambda ln: ln.startswith("    "), lines[i + 1 :])
                err_console.print(escape("Usage:\n" + "\n".join(usage)))
            else:
                err_console.print(escape(f"Unknown command {stripped!r}; /? for help."))
            continue
        try:
            final = session.ask(text, _write)
        except KeyboardInterrupt:
            _write("\n")
            continue
        except HearthError as exc:
            err_console.print(escape(f"Error: {exc.message}"))
            continue
        _write("\n\n")
        if verbose:
            _print_rates(final)


def run_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name, e.g. smollm2:135m"),
    prompt: list[str] = typer.Argument(
        None, help="Prompt for a one-shot answer (else interactive)"
    ),
    format: str = typer.Option(None, "--format", help='Response format: "json"'),
    verbose: bool = typer.Option(
        False, "--verbose", help="Show prompt and generation rates (tokens/s)"
    ),
    system: str = typer.Option(None, "--system", help="System message"),
    keep_alive: str = typer.Option(
        None, "--keepalive", help="How long to keep the model loaded (e.g. 5m)"
    ),
    seed: int = typer.Option(
        None, "--seed", help="Sampling seed (with --temperature 0 for determinism)"
    ),
    temperature: float = typer.Option(None, "--temperature", help="Sampling temperature"),
) -> None:
    """Chat with a model. One-shot when a prompt is given or stdin is piped."""
    if format not in (None, "json"):
        raise InvalidInput('--format must be "json"')
    response_format: Literal["json"] | None = "json" if format == "json" else None
    chat, _client = _backend(ctx)
    services_store = None if _client is not None else get_services(ctx).store
    if services_store is not None:
        services_store.resolve(model)  # unknown model: a clear error before anything else
    options: dict[str, Any] = {}
    if seed is not None:
        options["seed"] = seed
    if temperature is not None:
        options["temperature"] = temperature
    if options:
        from hearth.store.modelfile import check_parameters

        try:
            check_parameters(options)
        except InvalidInput as exc:  # name the flag, not the API field
            raise InvalidInput("--" + exc.message.removeprefix("parameters.")) from None
    session = ChatSession(
        model=model,
        chat=chat,
        options=options,
        system=system,
        format=response_format,
        keep_alive=keep_alive,
    )
    text = " ".join(prompt or [])
    piped = not sys.stdin.isatty()
    if piped:
        data = sys.stdin.read()
        text = f"{text}\n\n{data}".strip() if text else data.strip()
    if text or piped:
        if not text:
            raise InvalidInput("nothing to answer: stdin was empty")
        final = session.ask(text, _write)
        _write("\n")
        if verbose:
            _print_rates(final)
        return

    def show_info() -> None:
        if _client is not None:  # the server's model, which may not be in this HEARTH_HOME
            shown = _client.show(model)
            name, d, system = model, shown.details, shown.system
        else:
            record = get_services(ctx).store.resolve(model)
            name, d, system = record.name, record.details, record.system
        table = Table(box=None, show_header=False, pad_edge=False)
        for key, value in (
            ("model", name),
            ("family", d.family),
            ("parameters", d.parameter_size),
            ("quantization", d.quantization_level),
            ("format", d.format),
            ("system", session.system or system or ""),
            ("options", json.dumps(session.options) if session.options else ""),
        ):
            if value:
                table.add_row(f"  {key}", str(value))
        console.print(table)

    _interactive(session, show_info, verbose)


def ps_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON")
) -> None:
    """List the models loaded by the running server."""
    from hearth.client import find_server

    client = find_server(get_settings(ctx))
    if client is None:
        raise InvalidInput("no hearth server is running; start one with `hearth serve`")
    models = client.ps().models
    if as_json:
        print_json([m.model_dump(mode="json") for m in models])
        return
    from hearth.cli.models import print_columns

    rows: list[tuple[str, ...]] = []
    for m in models:
        until = "Forever" if m.expires_at is None else _until(m.expires_at.timestamp())
        rows.append(
            (m.name, m.digest[:12], human_bytes(m.size), str(m.context_length or ""), until)
        )
    print_columns(("NAME", "ID", "SIZE", "CONTEXT", "UNTIL"), rows)


def stop_command(
    ctx: typer.Context, model: str = typer.Argument(..., help="Model to unload")
) -> None:
    """Unload a model from the running server."""
    from hearth.client import find_server

    client = find_server(get_settings(ctx))
    if client is None:
        raise InvalidInput("no hearth server is running; nothing to stop")
    client.stop(model)


def _until(ts: float) -> str:
    left = ts - time.time()
    if left > 10**7:
        return "Forever"
    if left < 60:
        return f"{max(0, int(left))} seconds from now"
    return f"{int(left // 60)} minutes from now"


def _piece(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "<" + " ".join(f"{b:02x}" for b in data) + ">"


def tokenize_command(
    ctx: typer.Context,
    text: list[str] = typer.Argument(None, help="Text to tokenize (or pipe it on stdin)"),
    model: str = typer.Option(None, "--model", "-m", help="Tokenize with this model's tokenizer"),
    encoding: str = typer.Option(
        None, "--encoding", "-e", help="An OpenAI encoding: cl100k_base or o200k_base"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Show how a text is cut into tokens: count, ids, pieces, characters per token."""
    body = " ".join(text or [])
    if not body and not sys.stdin.isatty():
        body = sys.stdin.read()
    if not body:
        raise InvalidInput('give a text to tokenize, e.g. hearth tokenize "自然語言處理"')
    if model and encoding:
        raise InvalidInput("use either --model or --encoding, not both")
    if encoding:
        import quicktok

        if encoding not in {"cl100k_base", "o200k_base"}:
            raise InvalidInput("--encoding must be cl100k_base or o200k_base")
        enc = quicktok.get_encoding(encoding)
        ids = list(enc.encode(body))
        pieces = [_piece(bytes(enc.decode_single_token_bytes(i))) for i in ids]
        source = encoding
    else:
        engine = get_services(ctx).engine
        name = model or get_settings(ctx).default_model
        ids = engine.tokenize(name, body)
        pieces = [_piece(piece) for piece in engine.token_pieces(name, ids)]
        source = name
    chars = len(body)
    result = {
        "tokenizer": source,
        "tokens": len(ids),
        "characters": chars,
        "bytes": len(body.encode("utf-8")),
        "characters_per_token": round(chars / len(ids), 3) if ids else 0.0,
        "ids": ids,
        "pieces": pieces,
    }
    if as_json:
        print_json(result)
        return
    console.print(
        f"{len(ids)} tokens, {chars} characters ({result['bytes']} bytes), "
        f"{result['characters_per_token']} characters per token  [{source}]"
    )
    console.print("ids:    " + json.dumps(ids))
    console.print("pieces: " + " | ".join(p.replace("\n", "\\n") for p in pieces), markup=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("ps")(ps_command)
    app.command("stop")(stop_command)
    app.command("tokenize")(tokenize_command)
