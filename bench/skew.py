"""Skew: one number with a million calls in a day and one account with a million payers, through the feature stage.

``.venv/bin/python bench/skew.py --out /tmp/fgskew`` writes a small clean lake (the 7-day window of
``bench/network_features.py`` at ``--calls`` call records), then adds, on the window's last day:

- a **hot number** that places ``--hot`` calls to as many fresh numbers (a SIM box dialing a leaked list);
- a **hot account** that receives ``--hot`` transfers from as many fresh payers, and forwards the money in
  ``--hot // 100`` outgoing transfers (a collection account of a mule chain).

The hot rows sit in 8 files, as a day written by Spark would, so that reading them is not one task's job.
It then runs the whole feature stage of that day (``materialise_features``: phone, account, network and
exposure features, propagation, components, money bridges) with Spark's event log on, and reads the event
log back: for each stage, its tasks, the shuffle records they read, and the share of the largest task.
Adaptive execution runs as in the jobs (its skew-join split on) but without coalescing small partitions,
so that every shuffle stage has ``spark.sql.shuffle.partitions`` tasks and an even spread is one task in
that many. A stage where one key (the hot number, the hot account) lands on one task shows that task
reading most of the stage's records.

Prints a JSON summary (``--json FILE`` also writes it): the stages, the worst shares, and the hot
parties' features.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from eventlog import events
from network_features import (
    AS_OF,
    EPOCH,
    SECONDS_PER_DAY,
    WINDOW_DAYS,
    generate_lake,
    hex_tokens,
    int96_times,
)

from fraudgraph import contract as C
from fraudgraph.config import SparkConf, load_config
from fraudgraph.lake import Lake, partition_path
from simulator.ids import fixed_strings
from simulator.writer import cents_to_decimal

FILES = 8
PARTITIONS = 8
SEED = 11


def _write_parts(table: pa.Table, table_dir: Path, stem: str) -> None:
    folder = partition_path(table_dir, AS_OF)
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-table.num_rows // FILES)
    for k in range(FILES):
        part = table.slice(k * size, size)
        pq.write_table(part, folder / f"{stem}-{k:02d}.parquet", compression="zstd", use_deprecated_int96_timestamps=True)


def _day_times(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` sorted local times spread over :data:`AS_OF`, 08:00 to 22:00."""
    start = (AS_OF - EPOCH).days * SECONDS_PER_DAY + 8 * 3600
    return int96_times(np.sort(start + rng.integers(0, 14 * 3600, n)))


