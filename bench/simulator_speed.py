"""Simulator throughput: wall time and rows per second for a few world sizes.

Run: .venv/bin/python bench/simulator_speed.py [--out DIR]
Prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from simulator import simulate_world

SIZES = ((10_000, 28), (100_000, 7), (100_000, 28), (1_000_000, 7))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    scratch = Path(args.out or tempfile.mkdtemp(prefix="fraudgraph-bench-"))
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| people | days | call rows | all rows | seconds | call rows/s | all rows/s | on disk (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for people, days in SIZES:
        out = scratch / f"w{people}x{days}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        summary = simulate_world(out, people=people, days=days, seed=1)
        seconds = time.perf_counter() - started
        calls, rows = summary.rows["calls"], sum(summary.rows.values())
        size_mb = sum(p.stat().st_size for p in (out / "raw").rglob("*.parquet")) / 1e6
        print(
            f"| {people:,} | {days} | {calls:,} | {rows:,} | {seconds:.1f} | {calls / seconds:,.0f} "
            f"| {rows / seconds:,.0f} | {size_mb:,.0f} |"
        )
        shutil.rmtree(out, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
