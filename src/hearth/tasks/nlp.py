"""Everyday NLP tasks with one chat model: classify, sentiment, keywords, summarize, translate.

Each task sends a short instruction and the text to the chat function with a JSON schema
as `format`, so decoding is constrained by a grammar and the answer always parses; the
answer is validated against the schema again with jsonschema (a clear error if not).
Decoding is greedy (temperature 0, fixed seed), so a task gives the same answer each time.

Text longer than the context:
- keywords, summarize and translate split it at sentence (or, failing that, word)
  boundaries into pieces that fit, run the task on each piece in order and merge the
  answers (keywords: union in order of first appearance; summary: the bullets of every
  piece; translation: the pieces joined). The result's `chunks` says into how many pieces.
- classify and sentiment refuse it (ContextOverflow): one label for a text the model never
  saw whole would be a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jsonschema

from hearth.api.ollama import ChatRequest, ChatResponse, Message, Options
from hearth.api.tasks import TASK_NAMES
from hearth.errors import BadGateway, ContextOverflow, HearthError, InvalidInput

__all__ = [
    "LANGUAGES",
    "SENTIMENTS",
    "InvalidModelOutput",
    "TaskRunner",
    "language_name",
    "result_schema",
    "task_schema",
]

ChatFn = Callable[[ChatRequest], Iterator[ChatResponse]]
CountFn = Callable[[str], int]

SENTIMENTS = ("positive", "negative", "neutral")
# Scores the grammar allows: 0, 0.05, ..., 1 (a JSON-schema enum, so decoding can only
# produce a number in range; `minimum`/`maximum` alone are not enforced by the grammar).
SCORES = [round(i / 20, 2) for i in range(21)]
MAX_KEYWORDS = 10
MAX_BULLETS = 8
MAX_BULLET_CHARS = 200

LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
    "zh-cn": "Simplified Chinese (as written in mainland China)",
    "zh-hans": "Simplified Chinese",
    "zh-tw": "Traditional Chinese (as written in Taiwan, 繁體中文)",
    "zh-hant": "Traditional Chinese (繁體中文)",
    "zh-hk": "Traditional Chinese (as written in Hong Kong)",
    "ar": "Arabic",
    "hi": "Hindi",
}

# Tokens kept free for the instruction, the chat template and the answer's JSON.
PROMPT_OVERHEAD = 160


class InvalidModelOutput(BadGateway):
    """The model's answer did not parse or did not follow the task's schema."""


def language_name(code: str) -> str:
    """ "zh-TW" -> "Traditional Chinese (...)"; a language name passes through."""
    key = code.strip().lower().replace("_", "-")
    if not key:
        raise InvalidInput("translate needs a target language: --to en, fr, zh-TW, ...")
    if key in LANGUAGES:
        return LANGUAGES[key]
    if re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", key) and len(key) <= 3:
        raise InvalidInput(
            f"unknown language code {code!r}: use one of {', '.join(sorted(LANGUAGES))} or a language name"
        )
    return code.strip()


def _check_labels(labels: Sequence[str] | None) -> list[str]:
    cleaned = [label.strip() for label in (labels or []) if label.strip()]
    if len(cleaned) < 2:
        raise InvalidInput("classify needs at least two labels to choose from: --labels a,b,c")
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput("classify labels must be distinct")
    return cleaned


def task_schema(
    name: str, labels: Sequence[str] | None = None, *, max_chars: int | None = None
) -> dict[str, Any]:
    """The JSON schema the model's answer must follow (it is also the decoding grammar)."""
    if name == "classify":
        props: dict[str, Any] = {"label": {"type": "string", "enum": _check_labels(labels)}}
    elif name == "sentiment":
        props = {
            "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
            "score": {"type": "number", "minimum": 0, "maximum": 1, "enum": SCORES},
        }
    elif name == "keywords":
        props = {
            "keywords": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 60},
                "minItems": 1,
                "maxItems": MAX_KEYWORDS,
            }
        }
    elif name == "summarize":
        props = {
            "bullets": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_BULLET_CHARS},
                "minItems": 1,
                "maxItems": MAX_BULLETS,
            }
        }
    elif name == "translate":
        text: dict[str, Any] = {"type": "string", "minLength": 1}
        if max_chars:
            text["maxLength"] = max_chars
        props = {"translation": text}
    else:
        raise InvalidInput(f"unknown task {name!r}: use one of {', '.join(TASK_NAMES)}")
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def result_schema(name: str, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The schema of a task's result: the model's answer plus `chunks` (pieces the text was
    split into; 1 when it fitted the context whole)."""
    schema = task_schema(name, labels)
    if name == "keywords":
        schema["properties"]["keywords"].pop("maxItems")  # a split text merges several lists
    if name == "summarize":
        schema["properties"]["bullets"].pop("maxItems")
    schema["properties"]["chunks"] = {"type": "integer", "minimum": 1}
    schema["required"] = [*schema["required"], "chunks"]
    return schema


def _instruction(name: str, labels: Sequence[str] | None, to: str | None) -> str:
    if name == "classify":
        return (
            "Classify the user's text. Choose exactly one label from this list: "
            + ", ".join(labels or [])
            + '. Answer with JSON: {"label": "<one of the labels>"}.'
        )
    if name == "sentiment":
        return (
            "Decide the sentiment of the user's text: positive, negative or neutral, and how "
            "sure you are as a score from 0 to 1. Answer with JSON: "
            '{"sentiment": "positive|negative|neutral", "score": 0.9}.'
        )
    if name == "keywords":
        return (
            f"Extract up to {MAX_KEYWORDS} keywords from the user's text: the important words and "
            "short phrases of the text (names, topics, things), copied from the text."
        )
    if name == "summarize":
        return (
            "Summarize the user's text as 1 to 4 short bullet points, each a sentence stating "
            "one main fact of the text."
        )
    language = language_name(to or "")
    return (
        f"Translate the user's text into {language}. Translate everything, add nothing. "
        'Answer with JSON: {"translation": "..."}.'
    )


_EXAMPLE_TEXT = (
    "Heavy rain flooded the streets of Lisbon on Tuesday. The city closed three metro "
    "stations and asked people to stay at home."
)
# One worked example per open-ended task: small models follow an example far better
# than a description of the output.
_EXAMPLES: dict[str, list[Message]] = {
    "keywords": [
        Message(role="user", content=_EXAMPLE_TEXT),
        Message(
            role="assistant",
            content='{"keywords": ["rain", "Lisbon", "flooded streets", "metro stations"]}',
        ),
    ],
    "summarize": [
        Message(role="user", content=_EXAMPLE_TEXT),
        Message(
            role="assistant",
            content='{"bullets": ["Heavy rain flooded Lisbon on Tuesday.", "Three metro stations closed."]}',
        ),
    ],
}

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s+|(?<=[。！？])|\n+")


def split_text(text: str, limit: int, count: CountFn) -> list[str]:
    """Pieces of `text` of at most `limit` tokens each, cut at sentence ends, else at
    spaces, else anywhere (text without spaces, e.g. Chinese)."""
    if count(text) <= limit:
        return [text]
    units: list[str] = []
    for sentence in (s for s in _SENTENCE_END.split(text) if s and s.strip()):
        if count(sentence) <= limit:
            units.append(sentence)
            continue
        words = sentence.split(" ") if " " in sentence.strip() else list(sentence)
        joiner = " " if " " in sentence.strip() else ""
        piece: list[str] = []
        for word in words:
            if piece and count(joiner.join([*piece, word])) > limit:
                units.append(joiner.join(piece))
                piece = []
            piece.append(word)
        if piece:
            units.append(joiner.join(piece))
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}".strip() if current else unit
        if current and count(candidate) > limit:
            pieces.append(current)
            current = unit
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


@dataclass
class TaskRunner:
    """Runs the tasks with one model through a chat function (the engine's, or a client's).

    `count_tokens` and `context_length` decide when a text must be split; `workers` is how
    many texts of a batch are answered at once (the engine decodes them together).
    """

    chat: ChatFn
    model: str
    count_tokens: CountFn
    context_length: int
    seed: int = 0
    workers: int = 1

    @classmethod
    def local(cls, engine: Any, model: str | None = None, *, settings: Any = None) -> TaskRunner:
        """A runner over an in-process engine (`services.engine`)."""
        settings = settings or engine.settings
        name = engine.store.resolve(model or settings.default_model).name
        return cls(
            chat=engine.chat,
            model=name,
            count_tokens=lambda text: len(engine.tokenize(name, text)),
            context_length=engine.context_length(name),
            workers=max(1, int(settings.num_parallel)),
        )

    # ------------------------------------------------------------------ one text
    def run(
        self, name: str, text: str, *, labels: Sequence[str] | None = None, to: str | None = None
    ) -> dict[str, Any]:
        """The task's result for one text (see `result_schema`)."""
        if name not in TASK_NAMES:
            raise InvalidInput(f"unknown task {name!r}: use one of {', '.join(TASK_NAMES)}")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"{name}: the input text is empty")
        if name == "classify":
            labels = _check_labels(labels)
        if name == "translate":
            language_name(to or "")
        instruction = _instruction(name, labels, to)
        text = text.strip()
        budget = self.context_length - PROMPT_OVERHEAD - self.count_tokens(instruction)
        # Room for the answer: a translation is about as long as its source (x2 for safety).
        limit = budget // 3 if name == "translate" else budget - 320
        n_tokens = self.count_tokens(text)
        if n_tokens > limit:
            if name in ("classify", "sentiment"):
                raise ContextOverflow(
                    f"{name}: the text has {n_tokens} tokens but {self.model} can read about {max(limit, 0)} "
                    "at once; shorten it, or give the model a larger context (num_ctx)"
                )
            if limit < 32:
                raise ContextOverflow(
                    f"{name}: the context of {self.model} ({self.context_length} tokens) is too small"
                )
            pieces = split_text(text, limit, self.count_tokens)
        else:
            pieces = [text]
        answers = [self._ask(name, instruction, piece, labels) for piece in pieces]
        return self._merge(name, answers, to)

    def _ask(
        self, name: str, instruction: str, text: str, labels: Sequence[str] | None
    ) -> dict[str, Any]:
        n_tokens = self.count_tokens(text)
        max_chars = max(64, len(text) * 3) if name == "translate" else None
        schema = task_schema(name, labels, max_chars=max_chars)
        predict = 2 * n_tokens + 64 if name == "translate" else 400
        request = ChatRequest(
            model=self.model,
            messages=[
                Message(role="system", content=instruction),
                *_EXAMPLES.get(name, []),
                Message(role="user", content=text),
            ],
            format=schema,
            options=Options(temperature=0, seed=self.seed, num_predict=predict),
            stream=False,
        )
        parts: list[str] = []
        reason = None
        for chunk in self.chat(request):
            parts.append(chunk.message.content or "")
            if chunk.done:
                reason = chunk.done_reason
        raw = "".join(parts)
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            cut = " (the answer was cut at the token limit)" if reason == "length" else ""
            raise InvalidModelOutput(
                f"{name}: {self.model} gave an answer that is not JSON{cut}: {raw[:120]!r}"
            ) from exc
        try:
            jsonschema.validate(answer, schema)
        except jsonschema.ValidationError as exc:
            raise InvalidModelOutput(
                f"{name}: {self.model}'s answer does not follow the task's schema: {exc.message}"
            ) from exc
        if name in ("keywords", "summarize"):
            key = "keywords" if name == "keywords" else "bullets"
            answer[key] = [item.strip() for item in answer[key] if item.strip()]
            if not answer[key]:
                raise InvalidModelOutput(f"{name}: {self.model} answered only blank {key}")
        if name == "translate":
            answer["translation"] = answer["translation"].strip()
            if not answer["translation"]:
                raise InvalidModelOutput(f"translate: {self.model} answered a blank translation")
        return dict(answer)

    @staticmethod
    def _merge(name: str, answers: list[dict[str, Any]], to: str | None = None) -> dict[str, Any]:
        result = dict(answers[0])
        if name == "keywords":
            seen: dict[str, str] = {}
            for answer in answers:
                for word in answer["keywords"]:
                    seen.setdefault(word.casefold(), word)
            result["keywords"] = list(seen.values())
        elif name == "summarize":
            result["bullets"] = [b for answer in answers for b in answer["bullets"]]
        elif name == "translate":
            # Chinese and Japanese are written without spaces between sentences.
            joiner = "" if (to or "").lower().startswith(("zh", "ja")) else " "
            result["translation"] = joiner.join(a["translation"] for a in answers)
        result["chunks"] = len(answers)
        return result

    # ------------------------------------------------------------------ batches
    def run_many(
        self,
        name: str,
        texts: Sequence[str],
        *,
        labels: Sequence[str] | None = None,
        to: str | None = None,
    ) -> Iterator[dict[str, Any] | HearthError]:
        """Results for each text in order; a text that fails gives its HearthError
        (the others still run). Up to `workers` texts are answered at once."""
        if name == "classify":
            _check_labels(labels)
        if name == "translate":
            language_name(to or "")

        def one(text: str) -> dict[str, Any] | HearthError:
            try:
                return self.run(name, text, labels=labels, to=to)
            except HearthError as exc:
                return exc

        if self.workers <= 1 or len(texts) <= 1:
            for text in texts:
                yield one(text)
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(texts))) as pool:
            yield from pool.map(one, texts)
