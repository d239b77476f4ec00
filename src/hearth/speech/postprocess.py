"""Post-processing of a transcript with an LLM: punctuation, translation, summary.

Every step goes through a `TextModel` (three methods), so tests of the plumbing can pass
a scripted fake while the service uses `EngineTextModel` over hearth's engine. The
prompts are written for 7B-class instruction models; the parsing assumes nothing the
model may fail to do: punctuation is aligned back onto the recognised words (a reply
that changes the words is rejected), translations are matched to segments by line
number (missing lines are translated one by one, and a line still untranslated is
reported, never passed off as a translation), and a summary is always a list of
bullet strings.

Steps are generators: they yield `(done, total)` chunk counts and return their result,
so the service can forward progress with `result = yield from step(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Protocol

from hearth.api.ollama import ChatRequest, Message, Options
from hearth.api.speech import Segment
from hearth.errors import Cancelled, HearthError, InvalidInput
from hearth.speech.subtitles import join_text

__all__ = [
    "EngineTextModel",
    "TextModel",
    "Translation",
    "TranslationFailed",
    "language_name",
    "needs_punctuation",
    "normalize_language",
    "paragraphs_by_pauses",
    "parse_bullets",
    "punctuate",
    "summarize",
    "translate",
]


class TextModel(Protocol):
    """The little the post-processing needs from a language model."""

    def complete(self, system: str, user: str, max_tokens: int) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def context_length(self) -> int: ...


class EngineTextModel:
    """`TextModel` over hearth's engine: greedy decoding, one chat turn per call."""

    def __init__(self, engine: object, model: str) -> None:
        self.engine = engine
        self.model = model

    def complete(self, system: str, user: str, max_tokens: int) -> str:
        request = ChatRequest(
            model=self.model,
            messages=[Message(role="system", content=system), Message(role="user", content=user)],
            options=Options(temperature=0, num_predict=max_tokens),
            stream=True,
        )
        chunks = self.engine.chat(request)  # type: ignore[attr-defined]
        parts: list[str] = []
        try:
            for chunk in chunks:
                parts.append(chunk.message.content or "")
        finally:
            chunks.close()
        return "".join(parts)

    def count_tokens(self, text: str) -> int:
        return len(self.engine.tokenize(self.model, text))  # type: ignore[attr-defined]

    def context_length(self) -> int:
        return int(self.engine.context_length(self.model))  # type: ignore[attr-defined]


# Languages -----------------------------------------------------------------

_NAMES = {
    "en": "English", "zh": "Chinese", "zh-tw": "Traditional Chinese (Taiwan)",
    "zh-hant": "Traditional Chinese", "zh-hk": "Traditional Chinese (Hong Kong)",
    "zh-cn": "Simplified Chinese", "zh-hans": "Simplified Chinese", "zh-sg": "Simplified Chinese",
    "ja": "Japanese", "ko": "Korean", "fr": "French", "de": "German", "es": "Spanish",
    "pt": "Portuguese", "pt-br": "Brazilian Portuguese", "it": "Italian", "nl": "Dutch",
    "ru": "Russian", "uk": "Ukrainian", "pl": "Polish", "cs": "Czech", "sv": "Swedish",
    "no": "Norwegian", "da": "Danish", "fi": "Finnish", "tr": "Turkish", "ar": "Arabic",
    "he": "Hebrew", "fa": "Persian", "hi": "Hindi", "bn": "Bengali", "ur": "Urdu",
    "id": "Indonesian", "ms": "Malay", "vi": "Vietnamese", "th": "Thai", "tl": "Tagalog",
    "el": "Greek", "hu": "Hungarian", "ro": "Romanian", "ca": "Catalan", "yue": "Cantonese",
}  # fmt: skip
# What a prompt adds so a model writes the right script and usage.
_PROMPT_HINTS = {
    "zh-tw": "Traditional Chinese characters as used in Taiwan (繁體中文, 台灣用語), never Simplified",
    "zh-hant": "Traditional Chinese characters (繁體中文), never Simplified",
    "zh-hk": "Traditional Chinese characters as used in Hong Kong (繁體中文), never Simplified",
    "zh-cn": "Simplified Chinese characters as used in mainland China (简体中文)",
    "zh-hans": "Simplified Chinese characters (简体中文)",
    "zh-sg": "Simplified Chinese characters (简体中文)",
}
_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def normalize_language(tag: str | None, what: str = "language") -> str | None:
    """`zh_TW`/`ZH-tw` -> `zh-tw`; None/""/auto -> None; nonsense -> InvalidInput."""
    if tag is None or not tag.strip() or tag.strip().lower() == "auto":
        return None
    text = tag.strip()
    if not _TAG.match(text):
        raise InvalidInput(
            f"{what} {tag!r} is not a language code: use e.g. en, zh, ja, zh-TW (Traditional Chinese), zh-CN"
        )
    return text.replace("_", "-").lower()


