"""Retrieval evaluation on a SQuAD-format file (e.g. DRCD): recall@1, recall@5, MRR@10.

Every paragraph `context` is added as its own document to a throw-away collection (in a
temporary SQLite file, through the same ingest path as `hearth docs add`), every question
is asked against all of them, and a question counts as found at rank r when the r-th
distinct paragraph among the retrieved chunks is its own.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hearth.api.docs import RetrievalReport
from hearth.config import Settings
from hearth.errors import InvalidInput
from hearth.rag.embedder import Embedder
from hearth.rag.retrieval import Method
from hearth.rag.service import RagOptions, RagService

__all__ = ["EvalProgress", "SquadSet", "evaluate_retrieval", "load_squad"]


@dataclass
class SquadSet:
    paragraphs: list[str]
    titles: list[str]
    questions: list[str]
    gold: list[int]  # paragraph index of each question


@dataclass
class EvalProgress:
    stage: str  # "indexing" | "asking"
    completed: int
    total: int


def load_squad(path: Path, limit: int | None = None) -> SquadSet:
    """Read a SQuAD-format file; `limit` keeps the first N paragraphs (and their questions)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable JSON file ({exc})") from exc
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, list):
        raise InvalidInput(f'{path}: not SQuAD format (expected {{"data": [articles...]}})')
    out = SquadSet([], [], [], [])
    try:
        for a, article in enumerate(data):
            for p, para in enumerate(article["paragraphs"]):
                if limit is not None and len(out.paragraphs) >= limit:
                    break
                where = f"{path}: data[{a}].paragraphs[{p}]"
                context = para["context"]
                if not isinstance(context, str) or not context.strip():
                    raise InvalidInput(f"{where}.context must be non-empty text")
                out.paragraphs.append(context)
                out.titles.append(str(article.get("title") or ""))
                for q, qa in enumerate(para.get("qas") or []):
                    question = qa["question"]
                    if not isinstance(question, str) or not question.strip():
                        raise InvalidInput(f"{where}.qas[{q}].question must be non-empty text")
                    out.questions.append(question)
                    out.gold.append(len(out.paragraphs) - 1)
    except (KeyError, TypeError) as exc:
        raise InvalidInput(
            f"{path}: not SQuAD format (each article needs paragraphs with context and qas): {exc}"
        ) from exc
    if not out.paragraphs or not out.questions:
        raise InvalidInput(f"{path}: no paragraphs with questions found")
    return out


@dataclass
class _Ranks:
    ranks: list[int] = field(default_factory=list)  # 0-based rank of the gold paragraph, -1 if > k
    latencies: list[float] = field(default_factory=list)


def evaluate_retrieval(
    dataset: SquadSet,
    settings: Settings,
    engine: Any,
    embedder: Embedder | None = None,
    options: RagOptions | None = None,
    methods: Sequence[Method] = ("hybrid",),
    progress: Callable[[EvalProgress], None] | None = None,
    k: int = 10,
) -> dict[str, RetrievalReport]:
    """Index the paragraphs, ask every question, report per retrieval method."""
    with tempfile.TemporaryDirectory(prefix="hearth-eval-") as tmp:
        rag = RagService(
            settings, engine, embedder=embedder, options=options, path=Path(tmp) / "eval.sqlite"
        )
        try:
            return _run(rag, dataset, methods, progress, k)
        finally:
            rag.close()


def _run(
    rag: RagService,
    dataset: SquadSet,
    methods: Sequence[Method],
    progress: Callable[[EvalProgress], None] | None,
    k: int,
) -> dict[str, RetrievalReport]:
    names = [f"p{i:06d}.txt" for i in range(len(dataset.paragraphs))]
    started = time.perf_counter()
    embed_seconds = 0.0
    batch = 32
    for start in range(0, len(names), batch):
        files = [
            (names[i], dataset.paragraphs[i].encode("utf-8"), "text/plain")
            for i in range(start, min(start + batch, len(names)))
        ]
        result = rag.add_bytes(files, collection="eval")
        if result.errors:
            raise InvalidInput(f"paragraph {result.errors[0].file}: {result.errors[0].error}")
        if progress:
            progress(EvalProgress("indexing", min(start + batch, len(names)), len(names)))
    index = rag.index("eval")
    index_seconds = time.perf_counter() - started
    paragraph_of = np.asarray([int(f[1:7]) for f in index.data.files], dtype=np.int64)
    embedder = rag.embedder_for("eval")

    runs = {m: _Ranks() for m in methods}
    needs_vector = any(m != "bm25" for m in methods)
    for qi, (question, gold) in enumerate(zip(dataset.questions, dataset.gold, strict=True)):
        t0 = time.perf_counter()
        vector = embedder.embed([question], "query")[0] if needs_vector else None
        t_embed = time.perf_counter() - t0
        for method in methods:
            t1 = time.perf_counter()
            hits = index.search(question, vector, k=4 * k, method=method, weight=rag.options.weight)
            seen: list[int] = []
            for hit in hits:
                p = int(paragraph_of[hit.index])
                if p not in seen:
                    seen.append(p)
                if len(seen) == k:
                    break
            runs[method].ranks.append(seen.index(gold) if gold in seen else -1)
            runs[method].latencies.append(
                (t_embed if method != "bm25" else 0.0) + time.perf_counter() - t1
            )
        if progress and (qi % 50 == 0 or qi == len(dataset.questions) - 1):
            progress(EvalProgress("asking", qi + 1, len(dataset.questions)))
    embed_seconds = _embed_seconds(rag)
    reports: dict[str, RetrievalReport] = {}
    for method, run in runs.items():
        ranks = np.asarray(run.ranks)
        found = ranks >= 0
        latencies = np.asarray(run.latencies) * 1000.0
        reports[method] = RetrievalReport.model_validate(
            {
                "recall@1": round(float(np.mean(found & (ranks < 1))), 4),
                "recall@5": round(float(np.mean(found & (ranks < 5))), 4),
                "mrr@10": round(float(np.mean(np.where(found, 1.0 / (np.abs(ranks) + 1), 0.0))), 4),
                "questions": len(ranks),
                "paragraphs": len(dataset.paragraphs),
                "chunks": len(index),
                "index_seconds": round(index_seconds, 2),
                "embed_seconds": round(embed_seconds, 2),
                "latency_p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "latency_p95_ms": round(float(np.percentile(latencies, 95)), 2),
                "method": method,
            }
        )
    return reports


def _embed_seconds(rag: RagService) -> float:
    return float(getattr(rag, "embed_seconds", 0.0))
