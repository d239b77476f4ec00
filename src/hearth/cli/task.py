"""CLI commands: `hearth task classify|sentiment|keywords|summarize|translate`."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

import typer
from rich.markup import escape

from hearth.cli.common import console, err_console, get_services, get_settings, print_json
from hearth.errors import HearthError, InvalidInput, UnsupportedMedia

__all__ = ["register", "task_app"]

task_app = typer.Typer(
    help=(
        "Everyday NLP tasks with a chat model: the answer is constrained by a JSON schema, so it "
        "always parses. INPUT is a text, a file (read whole), or - for one text per line of stdin "
        "(batch: one JSON object per line out).\n\n"
        "\b\nExamples:\n"
        '  hearth task classify --labels sports,politics,science "Messi scored twice."\n'
        "  hearth task sentiment --json review.txt\n"
        '  hearth task translate --to zh-TW "Good morning"\n'
        "  cat reviews.txt | hearth task sentiment - > sentiments.jsonl"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

INPUT = typer.Argument(
    None,
    help=(
        "The text, a path to a UTF-8 file (a missing one is an error, not text), or - (or "
        "nothing, with stdin piped) for one text per stdin line."
    ),
)
MODEL = typer.Option(None, "--model", "-m", help="Chat model (default: HEARTH_DEFAULT_MODEL).")
JSON = typer.Option(
    False,
    "--json",
    help="Print the result as JSON (batches always print one JSON object per line).",
)


def _texts(value: str | None) -> tuple[list[str], bool]:
    """(texts, batch): stdin lines for "-" or piped stdin, else the file's text or the text."""
    if value is None or value == "-":
        if value is None and sys.stdin.isatty():
            raise InvalidInput("give a text, a file, or - to read one text per line from stdin")
        lines = [line.strip() for line in sys.stdin.read().splitlines()]
        texts = [line for line in lines if line]
        if not texts:
            raise InvalidInput("stdin is empty: give one text per line")
        return texts, True
    path = Path(value)
    try:
        is_file = len(value) < 4096 and "\n" not in value and path.is_file()
    except OSError:
        is_file = False
    if is_file:
        try:
            return [path.read_text(encoding="utf-8-sig")], False
        except UnicodeDecodeError as exc:
            raise UnsupportedMedia(
                f"{value!r} is not UTF-8 text: convert it to UTF-8 first"
            ) from exc
    if _looks_like_path(value):
        what = "a folder, not a file" if _is_dir(path) else "no such file"
        raise InvalidInput(f"{what}: {value} (pass the text itself, or - for stdin)")
    return [value], False


# A mistyped file name must not be taken for the text: arguments shaped like these are paths.
_FILE_SUFFIXES = {
    ".txt",
    ".text",
    ".md",
    ".markdown",
    ".srt",
    ".vtt",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".log",
    ".rst",
    ".html",
    ".htm",
    ".xml",
    ".yaml",
    ".yml",
    ".pdf",
    ".docx",
}
_PATH_START = re.compile(r"^(?:~?[/\\]|\.{1,2}[/\\]|[A-Za-z]:[/\\])")


def _looks_like_path(value: str) -> bool:
    """One word that starts like a path (/, ./, ../, ~/, C:\\) or ends in a text-file
    extension (notes.txt, ./drafts/review), or a folder and such a file name with spaces in
    them (../My notes/a b.md). Sentences, URLs and "and/or" stay text."""
    if "\n" in value or "://" in value or len(value) > 1024:
        return False
    text_file = PurePath(value.replace("\\", "/")).suffix.lower() in _FILE_SUFFIXES
    if not any(ch.isspace() for ch in value):
        return text_file or bool(_PATH_START.match(value))
    return text_file and ("/" in value or "\\" in value)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _render(name: str, result: dict[str, Any]) -> None:
    if name == "classify":
        console.print(escape(result["label"]))
    elif name == "sentiment":
        console.print(f"{result['sentiment']} ({result['score']:.2f})")
    elif name == "keywords":
        console.print(escape(", ".join(result["keywords"])))
    elif name == "summarize":
        for bullet in result["bullets"]:
            console.print(f"- {escape(bullet)}")
    else:
        console.print(escape(result["translation"]))
    if result.get("chunks", 1) > 1:
        err_console.print(
            f"(the text was longer than the context: it was split into {result['chunks']} pieces)"
        )