def language_name(tag: str | None) -> str:
    """A short English name for a language code: `zh-TW` -> Traditional Chinese (Taiwan)."""
    if not tag or tag == "und":
        return "the original language"
    tag = tag.lower()
    return _NAMES.get(tag) or _NAMES.get(tag.split("-")[0]) or tag


def prompt_language(tag: str | None) -> str:
    """How prompts name a language: with the script to use, where that matters."""
    if not tag or tag == "und":
        return "the same language as the text"
    tag = tag.lower()
    if tag in _PROMPT_HINTS:
        return f"{language_name(tag)}: {_PROMPT_HINTS[tag]}"
    name = language_name(tag)
    return name if name != tag else f"the language with code {tag!r}"


# Units: words (or CJK characters) with their punctuation ---------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_UNIT = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_KEY_DROP = re.compile(r"[\W_]+", re.UNICODE)
_PARAGRAPH = re.compile(r"\n\s*\n")


def _units(text: str) -> list[tuple[str, str]]:
    """Split into (key, surface) units; punctuation-only pieces join their neighbour."""
    units: list[tuple[str, str]] = []
    pending = ""  # punctuation before the first unit
    for match in _UNIT.finditer(text):
        surface = match.group()
        key = _KEY_DROP.sub("", surface).lower()
        if not key:
            if units:
                units[-1] = (units[-1][0], units[-1][1] + surface)
            else:
                pending += surface
            continue
        units.append((key, pending + surface))
        pending = ""
    return units


_SENTENCE_END = re.compile(r"[.!?。！？…]")


def needs_punctuation(segments: list[Segment]) -> bool:
    """True when the text has too little sentence punctuation to read comfortably."""
    text = " ".join(s.text for s in segments)
    units = len(_units(text))
    if units < 12:
        return False
    marks = len(_SENTENCE_END.findall(text))
    return units / max(marks, 1) > 45 or marks == 0


def paragraphs_by_pauses(segments: list[Segment], gap: float = 2.0, max_units: int = 120) -> str:
    """Join segments into text, starting a paragraph at a long pause or a long paragraph's sentence end."""
    paragraphs: list[list[str]] = []
    size = 0
    previous_end: float | None = None
    for seg in segments:
        long_pause = previous_end is not None and seg.start - previous_end >= gap
        if not paragraphs or long_pause or size >= max_units:
            paragraphs.append([])
            size = 0
        paragraphs[-1].append(seg.text)
        size += len(_units(seg.text))
        if size >= max_units and not _SENTENCE_END.search(seg.text[-1:] or ""):
            size = max_units - 1  # wait for a sentence end before breaking
        previous_end = seg.end
    return "\n\n".join(join_text(p) for p in paragraphs)


# Chunking -------------------------------------------------------------------


def _chunks(segments: list[Segment], model: TextModel, budget: int) -> list[list[int]]:
    """Group segment indexes into runs whose text fits `budget` tokens (a long segment alone)."""
    groups: list[list[int]] = []
    used = 0
    for index, seg in enumerate(segments):
        cost = model.count_tokens(seg.text) + 4
        if groups and used + cost <= budget:
            groups[-1].append(index)
            used += cost
        else:
            groups.append([index])
            used = cost
    return groups