def add_hot_parties(lake: Lake, hot: int, *, seed: int = SEED) -> dict[str, str]:
    """Add the hot number's calls and the hot account's transfers on :data:`AS_OF`; their tokens."""
    rng = np.random.default_rng(seed)
    subscribers = pq.read_table(partition_path(lake.clean(C.SUBSCRIBERS), AS_OF), columns=["msisdn"])
    accounts = pq.read_table(partition_path(lake.clean(C.ACCOUNTS), AS_OF), columns=["account_id"])
    number = subscribers["msisdn"][0].as_py()
    account = accounts["account_id"][0].as_py()
    classes = pa.array(["cn_mobile"] * hot)
    answered = rng.random(hot) < 0.3
    calls = pa.table({
        "call_id": fixed_strings("H", np.arange(hot), 9),
        "caller": pa.array([number] * hot),
        "caller_class": classes,
        "callee": hex_tokens(rng, hot).cast(pa.string()),
        "callee_class": classes,
        "start_time": _day_times(rng, hot),
        "duration_s": pa.array(np.where(answered, rng.integers(5, 90, hot), 0).astype(np.int32)),
        "caller_imei": pa.array([hex_tokens(rng, 1)[0].as_py()] * hot),
        "cell_id": pa.array(["460-00-00001-00001"] * hot),
    })
    _write_parts(calls, lake.clean(C.CALLS), "hot")
    payees = accounts["account_id"].take(pa.array(rng.integers(1, accounts.num_rows, hot // 100)))
    out_n = len(payees)
    transfers = pa.table({
        "txn_id": fixed_strings("HT", np.arange(hot + out_n), 9),
        "src_account": pa.concat_arrays([hex_tokens(rng, hot).cast(pa.string()), pa.array([account] * out_n)]),
        "dst_account": pa.concat_arrays([pa.array([account] * hot), payees.combine_chunks()]),
        "amount": cents_to_decimal(
            np.concatenate([rng.integers(10_000, 500_000, hot), rng.integers(5_000_000, 9_000_000, out_n)])
        ),
        "txn_time": pa.concat_arrays([_day_times(rng, hot), _day_times(rng, out_n)]),
        "channel": pa.array(["mobile"] * (hot + out_n)),
    })
    _write_parts(transfers, lake.clean(C.TRANSACTIONS), "hot")
    return {"number": number, "account": account}


def stage_balance(event_log: Path) -> list[dict]:
    """Per completed stage of a Spark event log: tasks, records read (shuffle, else input), the largest task's
    share of them, and the largest and median task run times (ms)."""
    tasks: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    names: dict[tuple[int, int], str] = {}
    for event in events(event_log):
        kind = event.get("Event")
        if kind == "SparkListenerTaskEnd" and event.get("Task Metrics"):
            metrics = event["Task Metrics"]
            shuffled = metrics.get("Shuffle Read Metrics", {}).get("Total Records Read", 0)
            scanned = metrics.get("Input Metrics", {}).get("Records Read", 0)
            key = (event["Stage ID"], event["Stage Attempt ID"])
            tasks.setdefault(key, []).append((shuffled, scanned, metrics.get("Executor Run Time", 0)))
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            names[(info["Stage ID"], info["Stage Attempt ID"])] = info["Stage Name"]
    stages = []
    for key, found in sorted(tasks.items()):
        shuffled = [t[0] for t in found]
        records = shuffled if sum(shuffled) else [t[1] for t in found]
        total = sum(records)
        times = [t[2] for t in found]
        stages.append({
            "stage": key[0], "attempt": key[1], "name": names.get(key, "").split(" at ")[0], "tasks": len(found),
            "reads": "shuffle" if sum(shuffled) else "input", "records": total,
            "max_task_share": round(max(records) / total, 4) if total else 0.0,
            "max_task_records": max(records), "median_task_records": int(statistics.median(records)),
            "max_task_ms": max(times), "median_task_ms": int(statistics.median(times)),
        })
    return stages


def hot_features(lake: Lake, tokens: dict[str, str]) -> dict[str, dict]:
    """The hot number's and the hot account's rows of the day's features."""
    found = {}
    for entity_type, token in ((C.MSISDN, tokens["number"]), (C.ACCOUNT, tokens["account"])):
        table = pq.read_table(partition_path(lake.features(entity_type), AS_OF))
        rows = table.filter(pc.equal(table["entity_token"], token)).to_pylist()
        found[entity_type] = rows[0] if rows else {}
    return found


def run(out: Path, *, calls: int, hot: int) -> dict:
    """Build the lake (once per size), run the feature stage of :data:`AS_OF` with the event log on, summarise."""
    from fraudgraph.config import ExposureConf
    from fraudgraph.spark import build_session
    from jobs.features import materialise_features

    lake = Lake(out / "lake")
    stamp = out / "dataset.json"
    wanted = {"calls": calls, "hot": hot, "seed": SEED}
    if not stamp.exists() or json.loads(stamp.read_text()) != wanted:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        generate_lake(lake, calls=calls, sms=calls // 2, transactions=calls // 10, seed=SEED)
        stamp.write_text(json.dumps({**wanted, "tokens": add_hot_parties(lake, hot)}))
    tokens = json.loads(stamp.read_text())["tokens"]
    events = out / "events"
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir()
    cfg = load_config()
    spark = build_session(SparkConf(
        master=f"local[{multiprocessing.cpu_count()}]", app_name="fraudgraph-bench-skew", shuffle_partitions=PARTITIONS,
        driver_memory="6g",
        extra={
            **cfg.spark.extra, "spark.ui.enabled": "false",
            "spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(), "spark.eventLog.compress": "false",
            # Every shuffle stage keeps its partitions: an even spread is one task in PARTITIONS.
            "spark.sql.adaptive.coalescePartitions.enabled": "false",
        },
    ))
    started = time.perf_counter()
    try:
        materialise_features(spark, lake, AS_OF, length=WINDOW_DAYS, graph=cfg.graph, exposure=ExposureConf())
    finally:
        spark.stop()
    seconds = time.perf_counter() - started
    stages = stage_balance(next(events.iterdir()))
    shuffles = [s for s in stages if s["reads"] == "shuffle" and s["tasks"] > 1]
    worst = sorted(shuffles, key=lambda s: s["max_task_records"] - s["median_task_records"], reverse=True)[:5]
    return {
        "calls": calls, "hot": hot, "partitions": PARTITIONS, "seconds": round(seconds, 1), "stages": stages,
        "worst_shuffle_stages": worst, "hot_features": hot_features(lake, tokens),
        "window_days": WINDOW_DAYS, "as_of": AS_OF.isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="the base world's call records in the window")
    parser.add_argument("--hot", type=int, default=1_000_000, help="the hot number's calls and the hot account's payers")
    parser.add_argument("--out", type=Path, default=None, help="keep the lake here and reuse it next time")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fg-skew-"))
    try:
        summary = run(out, calls=args.calls, hot=args.hot)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(summary, default=str))
    print("| stage | tasks | records | largest task | median task | largest task (s) | median task (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for s in summary["stages"]:
        if s["reads"] == "shuffle" and s["records"] >= args.hot // 2:
            print(f"| {s['stage']} | {s['tasks']} | {s['records']:,} | {s['max_task_records']:,} | "
                  f"{s['median_task_records']:,} | {s['max_task_ms'] / 1000:.1f} | {s['median_task_ms'] / 1000:.1f} |")
    print(f"\nfeature stage: {summary['seconds']:.0f} s on {summary['calls']:,} calls + {args.hot:,} hot calls "
          f"and {args.hot:,} hot payers")
    print(json.dumps({"worst_shuffle_stages": summary["worst_shuffle_stages"]}, indent=1))


if __name__ == "__main__":
    main()
