"""Subtitles both ways: parse WebVTT/SRT captions, render SRT/VTT/text/Markdown.

Pure functions over `Segment`s; no I/O.
"""

from __future__ import annotations

import html
import re

from hearth.api.speech import Segment, Transcript
from hearth.errors import UnsupportedMedia

__all__ = [
    "format_timestamp",
    "parse_captions",
    "render_markdown",
    "render_srt",
    "render_text",
    "render_vtt",
]

_TIME = re.compile(r"(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2})[.,](?P<ms>\d{1,3})")
_TIME_ANY = r"(?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3}"
_CUE_TIMES = re.compile(rf"^\s*{_TIME_ANY}\s*-->\s*{_TIME_ANY}")
_TAG = re.compile(r"<[^>]+>")


def _seconds(text: str) -> float:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    hours = int(match["h"] or 0)
    millis = int(match["ms"].ljust(3, "0"))
    return hours * 3600 + int(match["m"]) * 60 + int(match["s"]) + millis / 1000


def parse_captions(text: str, name: str = "captions") -> list[Segment]:
    """Parse WebVTT or SRT text into segments (tags stripped, rolling duplicates merged).

    A cue's text runs to the next empty line; a line holding only spaces belongs to the
    text (YouTube's automatic captions have them).
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    segments: list[Segment] = []
    i = 0
    while i < len(lines):
        if _CUE_TIMES.match(lines[i]) is None:
            i += 1
            continue
        start_text, end_text = lines[i].split("-->", 1)
        start = _seconds(start_text)
        end = _seconds(end_text.strip().split()[0])
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i] != "" and _CUE_TIMES.match(lines[i]) is None:
            body.append(lines[i])
            i += 1
        if i < len(lines) and body and body[-1].strip().isdigit() and _CUE_TIMES.match(lines[i]):
            body.pop()  # the next SRT cue's number, when no empty line came between
        cue = " ".join(html.unescape(_TAG.sub("", part)).strip() for part in body)
        cue = re.sub(r"\s+", " ", cue).strip()
        if cue and end >= start:
            segments.append(Segment(start=start, end=end, text=cue))
    if not segments:
        raise UnsupportedMedia(
            f"{name} holds no captions: give a WebVTT (.vtt) or SubRip (.srt) file"
        )
    return _merge_rolling(sorted(segments, key=lambda s: (s.start, s.end)))


def _merge_rolling(segments: list[Segment]) -> list[Segment]:
    """Auto-generated captions repeat the previous line as they scroll; drop the repeats."""
    merged: list[Segment] = []
    for seg in segments:
        if merged:
            prev = merged[-1]
            if seg.text == prev.text:
                merged[-1] = prev.model_copy(update={"end": max(prev.end, seg.end)})
                continue
            if seg.text.startswith(prev.text + " ") and seg.start <= prev.end + 0.05:
                seg = seg.model_copy(update={"text": seg.text[len(prev.text) :].strip()})
        merged.append(seg)
    return merged


def format_timestamp(seconds: float, separator: str = ",") -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: list[Segment]) -> list[tuple[float, float, str]]:
    """Segments as cues with monotonic, non-overlapping times."""
    cues: list[tuple[float, float, str]] = []
    last_end = 0.0
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        start = max(seg.start, last_end)
        end = max(seg.end, start + 0.001)
        cues.append((start, end, text))
        last_end = end
    return cues


def render_srt(segments: list[Segment]) -> str:
    blocks = [
        f"{i}\n{format_timestamp(start)} --> {format_timestamp(end)}\n{text}\n"
        for i, (start, end, text) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(blocks)


def render_vtt(segments: list[Segment]) -> str:
    blocks = [
        f"{format_timestamp(start, '.')} --> {format_timestamp(end, '.')}\n{text}\n"
        for start, end, text in _cues(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


_NO_SPACE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]")


def join_text(parts: list[str]) -> str:
    """Join pieces of text, without spaces between Chinese/Japanese/Korean characters."""
    out = ""
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if out and not (_NO_SPACE.match(out[-1]) and _NO_SPACE.match(part[0])):
            out += " "
        out += part
    return out


def render_text(transcript: Transcript) -> str:
    """Plain text: the transcript, then the translation and the summary when present."""
    parts = [transcript.text.strip()]
    if transcript.translation:
        parts.append(transcript.translation.strip())
    if transcript.summary:
        parts.append("\n".join(f"- {item}" for item in transcript.summary))
    return "\n\n".join(p for p in parts if p) + "\n"


def render_markdown(
    transcript: Transcript, language_name: str, translation_name: str | None
) -> str:
    title = transcript.title or "Transcript"
    minutes, seconds = divmod(round(transcript.duration), 60)
    lines = [f"# {title}", "", f"*{language_name}, {minutes}:{seconds:02d}*", ""]
    for warning in transcript.warnings:
        lines += [f"> Warning: {warning}", ""]
    if transcript.summary:
        lines += ["## Summary", ""]
        lines += [f"- {item}" for item in transcript.summary]
        lines.append("")
    lines += ["## Transcript", "", transcript.text.strip(), ""]
    if transcript.translation:
        lines += [f"## Translation ({translation_name})", "", transcript.translation.strip(), ""]
    return "\n".join(lines)
