"""Structure-aware, CJK-aware chunking sized in tokens, with overlap.

A loader yields `Section`s (a PDF page, a slide, the text under a heading); chunks never
cross a section, so every chunk keeps its page / slide / heading anchor. Inside a section
the text is cut at sentence ends (。！？；!?; and ". "), and at newlines, then sentences
are packed greedily up to `max_tokens`; the next chunk repeats the last sentences of the
previous one, up to `overlap` tokens. A single sentence longer than `max_tokens` is cut
into pieces (between words for Latin text, between characters for CJK).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hearth.rag.text import estimate_tokens, split_sentences

__all__ = ["Chunk", "Section", "chunk_sections", "join_pieces"]

TokenCounter = Callable[[str], int]

_CJK_EDGE = re.compile(
    r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef\u3040-\u30ff\uac00-\ud7af]"
)


@dataclass(frozen=True)
class Section:
    """A run of text from one place of a document."""

    text: str
    page: int | None = None
    anchor: str | None = None


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None
    anchor: str | None
    tokens: int


def join_pieces(pieces: Iterable[str]) -> str:
    """Join sentences: no space between CJK pieces, one space between Latin ones."""
    out = ""
    for piece in pieces:
        if out and not (_CJK_EDGE.match(out[-1]) or _CJK_EDGE.match(piece[0])):
            out += " "
        out += piece
    return out


def _hard_split(sentence: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Cut an over-long sentence into pieces of at most `max_tokens` (by estimate)."""
    units = re.findall(r"\S+\s*", sentence) if " " in sentence.strip() else list(sentence)
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = current + unit
        if current and count(candidate) > max_tokens:
            pieces.append(current.strip())
            current = unit
        else:
            current = candidate
    if current.strip():
        pieces.append(current.strip())
    return pieces


def chunk_sections(
    sections: Iterable[Section],
    max_tokens: int = 256,
    overlap: int = 32,
    count: TokenCounter = estimate_tokens,
) -> list[Chunk]:
    """Cut sections into chunks of at most `max_tokens` with `overlap` tokens repeated."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    overlap = max(0, min(overlap, max_tokens // 2))
    chunks: list[Chunk] = []
    for section in sections:
        units: list[tuple[str, int]] = []
        for sentence in split_sentences(section.text):
            n = count(sentence)
            if n <= max_tokens:
                units.append((sentence, n))
            else:
                units.extend((p, count(p)) for p in _hard_split(sentence, max_tokens, count))
        current: list[tuple[str, int]] = []
        size = 0
        fresh = 0  # units in `current` not already emitted in the previous chunk
        for unit in units:
            if current and size + unit[1] > max_tokens:
                chunks.append(_make(current, section, count))
                tail: list[tuple[str, int]] = []
                kept = 0
                for prev in reversed(current):
                    if kept + prev[1] > overlap or kept + prev[1] + unit[1] > max_tokens:
                        break
                    tail.insert(0, prev)
                    kept += prev[1]
                current, size, fresh = tail, kept, 0
            current.append(unit)
            size += unit[1]
            fresh += 1
        if current and fresh:
            chunks.append(_make(current, section, count))
    return chunks


def _make(units: list[tuple[str, int]], section: Section, count: TokenCounter) -> Chunk:
    text = join_pieces(u[0] for u in units)
    return Chunk(text=text, page=section.page, anchor=section.anchor, tokens=count(text))
