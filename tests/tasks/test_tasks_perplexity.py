"""Perplexity of the bundled model, checked against log-softmax over its raw logits."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import pytest
from typer.testing import CliRunner

from hearth.cli.main import app
from hearth.errors import InvalidInput
from hearth.tasks.perplexity import PerplexityProgress, perplexity, windows

TEXT = (
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France, and "
    "Berlin is the capital of Germany. Water boils at one hundred degrees Celsius."
)


def test_sliding_windows_score_every_token_once() -> None:
    for n, ctx, stride in [(100, 16, 8), (100, 16, 5), (17, 16, 8), (5, 16, 8), (64, 16, 15)]:
        plan = windows(n, ctx, stride, "sliding")
        scored = [t for w in plan for t in range(w.score_from, w.end)]
        assert scored == list(range(1, n)), (n, ctx, stride)
        assert all(w.end - w.begin <= ctx and w.score_from > w.begin for w in plan)
        # after the first window each scored token sees at least ctx - stride tokens
        assert all(w.score_from - w.begin >= ctx - stride for w in plan[1:])


def test_llama_cpp_windows_score_the_second_half_of_whole_chunks() -> None:
    plan = windows(70, 16, 16, "llama.cpp")
    assert [(w.begin, w.end, w.score_from) for w in plan] == [
        (0, 16, 9),
        (16, 32, 25),
        (32, 48, 41),
        (48, 64, 57),
    ]


def _raw_nll(llama: Any, ids: list[int], begin: int, end: int, score_from: int) -> float:
    """-sum log p(token) from the raw logits of one evaluation of ids[begin:end]."""
    llama.reset()
    llama.eval(ids[begin:end])
    total = 0.0
    for pos in range(score_from, end):
        row = np.array(llama.scores[pos - 1 - begin], dtype=np.float64)
        log_probs = row - (np.log(np.sum(np.exp(row - row.max()))) + row.max())
        total -= float(log_probs[ids[pos]])
    return total


@pytest.mark.slow
def test_perplexity_matches_log_softmax_over_raw_logits(services: Any, tmp_path: Path) -> None:
    record = services.store.resolve("smollm2:135m")
    reference = llama_cpp.Llama(
        str(record.model_path), n_ctx=64, n_batch=512, logits_all=True, verbose=False, n_threads=1
    )
    try:
        ids = reference.tokenize(TEXT.encode(), add_bos=False)
        n = len(ids)
        assert 20 < n < 64
        one_window = _raw_nll(reference, ids, 0, n, 1)
        # ctx 16, stride 8: windows [0,16) [8,24) [16,32) ..., each scoring what is new.
        windowed = 0.0
        begin, scored_to = 0, 1
        while True:
            end = min(begin + 16, n)
            windowed += _raw_nll(reference, ids, begin, end, max(scored_to, begin + 1))
            scored_to = end
            if end == n:
                break
            begin += 8
        # llama.cpp: whole chunks of 16, second half scored (positions 9..15 of each)
        chunks = sum(
            _raw_nll(reference, ids, c * 16, c * 16 + 16, c * 16 + 9) for c in range(n // 16)
        )
    finally:
        reference.close()

    events = list(perplexity(services.engine, "smollm2:135m", [("t", TEXT)], ctx=64))
    result = events[-1]
    assert result.tokens == n - 1
    assert result.nll == pytest.approx(one_window, rel=1e-4)
    assert result.perplexity == pytest.approx(math.exp(one_window / (n - 1)), rel=1e-4)
    assert result.bytes == len(TEXT.encode())
    assert result.bits_per_byte == pytest.approx(
        one_window / math.log(2) / len(TEXT.encode()), rel=1e-4
    )

    events = list(perplexity(services.engine, "smollm2:135m", [("t", TEXT)], ctx=16, stride=8))
    progress = [e for e in events if isinstance(e, PerplexityProgress)]
    assert [e.completed for e in progress] == list(range(1, len(progress) + 1))
    assert events[-1].stride == 8 and events[-1].tokens == n - 1
    assert events[-1].nll == pytest.approx(windowed, rel=1e-4)
    assert events[-1].perplexity != pytest.approx(
        result.perplexity, rel=1e-3
    )  # less context, other value

    result = list(
        perplexity(services.engine, "smollm2:135m", [("t", TEXT)], ctx=16, method="llama.cpp")
    )[-1]
    assert result.tokens == (n // 16) * 7
    assert result.nll == pytest.approx(chunks, rel=1e-4)

    # The CLI prints the same numbers, and totals over files.
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_text(TEXT, encoding="utf-8")
    env = {"HEARTH_HOME": str(services.settings.home), "HEARTH_HOST": "127.0.0.1:9"}
    out = CliRunner().invoke(
        app,
        [
            "eval",
            "perplexity",
            "--ctx",
            "64",
            "--json",
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.txt"),
        ],
        env=env,
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["files"][0]["nll"] == pytest.approx(one_window, rel=1e-4)
    assert data["tokens"] == 2 * (n - 1)
    assert data["perplexity"] == pytest.approx(math.exp(one_window / (n - 1)), rel=1e-4)


@pytest.mark.slow
def test_perplexity_bad_input(services: Any, tmp_path: Path) -> None:
    def run(texts: list[tuple[str, str]], **kw: Any) -> Any:
        return list(perplexity(services.engine, "smollm2:135m", texts, **kw))

    with pytest.raises(InvalidInput, match="empty"):
        run([("e.txt", "  \n")], ctx=32)
    with pytest.raises(InvalidInput, match="needs at least 2"):
        run([("one.txt", "Hi")], ctx=32)
    with pytest.raises(InvalidInput, match=r"llama\.cpp method needs at least 32"):
        run([("short.txt", "A short text.")], ctx=32, method="llama.cpp")
    with pytest.raises(InvalidInput, match="--stride 40"):
        run([("t", TEXT)], ctx=32, stride=40)
    with pytest.raises(InvalidInput, match="trained on"):
        run([("t", TEXT)], ctx=9000)
    env = {"HEARTH_HOME": str(services.settings.home), "HEARTH_HOST": "127.0.0.1:9"}
    out = CliRunner().invoke(app, ["eval", "perplexity", str(tmp_path / "missing.txt")], env=env)
    assert out.exit_code == 1
    assert "not found" in out.output and "Traceback" not in out.output
    out = CliRunner().invoke(
        app, ["eval", "perplexity", "--method", "best", str(tmp_path)], env=env
    )
    assert out.exit_code == 1 and "unknown --method" in out.output
