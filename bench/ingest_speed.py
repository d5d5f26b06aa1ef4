"""Ingest throughput with every quality suite on: rows per second, and what validation costs.

Run: .venv/bin/python bench/ingest_speed.py [--people N --days N --out DIR]
(default: 120,000 people over 28 days, about 10 million call records).
Prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from fraudgraph.config import SparkConf, load_config
from fraudgraph.lake import Lake, Raw
from fraudgraph.spark import build_session
from jobs.ingest import run_ingest
from simulator import simulate_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=120_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--out", default=None, help="scratch folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    scratch = Path(args.out or tempfile.mkdtemp(prefix="fraudgraph-ingest-bench-"))
    world = scratch / "world"
    if not (world / "truth" / "world.json").exists():
        simulate_world(world, people=args.people, days=args.days, seed=1)
    meta = json.loads((world / "truth" / "world.json").read_text())
    first, last = meta["parameters"]["start"], meta["parameters"]["end"]
    cfg = load_config()
    spark = build_session(
        SparkConf(master="local[2]", app_name="fraudgraph-bench", shuffle_partitions=8, driver_memory="12g", extra={})
    )
    lake = Lake(scratch / "lake")
    shutil.rmtree(lake.root, ignore_errors=True)
    from fraudgraph.lake import parse_day

    started = time.perf_counter()
    result = run_ingest(
        spark, cfg, raw=Raw(world / "raw"), lake=lake, first=parse_day(first), last=parse_day(last), key=b"bench-key"
    )
    seconds = time.perf_counter() - started
    report = json.loads(Path(result["report_json"]).read_text())
    feeds = report["feeds"]
    suites = sum(f["seconds_suite"] for f in feeds.values())
    print(f"world: {args.people:,} people x {args.days} days ({first}..{last}); Spark local[2], 8 shuffle partitions")
    print("| feed | rows in | quarantined | seconds | of which suite | rows/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, f in feeds.items():
        print(
            f"| {name} | {f['rows_in']:,} | {f['rows_quarantined']:,} | {f['seconds']:.1f} | {f['seconds_suite']:.1f} "
            f"| {f['rows_in'] / f['seconds']:,.0f} |"
        )
    rows = sum(f["rows_in"] for f in feeds.values())
    print(f"| **all** | {rows:,} | {sum(f['rows_quarantined'] for f in feeds.values()):,} | {seconds:.1f} | {suites:.1f} | {rows / seconds:,.0f} |")
    print(f"validation (Great Expectations suites) share of the stage: {suites / seconds:.0%}")
    print(f"peak driver-process RSS (Python side): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    spark.stop()
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