def _complete(model: TextModel, system: str, user: str, wanted: int) -> str:
    """One call, asking for at most the tokens that still fit the context after the prompt."""
    room = model.context_length() - model.count_tokens(system) - model.count_tokens(user) - 32
    return model.complete(system, user, max(16, min(wanted, room)))


def _input_budget(model: TextModel, system: str, expansion: float, cap: int) -> int:
    """Tokens of input per call so that input + prompt + expected output fit the context."""
    free = model.context_length() - model.count_tokens(system) - 64
    return max(32, min(cap, int(free / (1 + expansion))))


# Punctuation ----------------------------------------------------------------

PUNCTUATE_SYSTEM = (
    "You restore punctuation in raw speech-recognition transcripts. Add punctuation marks, "
    "capital letters and a blank line between paragraphs. Keep every word exactly as given and "
    "in the same order: do not add, drop, translate, reword or correct any word. Use the "
    "punctuation conventions of the transcript's language (for Chinese: ，。？！). Reply with "
    "the punctuated transcript only."
)


def punctuate(
    segments: list[Segment], model: TextModel, min_match: float = 0.9
) -> Generator[tuple[int, int], None, tuple[list[Segment], str]]:
    """Punctuate `segments` in chunks; return (segments with punctuation, paragraphed text).

    The model's reply is aligned word by word onto the recognised words; only the
    punctuation, casing and paragraph breaks it adds are kept, so timestamps stay exact.
    A chunk whose reply does not keep `min_match` of the words is left as it was.
    """
    budget = _input_budget(model, PUNCTUATE_SYSTEM, expansion=1.3, cap=700)
    seg_units = [_units(seg.text) for seg in segments]
    new_units = [list(u) for u in seg_units]
    breaks: set[tuple[int, int]] = set()  # (segment, unit) starting a paragraph
    groups = _chunks(segments, model, budget)
    for done, group in enumerate(groups):
        yield done, len(groups)
        positions = [(s, u) for s in group for u in range(len(seg_units[s]))]
        source = [seg_units[s][u] for s, u in positions]
        text = join_text([segments[s].text for s in group])
        max_tokens = int(model.count_tokens(text) * 1.5) + 32
        reply = _complete(model, PUNCTUATE_SYSTEM, text, max_tokens)
        out_units: list[tuple[str, str]] = []
        out_breaks: set[int] = set()
        for p_index, paragraph in enumerate(_PARAGRAPH.split(reply.strip())):
            if p_index and out_units:
                out_breaks.add(len(out_units))
            out_units.extend(_units(paragraph))
        matcher = SequenceMatcher(
            None, [k for k, _ in source], [k for k, _ in out_units], autojunk=False
        )
        blocks = matcher.get_matching_blocks()
        matched = sum(b.size for b in blocks)
        if (
            not source
            or matched / len(source) < min_match
            or len(out_units) > 1.2 * len(source) + 5
        ):
            continue
        for block in blocks:
            for offset in range(block.size):
                s, u = positions[block.a + offset]
                j = block.b + offset
                new_units[s][u] = (source[block.a + offset][0], out_units[j][1])
                if j in out_breaks:
                    breaks.add((s, u))
    yield len(groups), len(groups)
    result: list[Segment] = []
    paragraphs: list[list[str]] = [[]]
    for s, seg in enumerate(segments):
        surfaces = [surface for _, surface in new_units[s]]
        result.append(seg.model_copy(update={"text": join_text(surfaces) or seg.text}))
        for u, surface in enumerate(surfaces):
            if (s, u) in breaks and paragraphs[-1]:
                paragraphs.append([])
            paragraphs[-1].append(surface)
    text = "\n\n".join(join_text(p) for p in paragraphs if p)
    return result, text


# Translation ----------------------------------------------------------------


def translate_system(source: str | None, target: str) -> str:
    return (
        f"You are a professional translator. Translate each numbered line of a speech "
        f"transcript from {language_name(source)} into {prompt_language(target)}. The lines are "
        "consecutive pieces of one talk: keep the meaning faithful and natural, keep names, and "
        "translate every line. Reply with exactly one line per input line, in the form "
        "`N. translation`, with the same numbers, and nothing else."
    )


