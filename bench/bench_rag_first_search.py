"""First search in a fresh process: BM25 rebuilt from chunk texts vs loaded from the store.

    .venv/bin/python bench/bench_rag_first_search.py [--factors 1,100] [--repeat 2]

Writes DRCD dev paragraphs (factor 1) or 100x that many synthesised from shuffled DRCD
sentences (like bench_retrieval.py's 100x run) into a real SQLite store through
`DocumentStore.put_document` (vectors are random: the first search's cost does not depend on
their values), then times, in a new Python process each, `RagService.index()` plus one BM25
search: once with the saved postings deleted (the rebuild every process paid before) and once
with them present (load). Also: the time to save the postings, their size in the file, and
that the loaded index scores every DRCD question exactly like the rebuilt one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRCD = ROOT / ".." / "shared" / "data" / "drcd" / "DRCD_dev.json"

_CHILD = """
import sys, time, json
from pathlib import Path
t0 = time.perf_counter()
from hearth.config import Settings
from hearth.rag import RagService
path = Path(sys.argv[1])
rag = RagService(Settings().with_(home=path.parent), engine=None, path=path)
t1 = time.perf_counter()
index = rag.index("bench")
t2 = time.perf_counter()
rag.search(sys.argv[2], "bench", k=5, method="bm25")
t3 = time.perf_counter()
rag.close()
print(json.dumps({"loaded": index.bm25.loaded, "index_s": t2 - t1, "first_search_s": t3 - t1,
                  "process_s": t3 - t0}))
"""


def _corpus(factor: int) -> tuple[list[str], list[str]]:
    from hearth.rag.evaluate import load_squad
    from hearth.rag.text import split_sentences

    dataset = load_squad(DRCD)
    if factor == 1:
        return list(dataset.paragraphs), list(dataset.questions)
    rng = random.Random(0)
    sentences = [s for p in dataset.paragraphs for s in split_sentences(p)]
    per = max(1, len(sentences) // len(dataset.paragraphs))
    n = factor * len(dataset.paragraphs)
    return ["".join(rng.choices(sentences, k=per)) for _ in range(n)], list(dataset.questions)


def _ingest(path: Path, texts: list[str]) -> float:
    from hearth.rag.store import ChunkRecord, DocumentStore

    store = DocumentStore(path)
    store.create_collection("bench", "bench")
    gen = np.random.default_rng(0)
    started = time.perf_counter()
    for d in range(0, len(texts), 1000):
        part = texts[d : d + 1000]
        vectors = gen.standard_normal((len(part), 384)).astype(np.float32)
        chunks = [ChunkRecord(t, None, None, v) for t, v in zip(part, vectors, strict=True)]
        store.put_document("bench", f"doc{d}", f"doc{d}", "0", "txt", None, None, 0, chunks)
    store.close()
    return time.perf_counter() - started


def _child(path: Path, query: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), query],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    return json.loads(out.stdout)


def run(factor: int, repeat: int) -> dict[str, object]:
    from hearth.rag.lexical import BM25
    from hearth.rag.retrieval import BM25_B, BM25_K1
    from hearth.rag.store import DocumentStore

    texts, questions = _corpus(factor)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rag.sqlite"
        ingest = _ingest(path, texts)
        db = sqlite3.connect(path)
        rebuild, load = [], []
        for _ in range(repeat):
            db.execute("DELETE FROM lexical_postings")
            db.commit()
            before = _child(path, questions[0])
            assert not before["loaded"], before
            rebuild.append(before)
            after = _child(path, questions[0])
            assert after["loaded"], after
            load.append(after)
        row = db.execute(
            "SELECT length(terms)+length(docs)+length(tfs)+length(dfs)+length(lengths)"
            " FROM lexical_postings"
        ).fetchone()
        db.close()
        store = DocumentStore(path)
        data = store.load("bench")
        built = BM25(data.texts, k1=BM25_K1, b=BM25_B)
        db2 = sqlite3.connect(path)
        db2.execute("DELETE FROM lexical_postings")
        db2.commit()
        db2.close()
        started = time.perf_counter()
        store.save_lexical("bench", data.generation, built.postings())
        save = time.perf_counter() - started
        postings = store.load_lexical("bench", data.generation, len(data.texts))
        assert postings is not None
        loaded = BM25.from_postings(postings, k1=BM25_K1, b=BM25_B)
        identical = all(np.array_equal(built.scores(q), loaded.scores(q)) for q in questions[:500])
        store.close()
        size = path.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("rag.sqlite-*"))

    def med(runs: list[dict], key: str) -> float:
        return round(float(np.median([r[key] for r in runs])), 3)

    out = {
        "paragraphs": len(texts),
        "ingest_seconds": round(ingest, 1),
        "first_search_rebuild_s": med(rebuild, "first_search_s"),
        "first_search_load_s": med(load, "first_search_s"),
        "index_rebuild_s": med(rebuild, "index_s"),
        "index_load_s": med(load, "index_s"),
        "save_seconds": round(save, 2),
        "lexical_bytes": int(row[0]),
        "file_bytes": size,
        "scores_identical_500_questions": identical,
    }
    out["speedup"] = round(out["first_search_rebuild_s"] / out["first_search_load_s"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", default="1,100")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not DRCD.is_file():
        sys.exit(f"DRCD dev split not found at {DRCD.resolve()}: put it in ../shared/data/drcd/")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    for factor in (int(f) for f in args.factors.split(",")):
        print(f"{factor}x DRCD:", json.dumps(run(factor, args.repeat if factor == 1 else 1)))


if __name__ == "__main__":
    main()
