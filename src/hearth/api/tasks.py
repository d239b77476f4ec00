"""Task and evaluation API types (no I/O): `POST /api/task/{name}`, `/api/eval/*`.

The same types are what `hearth.tasks` returns, what `hearth eval ... --json` and
`hearth task ... --json` print, and what the Python API gives back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BLEU_TOKENIZERS",
    "TASK_NAMES",
    "BleuLine",
    "BleuResult",
    "EvalRequest",
    "PerplexityFile",
    "PerplexityResult",
    "RougeLine",
    "RougeResult",
    "RougeScore",
    "TaskName",
    "TaskRequest",
    "TaskResponse",
    "Tokenize",
]

TaskName = Literal["classify", "sentiment", "keywords", "summarize", "translate"]
TASK_NAMES: tuple[str, ...] = ("classify", "sentiment", "keywords", "summarize", "translate")


# sacrebleu's tokenizers that work offline (the flores/spm ones download a model), plus
# hearth's own names: auto (pick by language) and word (13a).
BLEU_TOKENIZERS: tuple[str, ...] = ("13a", "intl", "zh", "char", "none", "ja-mecab", "ko-mecab")
Tokenize = Literal["auto", "word", "13a", "intl", "zh", "char", "none", "ja-mecab", "ko-mecab"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- tasks
class TaskRequest(_Strict):
    """`POST /api/task/{name}`: one text or a list of texts (a batch)."""

    model: str | None = Field(default=None, description="Chat model; the default model if absent.")
    input: str | list[str] = Field(description="A text, or a list of texts answered one by one.")
    labels: list[str] | None = Field(
        default=None, description="classify: the allowed labels (2 or more)."
    )
    to: str | None = Field(
        default=None, description="translate: the target language, e.g. en, fr, zh-TW."
    )


class TaskResponse(BaseModel):
    """One result per input text, in order. Each result is the task's JSON object
    (it validates against the task's schema) plus `chunks` when a long text was split."""

    results: list[dict[str, Any]]


# ---------------------------------------------------------------------- BLEU / ROUGE
class EvalRequest(_Strict):
    """`POST /api/eval/bleu|rouge`: one hypothesis per reference line.

    `references` is a list of strings (one reference per line) or a list of reference
    sets (several references per line, each set as long as `hypotheses`; BLEU only)."""

    references: list[str] | list[list[str]]
    hypotheses: list[str]
    tokenize: Tokenize = Field(
        default="auto",
        description="auto: Chinese text as characters (BLEU: sacrebleu's zh), other text as "
        "words (BLEU: 13a). BLEU takes any of sacrebleu's offline tokenizers (13a, intl, zh, "
        "char, none; ja-mecab and ko-mecab when sacrebleu[ja] / sacrebleu[ko] are installed); "
        "ROUGE takes char (or zh) and word (or 13a).",
    )


class BleuLine(BaseModel):
    bleu: float
    precisions: list[float]
    brevity_penalty: float


class BleuResult(BaseModel):
    """Corpus BLEU (sacrebleu) and sentence BLEU per line, on a 0..100 scale."""

    bleu: float
    precisions: list[float]
    brevity_penalty: float
    ratio: float
    hyp_len: int
    ref_len: int
    tokenize: str
    signature: str
    lines: list[BleuLine]


class RougeScore(BaseModel):
    precision: float
    recall: float
    f1: float


class RougeLine(BaseModel):
    rouge1: RougeScore
    rouge2: RougeScore
    rougeL: RougeScore


class RougeResult(BaseModel):
    """ROUGE-1/2/L on a 0..1 scale; the corpus score is the mean over lines."""

    rouge1: float
    rouge2: float
    rougeL: float
    tokenize: Literal["char", "word"]
    lines: list[RougeLine]


# ---------------------------------------------------------------------- perplexity
class PerplexityFile(BaseModel):
    name: str
    perplexity: float
    tokens: int = Field(description="Tokens scored (each predicted from the ones before it).")
    nll: float = Field(description="Total negative log-likelihood of the scored tokens, in nats.")
    bytes: int = Field(description="UTF-8 bytes of the text.")
    bits_per_byte: float
    windows: int


class PerplexityResult(BaseModel):
    model: str
    method: Literal["sliding", "llama.cpp"]
    ctx: int
    stride: int
    perplexity: float
    tokens: int
    nll: float
    bytes: int
    bits_per_byte: float
    files: list[PerplexityFile]
