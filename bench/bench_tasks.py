"""Tasks benchmark: perplexity throughput and batched NLP tasks on the bundled model.

Measures, in the same run:
  - perplexity over ~1,500 tokens of docs/architecture.md at ctx 256: the llama.cpp convention (each token
    evaluated once, half of them scored) is the baseline; the sliding window with stride
    ctx/2 (every token scored, each evaluated about twice) and ctx/4 are compared
    in evaluated tokens/s and wall time;
  - a batch of sentiment tasks: one text at a time (baseline) against `num_parallel`
    texts decoded together by the engine (`TaskRunner.workers`).

    .venv/bin/python bench/bench_tasks.py [--texts 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hearth.config import Settings
from hearth.services import Services
from hearth.tasks.nlp import TaskRunner
from hearth.tasks.perplexity import PerplexityResult, perplexity, windows

# Natural English prose of this repository (the first ~6,000 characters of the architecture page).
TEXT = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(
    encoding="utf-8"
)[:6000]
REVIEWS = [
    "I love this phone, the battery lasts for days.",
    "The hotel room was dirty and the staff were rude.",
    "The train leaves at nine in the morning.",
    "What a fantastic concert, the band was brilliant!",
    "My order arrived broken and nobody answers my emails.",
    "The library is open from Monday to Saturday.",
    "This is the best pizza I have eaten in years.",
    "The update made the app slow and it keeps crashing.",
]


def _ppl(
    services: Services, method: str, ctx: int, stride: int | None
) -> tuple[float, PerplexityResult]:
    started = time.perf_counter()
    *_, result = perplexity(
        services.engine, "smollm2:135m", [("bench", TEXT)], ctx=ctx, stride=stride, method=method
    )  # type: ignore[arg-type]
    assert isinstance(result, PerplexityResult)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hearth-bench-tasks-"))
    settings = Settings().with_(home=home)
    services = Services.create(settings)
    try:
        print(f"threads {settings.threads()}, num_parallel {settings.num_parallel}")
        print("\nperplexity, ctx 256 (median of repeats)")
        print(
            f"{'method':<24}{'scored':>8}{'evaluated':>11}{'seconds':>9}{'eval tok/s':>12}{'ppl':>9}{'vs base':>9}"
        )
        n_tokens = len(services.engine.tokenize("smollm2:135m", TEXT))
        base = None
        for label, method, stride in [
            ("llama.cpp (baseline)", "llama.cpp", None),
            ("sliding stride 128", "sliding", 128),
            ("sliding stride 64", "sliding", 64),
        ]:
            runs = [_ppl(services, method, 256, stride) for _ in range(args.repeats)]
            seconds = statistics.median(r[0] for r in runs)
            result = runs[0][1]
            plan = windows(n_tokens, 256, stride or 256, method)  # type: ignore[arg-type]
            evaluated = sum(w.end - w.begin for w in plan)
            base = base or seconds
            print(
                f"{label:<24}{result.tokens:>8}{evaluated:>11}{seconds:>9.2f}{evaluated / seconds:>12.0f}{result.perplexity:>9.3f}{seconds / base:>8.2f}x"
            )

        texts = (REVIEWS * ((args.texts + len(REVIEWS) - 1) // len(REVIEWS)))[: args.texts]
        print(f"\nsentiment over {len(texts)} texts (median of repeats)")
        print(f"{'mode':<28}{'seconds':>9}{'texts/s':>9}{'vs base':>9}")
        base = None
        runner = TaskRunner.local(services.engine)
        runner.run("sentiment", "warm-up text")
        for label, workers in [
            ("one at a time (baseline)", 1),
            (f"{settings.num_parallel} together", settings.num_parallel),
        ]:
            runner.workers = workers
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                results = list(runner.run_many("sentiment", texts))
                times.append(time.perf_counter() - started)
                assert all(isinstance(r, dict) for r in results), results
            seconds = statistics.median(times)
            base = base or seconds
            print(f"{label:<28}{seconds:>9.2f}{len(texts) / seconds:>9.2f}{base / seconds:>8.2f}x")
    finally:
        services.close()


if __name__ == "__main__":
    main()