def single_system(source: str | None, target: str) -> str:
    return (
        f"Translate the user's text from {language_name(source)} into {prompt_language(target)}. "
        "Reply with the translation only."
    )


_NUMBERED = re.compile(r"^\s*(?:\[)?(\d{1,4})(?:\])?\s*[.)、:：\]-]\s*(.*)$")
_LABEL = re.compile(r"^\s*(?:translation|translated text|译文|譯文|翻譯|翻译)\s*[:：]\s*", re.I)


def _clean_single(reply: str) -> str:
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = _LABEL.sub("", lines[0])
    if line.endswith(":") and len(lines) > 1:
        line = _LABEL.sub("", lines[1])
    return line.strip().strip('"“”「」').strip()


class TranslationFailed(HearthError):
    """The model translated none of the transcript."""

    status = 422


@dataclass
class Translation:
    """Translated segments (same timestamps); `untranslated` ones keep the original text."""

    segments: list[Segment]
    untranslated: list[int]
    reason: str  # why the untranslated ones were not: the model's last error, or no answer


def _attempt(model: TextModel, system: str, user: str, wanted: int) -> tuple[str, str | None]:
    """`_complete`, with a model error returned (as its message) instead of raised."""
    try:
        return _complete(model, system, user, wanted), None
    except Cancelled:
        raise
    except HearthError as exc:
        return "", exc.message


def translate(
    segments: list[Segment], model: TextModel, source: str | None, target: str
) -> Generator[tuple[int, int], None, Translation]:
    """Translate segment by segment (in numbered groups) so each keeps its timestamps.

    A segment the model gives no translation for, even asked alone, is listed in
    `Translation.untranslated` (and keeps its text); when that is every segment, the
    translation fails with `TranslationFailed`.
    """
    system = translate_system(source, target)
    budget = _input_budget(model, system, expansion=2.5, cap=600)
    groups = _chunks(segments, model, budget)
    texts: list[str | None] = [None] * len(segments)
    last_error: str | None = None
    for done, group in enumerate(groups):
        yield done, len(groups)
        numbered = "\n".join(f"{n}. {segments[i].text}" for n, i in enumerate(group, start=1))
        max_tokens = int(model.count_tokens(numbered) * 3) + 16 * len(group) + 32
        reply, error = _attempt(model, system, numbered, max_tokens)
        last_error = error or last_error
        found: dict[int, str] = {}
        for line in reply.splitlines():
            match = _NUMBERED.match(line)
            if match and match[2].strip():
                number = int(match[1])
                if 1 <= number <= len(group) and number not in found:
                    found[number] = match[2].strip()
        if len(group) == 1 and not found:
            found[1] = _clean_single(reply)
        for n, i in enumerate(group, start=1):
            texts[i] = found.get(n)
        for i in group:  # lines the model skipped: one by one
            if not texts[i]:
                one = single_system(source, target)
                wanted = model.count_tokens(segments[i].text) * 3 + 32
                reply, error = _attempt(model, one, segments[i].text, wanted)
                last_error = error or last_error
                texts[i] = _clean_single(reply) or None
    yield len(groups), len(groups)
    untranslated = [i for i, text in enumerate(texts) if not text]
    reason = f"the model failed: {last_error}" if last_error else "the model gave no translation"
    if segments and len(untranslated) == len(segments):
        raise TranslationFailed(
            f"the translation into {language_name(target)} failed ({reason}): "
            "choose a larger model, or transcribe without a translation"
        )
    return Translation(
        segments=[
            seg.model_copy(update={"text": texts[i] or seg.text, "words": None})
            for i, seg in enumerate(segments)
        ],
        untranslated=untranslated,
        reason=reason,
    )


# Summary --------------------------------------------------------------------

SUMMARY_POINTS = "3 to 7"
MAX_BULLETS = 10


def summary_system(target: str | None) -> str:
    return (
        "You summarise transcripts of talks, lectures and meetings. Write the key points of the "
        f"user's text as {SUMMARY_POINTS} short bullet points in {prompt_language(target)}. Each "
        "bullet is one line starting with '- ' and states one concrete point (facts, decisions, "
        "conclusions). Reply with the bullet points only, no introduction."
    )