def _results(
    ctx: typer.Context, name: str, texts: list[str], model: str | None, **kwargs: Any
) -> Iterator[dict[str, Any] | HearthError]:
    """Answers in order: through `hearth serve` when one runs at HEARTH_HOST (the model is
    already loaded there), else in this process."""
    from hearth.client import find_server

    client = find_server(get_settings(ctx))
    if client is not None:
        from hearth.sdk import Hearth

        with client:
            remote = Hearth(client=client)
            if len(texts) == 1:
                yield remote.run_task(name, texts[0], model=model, **kwargs)[0]
                return
            for item in remote.run_task(name, texts, model=model, **kwargs):
                yield HearthError(item["error"]) if set(item) == {"error"} else item
        return
    from hearth.tasks.nlp import TaskRunner

    runner = TaskRunner.local(get_services(ctx).engine, model)
    if len(texts) == 1:
        yield runner.run(name, texts[0], **kwargs)
        return
    yield from runner.run_many(name, texts, **kwargs)


def _run(
    ctx: typer.Context,
    name: str,
    value: str | None,
    model: str | None,
    json_out: bool,
    **kwargs: Any,
) -> None:
    texts, batch = _texts(value)
    if not batch:
        result = next(iter(_results(ctx, name, texts, model, **kwargs)))
        assert isinstance(result, dict)
        print_json(result) if json_out else _render(name, result)
        return
    failed = 0
    for line, item in enumerate(_results(ctx, name, texts, model, **kwargs), 1):
        if isinstance(item, HearthError):
            failed += 1
            item = {"error": item.message, "line": line}
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    if failed:
        err_console.print(
            f"[bold red]Error:[/] {failed} of {len(texts)} texts failed (see their error lines)"
        )
        raise typer.Exit(1)


def _labels(value: str | None) -> list[str]:
    labels = [label.strip() for label in (value or "").split(",") if label.strip()]
    if len(labels) < 2:
        raise InvalidInput("classify needs at least two labels: --labels sports,politics,science")
    return labels


@task_app.command("classify")
def classify(
    ctx: typer.Context,
    text: str | None = INPUT,
    labels: str = typer.Option(
        ..., "--labels", "-l", help="Comma-separated labels to choose from (2 or more)."
    ),
    model: str | None = MODEL,
    json_out: bool = JSON,
) -> None:
    """Pick one label from --labels for the text. Text longer than the context is refused."""
    _run(ctx, "classify", text, model, json_out, labels=_labels(labels))


@task_app.command("sentiment")
def sentiment(
    ctx: typer.Context, text: str | None = INPUT, model: str | None = MODEL, json_out: bool = JSON
) -> None:
    """positive, negative or neutral, with a score from 0 to 1. Text longer than the context is refused."""
    _run(ctx, "sentiment", text, model, json_out)


@task_app.command("keywords")
def keywords(
    ctx: typer.Context, text: str | None = INPUT, model: str | None = MODEL, json_out: bool = JSON
) -> None:
    """The text's keywords and key phrases. A text longer than the context is split; keywords are merged."""
    _run(ctx, "keywords", text, model, json_out)


@task_app.command("summarize")
def summarize(
    ctx: typer.Context, text: str | None = INPUT, model: str | None = MODEL, json_out: bool = JSON
) -> None:
    """A summary as bullet points. A text longer than the context is split; each piece adds its bullets."""
    _run(ctx, "summarize", text, model, json_out)


@task_app.command("translate")
def translate(
    ctx: typer.Context,
    text: str | None = INPUT,
    to: str = typer.Option(
        ...,
        "--to",
        "-t",
        help="Target language: en, fr, de, es, ja, zh-CN, zh-TW (Traditional Chinese), ... or a name.",
    ),
    model: str | None = MODEL,
    json_out: bool = JSON,
) -> None:
    """Translate the text. A text longer than the context is split at sentences and translated piece by piece."""
    _run(ctx, "translate", text, model, json_out, to=to)


def register(app: typer.Typer) -> None:
    """Add the `hearth task` group."""
    app.add_typer(task_app, name="task")
