"""Run every benchmark in bench/, one after another (they compete for the CPU otherwise).

    .venv/bin/python bench/run_all.py [NAME ...]     # e.g. engine server retrieval transcribe

Each benchmark prints its own table with ratios against a baseline measured in the same
run; docs/performance.md holds the latest results and the command of each.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = set(sys.argv[1:])
    scripts = sorted(HERE.glob("bench_*.py"))
    failed = 0
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"\n=== {name}: {script.name}", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"=== {name}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