def reduce_system(target: str | None) -> str:
    return (
        "The user's notes are bullet points from consecutive parts of one transcript. Merge them "
        f"into {SUMMARY_POINTS} bullet points in {prompt_language(target)} that cover the whole "
        "transcript: combine repeats, keep the most important points, keep the order of the talk. "
        "Each bullet is one line starting with '- '. Reply with the bullet points only."
    )


_BULLET = re.compile(r"^\s*(?:[-*•·●▪‣–—]|\d{1,2}[.)、]|[a-z][.)])\s+(.*)$")
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s*")
_PREAMBLE = re.compile(
    r"^(here (are|is)|sure|certainly|summary|key points|the (key|main) points|bullet points)\b",
    re.I,
)


def parse_bullets(reply: str, limit: int = MAX_BULLETS) -> list[str]:
    """A model's reply as bullet strings, whatever shape the reply has."""
    lines = [line.strip() for line in reply.replace("\r", "").split("\n") if line.strip()]
    bullets = [m[1] for line in lines if (m := _BULLET.match(line))]
    if not bullets:
        kept = [line for line in lines if not (line.endswith(":") or _PREAMBLE.match(line))]
        bullets = kept if len(kept) > 1 else [s for s in _SENTENCES.split(" ".join(kept)) if s]
    seen: set[str] = set()
    out: list[str] = []
    for bullet in bullets:
        text = re.sub(r"[*_`#]+", "", bullet).strip().strip("-•").strip()
        if len(text) > 300:
            text = text[:300].rsplit(" ", 1)[0] + "…"
        key = text.lower()
        if (len(_units(text)) < 2 and len(text) < 4) or key in seen:
            continue
        seen.add(key)
        out.append(text)
        if len(out) >= limit:
            break
    return out


def _extractive(text: str, count: int = 3) -> list[str]:
    sentences = [s.strip() for s in _SENTENCES.split(text) if len(s.strip()) > 3]
    return sentences[:count] or [text.strip()[:300]]


def _pack(pieces: list[str], model: TextModel, budget: int) -> list[str]:
    """Join pieces into as few texts of at most `budget` tokens as possible."""
    packs: list[str] = []
    used = 0
    for piece in pieces:
        cost = model.count_tokens(piece) + 2
        if packs and used + cost <= budget:
            packs[-1] += "\n" + piece
            used += cost
        else:
            packs.append(piece)
            used = cost
    return packs


def summarize(
    segments: list[Segment],
    model: TextModel,
    target: str | None,
    extracted: list[int] | None = None,
) -> Generator[tuple[int, int], None, list[str]]:
    """Bullet-point summary by map-reduce over chunks that fit the model's context.

    A chunk the model writes no bullets for is summarised by its opening sentences; its
    index goes into `extracted` (when given), so the caller can say so.
    """
    context = model.context_length()
    output_tokens = max(64, min(400, context // 4))
    system = summary_system(target)
    budget = max(64, min(3000, context - model.count_tokens(system) - output_tokens - 64))
    texts = [join_text([segments[i].text for i in g]) for g in _chunks(segments, model, budget)]
    total = len(texts)
    done = 0
    notes: list[list[str]] = []
    for index, text in enumerate(texts):
        yield done, total
        bullets = parse_bullets(_complete(model, system, text, output_tokens))
        if not bullets and extracted is not None:
            extracted.append(index)
        notes.append(bullets or _extractive(text))
        done += 1
    merge = reduce_system(target)
    while len(notes) > 1:
        packs = _pack(["\n".join(f"- {b}" for b in n) for n in notes], model, budget)
        if len(packs) >= len(notes):  # cannot shrink further: keep the first points of each
            notes = [parse_bullets("\n".join(f"- {b}" for n in notes for b in n[:2]))]
            break
        total += len(packs)
        merged: list[list[str]] = []
        for pack in packs:
            yield done, total
            bullets = parse_bullets(_complete(model, merge, pack, output_tokens))
            merged.append(bullets or parse_bullets(pack))
            done += 1
        notes = merged
    yield total, total
    return notes[0] if notes else []
