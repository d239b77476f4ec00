"""`hearth transcribe`: audio, video or a URL -> transcript, translation, summary."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from hearth.api.speech import TranscribeDone, TranscribeProgress, TranscribeRequest, Transcript
from hearth.cli.common import err_console, get_services
from hearth.errors import InvalidInput

__all__ = ["FORMATS", "notes", "register", "render", "transcribe_command"]

FORMATS = ("txt", "srt", "vtt", "md", "json")
_SUFFIX_FORMAT = {".srt": "srt", ".vtt": "vtt", ".md": "md", ".markdown": "md", ".json": "json"}

HELP = """Transcribe an audio or video file, or a URL, to text; optionally translate and summarise it.

SOURCE is a local file in any common format (mp3, wav, m4a, ogg, flac, mp4, mkv, webm, ...),
a captions file (.vtt/.srt), or a URL: YouTube and the other sites yt-dlp supports, or a
direct link to a media file. Speech is recognised on this machine with Whisper; a hearth
model restores punctuation, translates (--translate-to) and summarises (--summary).

\b
Examples:
  hearth transcribe meeting.m4a -o meeting.md --summary
  hearth transcribe https://www.youtube.com/watch?v=... --translate-to zh-TW --format srt
  hearth transcribe lecture.mp4 --language en --whisper-model ~/models/whisper-large-v3-ct2
"""


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("transcribe", help=HELP, no_args_is_help=True)(transcribe_command)


def transcribe_command(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Audio/video file, captions file, or URL."),
    language: str = typer.Option(
        "auto", "--language", "-l", help="Spoken language: auto, or a code such as en, zh, ja."
    ),
    translate_to: str | None = typer.Option(
        None,
        "--translate-to",
        "-t",
        help="Translate into this language: zh-TW (Traditional Chinese), zh-CN, en, ja, ...",
    ),
    summary: bool = typer.Option(False, "--summary", "-s", help="Add a bullet-point summary."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="hearth model for punctuation, translation and summary."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="Output format: txt, srt, vtt, md or json (default: from -o's suffix, else txt).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of standard output."
    ),
    captions: str = typer.Option(
        "auto",
        "--captions",
        help="Use existing captions in the wanted language: auto (when present), only, never.",
    ),
    whisper_model: str | None = typer.Option(
        None,
        "--whisper-model",
        help="Speech model: base (bundled), a model folder's name in HEARTH_HOME/models/whisper, "
        "or the path of a CTranslate2 Whisper model [env HEARTH_WHISPER_MODEL].",
    ),
    punctuate: bool | None = typer.Option(
        None,
        "--punctuate/--no-punctuate",
        help="Restore punctuation with the model (default: when the transcript has little).",
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", help="Names and words to help recognition (Whisper's initial prompt)."
    ),
) -> None:
    fmt = _pick_format(fmt, output)
    if captions not in {"auto", "only", "never"}:
        raise InvalidInput(f"--captions {captions!r} is not valid: use auto, only or never")
    output = _check_output(output)
    request = TranscribeRequest(
        language=language,
        translate_to=translate_to,
        summary=summary,
        model=model,
        punctuate=punctuate,
        captions=captions,  # type: ignore[arg-type]
        prompt=prompt,
    )
    from hearth.speech.service import check_request

    check_request(request)  # a bad language fails now, not after the recognition
    services = get_services(ctx)  # type: ignore[arg-type]
    events = services.speech.transcribe(source, request, whisper_model=whisper_model)
    result = follow(events)
    write_output(render(result, fmt), output)
    for line in notes(result, source):
        err_console.print(line, markup=False, highlight=False)


def notes(result: Transcript, source: str) -> list[str]:
    """One line for each thing about the result the user should know (printed on stderr)."""
    from hearth.speech.fetch import is_url

    lines = []
    if result.source == "captions" and Path(source).suffix.lower() not in {".vtt", ".srt"}:
        found = "the video's captions" if is_url(source) else "the captions file beside it"
        lines.append(
            f"Note: used {found} ({result.language}); "
            "pass --captions never to run speech recognition"
        )
    return lines + [f"Warning: {warning}" for warning in result.warnings]


def _pick_format(fmt: str | None, output: Path | None) -> str:
    if fmt is None:
        return _SUFFIX_FORMAT.get(output.suffix.lower(), "txt") if output else "txt"
    fmt = fmt.lower().lstrip(".")
    if fmt == "markdown":
        fmt = "md"
    if fmt not in FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not supported: use one of {', '.join(FORMATS)}")
    return fmt


def render(result: Transcript, fmt: str) -> str:
    """The transcript in one of FORMATS."""
    from hearth.speech.subtitles import render_text

    if fmt == "srt":
        return result.srt
    if fmt == "vtt":
        return result.vtt
    if fmt == "md":
        return result.markdown
    if fmt == "json":
        return json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    return render_text(result)


def _check_output(output: Path | None) -> Path | None:
    """-o's path, checked before any work: a file name in a folder that exists."""
    if output is None:
        return None
    output = output.expanduser()
    if output.is_dir():
        raise InvalidInput(f"-o {output} is a folder: give a file name")
    if not output.parent.is_dir():
        raise InvalidInput(
            f"-o {output}: the folder {output.parent} does not exist: create it first"
        )
    return output


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output = _check_output(output)
    assert output is not None
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    err_console.print(f"Wrote {output}")


# Progress -------------------------------------------------------------------

_LABELS = {
    "download": "Downloading",
    "decode": "Decoding",
    "transcribe": "Recognising",
    "punctuate": "Punctuating",
    "translate": "Translating",
    "summarize": "Summarising",
}


def _detail(stage: str, completed: float | None, total: float | None) -> str:
    if completed is None:
        return ""
    if stage == "download":
        done = f"{completed / 1e6:.1f}"
        return f"{done}/{total / 1e6:.1f} MB" if total else f"{done} MB"
    if stage in {"decode", "transcribe"}:
        return f"{_clock(completed)}/{_clock(total)}" if total else _clock(completed)
    return f"{int(completed)}/{int(total)} parts" if total else ""


def _clock(seconds: float | None) -> str:
    minutes, secs = divmod(int(seconds or 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def follow(events: Iterable[TranscribeProgress | TranscribeDone]) -> Transcript:
    """Draw the events as progress bars on stderr (plain lines when not a terminal)."""
    live = err_console.is_terminal
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not live,
    )
    tasks: dict[str, TaskID] = {}
    last_status = ""
    result: Transcript | None = None
    with contextlib.ExitStack() as stack:
        closing: Any = getattr(events, "close", None)
        if closing is not None:
            stack.callback(closing)  # Ctrl-C: the service removes its temp files
        stack.enter_context(progress)
        for event in events:
            if isinstance(event, TranscribeDone):
                result = event.result
                for task in progress.tasks:  # every stage is over: show full bars
                    progress.update(task.id, total=task.total or 1, completed=task.total or 1)
                continue
            label = _LABELS.get(event.stage, event.stage)
            if event.stage not in tasks:
                for task_id in tasks.values():  # earlier stages are over
                    task = progress.tasks[task_id]
                    if task.total is not None:
                        progress.update(task_id, completed=task.total)
                tasks[event.stage] = progress.add_task(label, total=None, detail="")
            progress.update(
                tasks[event.stage],
                completed=event.completed or 0,
                total=event.total,
                detail=_detail(event.stage, event.completed, event.total),
            )
            if not live and event.status != last_status:
                err_console.print(f"{event.status}...")
            last_status = event.status
    if result is None:
        raise InvalidInput("the transcription ended without a result")
    return result
