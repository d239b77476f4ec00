"""Perplexity of a model on a text, from the model's own logits.

Two conventions, both documented in docs/performance.md and `hearth eval perplexity --help`:

- `sliding` (the default): the text's tokens (with a BOS first when the model's tokenizer
  adds one) are read in windows of `ctx` tokens that start every `stride` tokens (default
  `ctx // 2`). Every token after the first is scored exactly once, in the first window that
  contains it, predicted from all the tokens before it in that window; so after the first
  window each scored token sees at least `ctx - stride` tokens of context. With one window
  (a text shorter than `ctx`) this is the exact perplexity of the whole text.
- `llama.cpp`: what llama.cpp's `perplexity` tool does. The tokens are cut into
  non-overlapping chunks of `ctx` tokens (a trailing partial chunk is dropped); the first
  token of each chunk is replaced by BOS when the model adds one; in each chunk only the
  second half is scored: the tokens at positions ctx//2+1 .. ctx-1, each predicted from
  all before it in the chunk. (The tool itself refuses texts under 2 x ctx tokens; this
  scores any text with one whole chunk.)

Perplexity = exp(total NLL / tokens scored). Bits per byte = total NLL in bits divided by
the UTF-8 bytes of the text (`sliding`) or of the scored tokens (`llama.cpp`, which skips
half the text). Log-softmax is computed in float64 over the full vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hearth.api.tasks import PerplexityFile, PerplexityResult
from hearth.errors import InvalidInput

__all__ = [
    "PerplexityProgress",
    "log_softmax_nll",
    "perplexity",
    "score_texts",
    "windows",
]

Method = Literal["sliding", "llama.cpp"]


@dataclass(frozen=True)
class PerplexityProgress:
    """One window evaluated: `completed` of `total` windows over all the files."""

    file: str
    completed: int
    total: int


@dataclass(frozen=True)
class Window:
    """Evaluate tokens[begin:end]; score the tokens at positions score_from..end-1."""

    begin: int
    end: int
    score_from: int


def windows(n_tokens: int, ctx: int, stride: int, method: Method) -> list[Window]:
    """The windows a text of `n_tokens` tokens is evaluated in (see the module docstring)."""
    if method == "llama.cpp":
        return [
            Window(i * ctx, (i + 1) * ctx, i * ctx + ctx // 2 + 1) for i in range(n_tokens // ctx)
        ]
    out: list[Window] = []
    begin, scored_to = 0, 1
    while True:
        end = min(begin + ctx, n_tokens)
        out.append(Window(begin, end, max(scored_to, begin + 1)))
        scored_to = end
        if end >= n_tokens:
            return out
        begin += stride


def log_softmax_nll(logits: np.ndarray, targets: Sequence[int], block: int = 64) -> np.ndarray:
    """-log p(target) for each row of `logits` (float64 log-softmax over the vocabulary).

    Rows are converted `block` at a time, so memory stays small for long windows."""
    wanted = np.asarray(targets, dtype=np.int64)
    out = np.empty(len(wanted), dtype=np.float64)
    for start in range(0, len(wanted), block):
        rows = np.asarray(logits[start : start + block], dtype=np.float64)
        top = rows.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
        picked = rows[np.arange(len(rows)), wanted[start : start + block]]
        out[start : start + len(rows)] = lse - picked
    return out


def _tokens(llama: Any, text: str) -> list[int]:
    add_bos = bool(llama._model.add_bos_token())
    return list(llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False))


def score_texts(
    llama: Any,
    texts: Sequence[tuple[str, str]],
    *,
    model: str,
    ctx: int,
    stride: int | None = None,
    method: Method = "sliding",
) -> Iterator[PerplexityProgress | PerplexityResult]:
    """Score (name, text) pairs with a leased llama_cpp.Llama built with logits_all=True
    and n_ctx >= ctx. Yields a progress event per window, then the result."""
    if ctx < 4:
        raise InvalidInput(f"--ctx {ctx} is too small: use at least 4 tokens (e.g. 512)")
    if ctx > llama.n_ctx():
        raise InvalidInput(f"--ctx {ctx} is larger than the loaded context ({llama.n_ctx()})")
    trained = int(llama._model.n_ctx_train())
    if 0 < trained < ctx:
        raise InvalidInput(
            f"--ctx {ctx} is longer than the {trained} tokens {model} was trained on: use --ctx {trained} or less"
        )
    if method == "llama.cpp":
        stride = ctx
    stride = stride or max(1, ctx // 2)
    if not 0 < stride <= ctx:
        raise InvalidInput(f"--stride {stride} must be between 1 and the context ({ctx})")
    if not texts:
        raise InvalidInput("no text to score: give one or more files")
    add_bos = bool(llama._model.add_bos_token())
    plans = []
    for name, text in texts:
        if not text.strip():
            raise InvalidInput(f"{name} is empty: nothing to score")
        ids = _tokens(llama, text)
        plan = windows(len(ids), ctx, stride, method)
        if len(ids) < 2 or not plan:
            need = ctx if method == "llama.cpp" else 2
            raise InvalidInput(
                f"{name} has {len(ids)} tokens: the {method} method needs at least {need}"
                + (" (use a smaller --ctx or the sliding method)" if method == "llama.cpp" else "")
            )
        plans.append((name, text, ids, plan))
    total_windows = sum(len(plan) for *_, plan in plans)
    done = 0
    files: list[PerplexityFile] = []
    for name, text, ids, plan in plans:
        nll = 0.0
        scored = 0
        scored_bytes = 0
        for w in plan:
            chunk = ids[w.begin : w.end]
            if method == "llama.cpp" and add_bos:
                chunk = [llama.token_bos(), *chunk[1:]]
            llama.reset()
            llama.eval(chunk)
            rows = llama.scores[w.score_from - 1 - w.begin : w.end - 1 - w.begin]
            targets = ids[w.score_from : w.end]
            nll += float(log_softmax_nll(rows, targets).sum())
            scored += len(targets)
            if method == "llama.cpp":
                scored_bytes += sum(len(llama.detokenize([t])) for t in targets)
            done += 1
            yield PerplexityProgress(file=name, completed=done, total=total_windows)
        n_bytes = scored_bytes if method == "llama.cpp" else len(text.encode("utf-8"))
        files.append(
            PerplexityFile(
                name=name,
                perplexity=math.exp(nll / scored),
                tokens=scored,
                nll=nll,
                bytes=n_bytes,
                bits_per_byte=nll / math.log(2) / n_bytes,
                windows=len(plan),
            )
        )
    nll = sum(f.nll for f in files)
    tokens = sum(f.tokens for f in files)
    n_bytes = sum(f.bytes for f in files)
    yield PerplexityResult(
        model=model,
        method=method,
        ctx=ctx,
        stride=stride,
        perplexity=math.exp(nll / tokens),
        tokens=tokens,
        nll=nll,
        bytes=n_bytes,
        bits_per_byte=nll / math.log(2) / n_bytes,
        files=files,
    )


LeaseFn = Callable[..., AbstractContextManager[Any]]


def perplexity(
    engine: Any,
    model: str,
    texts: Sequence[tuple[str, str]],
    *,
    ctx: int | None = None,
    stride: int | None = None,
    method: Method = "sliding",
) -> Iterator[PerplexityProgress | PerplexityResult]:
    """Perplexity of `model` on (name, text) pairs through `engine.lease` (a private
    llama.cpp context with the logits of every token). `ctx` defaults to the model's
    context length. Yields progress events, then the `PerplexityResult`."""
    if method not in ("sliding", "llama.cpp"):
        raise InvalidInput(f"unknown perplexity method {method!r}: use sliding or llama.cpp")
    size = ctx or engine.context_length(model)
    if ctx is not None and ctx < 4:
        raise InvalidInput(f"--ctx {ctx} is too small: use at least 4 tokens (e.g. 512)")
    with engine.lease(model, n_ctx=size, logits_all=True) as lease:
        yield from score_texts(
            lease.llama, texts, model=lease.record.name, ctx=size, stride=stride, method=method
        )
