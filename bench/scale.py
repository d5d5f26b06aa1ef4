"""Scale benchmark of the daily pipeline (issue 8): simulated worlds of 1M, 10M and 100M call records.

Run: .venv/bin/python bench/scale.py --out DIR [--calls N ...] [--stage NAME ...] [--readme bench/README.md]
(default sizes: 1, 10 and 100 million call records; ``--calls`` repeatable, in call records).

For each size it simulates a world whose call records add up to about that size (people scaled, the days
fixed to what ``fraud run`` reads when it trains: the scoring window and the training windows, 22 days with
the base configuration; transactions and SMS are whatever the simulator draws for those people), then runs
and times, each stage apart, with the peak resident memory of the process tree (the Python driver and the
Spark driver JVM, which in local mode does all the work; DuckDB runs in-process):

- ``simulate``: ``simulate_world`` (not part of the pipeline);
- ``ingest_history``: ``fraud ingest`` of the days before the scoring day D that the stages below read (the
  training window and the scoring window: the calls, SMS and transactions of D-7..D-1; the labels and leak
  exposures of every earlier day, as ``fraud ingest`` takes their history), every quality suite on;
- ``train``: ``fraud train`` as of D on one snapshot (one feature window and the models), once per size so that
  scoring has a champion; like ``simulate``, outside the daily total (the daily stages cost the same whatever
  the champion was trained on, and the base configuration's three snapshots would triple this setup);
- the daily pipeline of D, as ``fraud run`` does it once the lake holds the days before: ``ingest`` (D's
  partitions, every suite), ``features`` (``materialise_features``), ``scoring`` (scores, drift, at-risk
  list, leak-source page: ``jobs.score.score_day``) and ``cases`` (``run_cases``);
- ``duckdb``: the single-machine reference, the per-number aggregates of bench/network_features.py in one
  DuckDB query over the same clean lake and window;
- ``spark_aggregates``: the same per-number aggregates with the project's Spark code, in a fresh session, on
  the same lake and window (the like-for-like comparison: ``features`` computes far more than DuckDB does),
  and its output compared with DuckDB's row by row and column by column.

Simulation, DuckDB and the Spark aggregates run in processes of their own, and the Spark stages of a size
in another: one size's arrays, JVM heap or DuckDB buffers do not count in the next measurement. Each size's
results go to ``DIR/calls_<N>.json`` as stages finish; a rerun skips the stages already there (the world and
lake of an unfinished size are kept for that; a finished size's are removed unless ``--keep``). ``--stage``
runs the named stages again, on a size's kept world and lake. The script then writes ``DIR/scale.json`` and
prints the section for bench/README.md (``--readme`` replaces it there). ``--event-log DIR`` keeps the Spark
stages' event log for bench/eventlog.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
from amlsim_benchmark import machine, replace_section
from network_features import PeakRss, compare, duckdb_stage, spark_aggregates

from fraudgraph import contract as C
from fraudgraph.config import Config, load_config
from fraudgraph.lake import Lake, Raw, partition_path

SIZES = (1_000_000, 10_000_000, 100_000_000)
# The simulator's call records per person and day at 100,000 people and more (bench/README.md); smaller
# worlds draw a little fewer, and the actual counts are what the tables report.
CALLS_PER_PERSON_DAY = 2.9
SEED = 1
START = dt.date(2026, 3, 1)
KEY = b"bench-scale-key"
MASTER = "local[2]"
DAILY = ("ingest", "features", "scoring", "cases")
SPARK_STAGES = ("ingest_history", "train", *DAILY)
STAGES = ("simulate", *SPARK_STAGES, "duckdb", "spark_aggregates")
EVENT_FEEDS = (C.CALLS, C.SMS, C.TRANSACTIONS)
SECTION = "## Scale: the daily pipeline at 1M, 10M and 100M call records"
TARGET_DAILY_S = 180
TARGET_PEAK_GIB = 8
TARGET_GROWTH = 12
TARGET_DUCKDB_RATIO = 3
# Training windows of the champion the daily stages score with (the base configuration has 3).
TRAIN_SNAPSHOTS = 1
EVENT_LOG_ENV = "FRAUDGRAPH_BENCH_EVENT_LOG"


@dataclasses.dataclass(frozen=True)
class Size:
    """One world: its folder, its shape and the scoring day D (the world's last day)."""

    calls: int
    out: Path
    people: int
    days: int

    @property
    def folder(self) -> Path:
        return self.out / f"calls_{self.calls}"

    @property
    def results(self) -> Path:
        return self.out / f"calls_{self.calls}.json"

    @property
    def world(self) -> Path:
        return self.folder / "world"

    @property
    def lake(self) -> Lake:
        return Lake(self.folder / "lake")

    @property
    def day(self) -> dt.date:
        return START + dt.timedelta(days=self.days - 1)


def size_of(calls: int, out: Path, days: int) -> Size:
    """The world of about ``calls`` call records over ``days`` days, kept under ``out``."""
    return Size(calls, out.resolve(), max(100, round(calls / (CALLS_PER_PERSON_DAY * days))), days)


def world_days(cfg: Config) -> int:
    """The days ``fraud run`` reads on a day when it trains: the scoring window and the training windows."""
    from jobs.run import days_needed

    return len(days_needed(cfg, START, with_training=True))


def parquet_rows(folder: Path) -> int:
    """Rows of a partition from the Parquet footers (nothing is read but the metadata)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))


def window_events(lake: Lake, days: list[dt.date], feeds=EVENT_FEEDS) -> int:
    """Clean call, SMS and transaction rows of ``days``: what a feature window reads."""
    return sum(parquet_rows(partition_path(lake.clean(feed), d)) for feed in feeds for d in days)


# ------------------------------------------------------------------------------------------- stages


def measured(fn: Callable[..., int], *args) -> dict:
    """Wall time, peak RSS of this process tree (and of its Python driver, JVM and Python workers apart),
    and rows in (``fn``'s result) of one stage."""
    with PeakRss() as rss:
        started = time.perf_counter()
        rows = fn(*args)
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "peak_rss_gib": round(rss.peak / 2**30, 2),
        "peak_gib_by_process": {part: round(b / 2**30, 2) for part, b in rss.parts.items()},
        "rows_in": rows,
    }


def isolated(fn: Callable, *args):
    """``fn(*args)`` in a fresh interpreter, so nothing it allocates lingers into the next measurement."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_reporting, fn, *args).result()


def _reporting(fn: Callable, *args):
    """``fn(*args)``; a failure comes back as a RuntimeError with its traceback as text (a Py4J error holds
    locks, which cannot be pickled back to the parent: it would report only that)."""
    try:
        return fn(*args)
    except Exception:
        raise RuntimeError(traceback.format_exc()) from None


def simulate(size: Size) -> int:
    from simulator import simulate_world

    summary = simulate_world(size.world, people=size.people, days=size.days, seed=SEED, start=START)
    return sum(summary.rows.values())


def _aggregates_rows_in(size: Size, cfg: Config) -> int:
    """What the per-number aggregates read, DuckDB's and Spark's alike: the window's calls and SMS."""
    from jobs.features import window_days

    return window_events(size.lake, window_days(size.day, cfg.window.days), (C.CALLS, C.SMS))


def reference(size: Size) -> int:
    cfg = load_config()
    duckdb_stage(size.lake, size.folder, cfg.graph, size.day, cfg.window.days)
    return _aggregates_rows_in(size, cfg)


def session(app_name: str, settings: dict[str, str] | None = None):
    """A ``local[2]`` session with the base configuration's Spark settings, ``settings`` over them (and the event
    log when asked)."""
    from fraudgraph.spark import build_session

    cfg = load_config()
    extra = {**cfg.spark.extra, "spark.ui.enabled": "false", **(settings or {})}
    if os.environ.get(EVENT_LOG_ENV):
        extra |= {"spark.eventLog.enabled": "true", "spark.eventLog.dir": os.environ[EVENT_LOG_ENV]}
    return build_session(dataclasses.replace(cfg.spark, master=MASTER, app_name=app_name, extra=extra))


def spark_reference(size: Size) -> int:
    """DuckDB's per-number aggregates computed by the project's Spark code, in a session of their own."""
    cfg = load_config()
    spark = session("fraudgraph-bench-aggregates")
    try:
        spark_aggregates(spark, size.lake, size.folder, cfg.graph, size.day, cfg.window.days)
    finally:
        spark.stop()
    return _aggregates_rows_in(size, cfg)


def spark_stages(size: Size, stages: tuple[str, ...]) -> None:
    """The Spark stages of a size in one session, each stage's figures saved as soon as it ends."""
    from fraudgraph.spark import release_checkpoints
    from jobs.cases import run_cases
    from jobs.features import FEATURE_SETS, materialise_features, window_days
    from jobs.ingest import run_ingest
    from jobs.run import days_needed
    from jobs.score import score_day
    from jobs.train import run_train, snapshot_days

    # The lake's own MLflow store: a benchmark registers no model anywhere else.
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    cfg = load_config()
    spark = session("fraudgraph-bench-scale")
    lake, raw, day, length = size.lake, Raw(size.world / "raw"), size.day, cfg.window.days
    train_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, snapshots=TRAIN_SNAPSHOTS))
    # The first day a stage reads: the older days of the world only feed the base configuration's other
    # training snapshots, which the benchmark does not train on.
    first_read = days_needed(train_cfg, day, with_training=True)[0]
    built: dict = {}

    def ingest(first: dt.date, last: dt.date) -> int:
        result = run_ingest(spark, cfg, raw=raw, lake=lake, first=first, last=last, key=KEY, history=True)
        return sum(f["rows_in"] for f in result["feeds"].values())

    def train() -> int:
        run_train(spark, train_cfg, lake=lake, as_of=day)
        return window_events(lake, sorted({d for end in snapshot_days(train_cfg, day) for d in window_days(end, length)}))

    def features() -> int:
        built.update(materialise_features(spark, lake, day, length=length, graph=cfg.graph, exposure=cfg.exposure))
        return window_events(lake, window_days(day, length))

    def scoring() -> int:
        # The features of this run, or those a previous run wrote (--stage scoring on a kept lake).
        tables = built or {t: spark.read.parquet(str(partition_path(lake.features(t), day))) for t in FEATURE_SETS}
        score_day(spark, cfg, lake=lake, day=day, features_by_type=tables)
        return sum(parquet_rows(partition_path(lake.features(t), day)) for t in FEATURE_SETS)

    def cases() -> int:
        run_cases(spark, cfg, lake=lake, day=day)
        return window_events(lake, window_days(day, length))

    run: dict[str, Callable[[], int]] = {
        "ingest_history": lambda: ingest(first_read, day - dt.timedelta(days=1)),
        "train": train,
        "ingest": lambda: ingest(day, day),
        "features": features,
        "scoring": scoring,
        "cases": cases,
    }
    try:
        for name in stages:
            save(size, name, measured(run[name]))
    finally:
        release_checkpoints(spark)
        spark.stop()


def save(size: Size, stage: str, figures: dict) -> None:
    done = json.loads(size.results.read_text()) if size.results.exists() else {"stages": {}}
    done["stages"][stage] = figures
    if stage == "simulate":
        done["world"] = json.loads((size.world / "truth" / "world.json").read_text())["summary"]
    size.results.write_text(json.dumps(done, indent=1) + "\n")
    print(f"calls {size.calls:,} {stage}: {json.dumps(figures)}", flush=True)


def run_size(size: Size, stages: tuple[str, ...] | None, keep: bool, champion_from: Path | None = None) -> dict:
    """Run the named stages of a size again, or by default every stage it has no figures for yet.

    ``champion_from``: a lake whose MLflow store (its champions) the size's lake takes, when it has none, so
    the daily stages can run before (or without) the size's own training; the results record it.
    """
    done = json.loads(size.results.read_text())["stages"] if size.results.exists() else {}
    todo = stages or tuple(s for s in STAGES if s not in done)
    if todo:
        size.folder.mkdir(parents=True, exist_ok=True)
    if champion_from and "train" not in todo and not (size.lake.root / "mlflow.db").exists():
        # The store's runs keep their artefacts where they are (absolute paths in the store): only the
        # database is copied, and the source lake must stay while this one scores.
        size.lake.root.mkdir(parents=True, exist_ok=True)
        shutil.copy2(champion_from / "mlflow.db", size.lake.root / "mlflow.db")
        results = json.loads(size.results.read_text()) if size.results.exists() else {"stages": {}}
        size.results.write_text(json.dumps(results | {"champion_from": str(champion_from)}, indent=1) + "\n")
    if "simulate" in todo:
        save(size, "simulate", isolated(measured, simulate, size))
    if any(s in SPARK_STAGES for s in todo):
        isolated(spark_stages, size, tuple(s for s in todo if s in SPARK_STAGES))
    if "duckdb" in todo:
        save(size, "duckdb", isolated(measured, reference, size))
    if "spark_aggregates" in todo:
        figures = isolated(measured, spark_reference, size)
        # Rows in one output only, and per column the rows that differ: {"only_duckdb": 0, "only_spark": 0} is
        # agreement. Needs DuckDB's output of this world (the duckdb stage, kept in the size's folder).
        has_duckdb = (size.folder / "duckdb_phones.parquet").exists()
        figures["differences_from_duckdb"] = compare(size.folder) if has_duckdb else None
        save(size, "spark_aggregates", figures)
    result = json.loads(size.results.read_text())
    if set(STAGES) <= set(result["stages"]) and not keep:
        shutil.rmtree(size.folder, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------------------ results


def growth(t1: float, t2: float, n1: int, n2: int) -> float:
    """The exponent k of t ~ n^k between two sizes: 1 is linear."""
    return math.log(t2 / t1) / math.log(n2 / n1)


def _over_duckdb(stages: dict, stage: str) -> float | None:
    return round(stages[stage]["seconds"] / stages["duckdb"]["seconds"], 2) if {stage, "duckdb"} <= set(stages) else None


def summarise(sizes: list[dict]) -> list[dict]:
    """Per size: the daily total, each daily stage's share, DuckDB's ratio, growth from the size before."""
    rows = []
    for i, size in enumerate(sizes):
        stages = size["stages"]
        daily = sum(stages[s]["seconds"] for s in DAILY if s in stages)
        # A run of some stages only (``--stage``) has a partial daily total: named, and no growth from it.
        missing = [s for s in DAILY if s not in stages]
        figures = {
            name: {
                **f,
                "rows_per_s": round(f["rows_in"] / f["seconds"]),
                "share_of_daily": f["seconds"] / daily if name in DAILY else None,
            }
            for name, f in stages.items()
        }
        row = {
            "calls_target": size["calls_target"],
            "world": size["world"],
            "daily_seconds": round(daily, 2),
            "daily_missing": missing,
            "daily_peak_rss_gib": max((stages[s]["peak_rss_gib"] for s in DAILY if s in stages), default=0.0),
            "stages": figures,
            "features_over_duckdb": _over_duckdb(stages, "features"),
            "aggregates_over_duckdb": _over_duckdb(stages, "spark_aggregates"),
            "growth": {},
            "champion_from": size.get("champion_from"),
        }
        if i:
            before = rows[-1]
            n1, n2 = before["world"]["rows"]["calls"], size["world"]["rows"]["calls"]
            whole = not missing and not before["daily_missing"]
            times = ({"daily": (before["daily_seconds"], daily)} if whole else {}) | {
                s: (before["stages"][s]["seconds"], stages[s]["seconds"]) for s in stages if s in before["stages"]
            }
            row["growth"] = {s: round(growth(t1, t2, n1, n2), 2) for s, (t1, t2) in times.items() if t1 > 0 and t2 > 0}
        rows.append(row)
    return rows


def _daily(row: dict) -> str:
    missing = row["daily_missing"]
    return f"{row['daily_seconds']:.1f}" + (f" (without {', '.join(missing)})" if missing else "")


def markdown(rows: list[dict], host: str) -> str:
    measured = tuple(r["calls_target"] for r in rows)
    smoke = not set(measured) <= set(SIZES)
    missing = [n for n in SIZES if n not in measured]
    lines = [
        SECTION,
        "",
        "`.venv/bin/python bench/scale.py --out /tmp/fgscale --readme bench/README.md` simulates one world per",
        "size (seed 1, 22 days: the scoring window and the three training windows `fraud run` reads when it",
        "trains; people scaled to the size, SMS and transactions as the simulator draws them), ingests the days",
        "before the scoring day that the stages read with every quality suite (the 7 days of the training window;",
        "the labels and leak exposures of every earlier day), trains a champion once (on one snapshot: the daily",
        "stages cost the same whatever it learnt from), then runs the daily pipeline of the last",
        "day stage by stage: the day's ingest (every suite), the features, the scoring (scores, drift, at-risk",
        "list, leak-source page) and the cases, which is what `fraud run` does on a day once the lake holds the",
        "days before and a champion exists. DuckDB computes the per-number aggregates of",
        "bench/network_features.py (33 phone features and 10 network aggregates per number) on the same clean",
        "lake and window, and the project's Spark code computes the same aggregates in a fresh session of its",
        "own (*Spark aggregates*), checked against DuckDB's output row by row and column by column. Spark runs",
        f"as `{MASTER}` with the base configuration's Spark settings. A size's results are kept in `--out`, and a",
        "rerun skips what is there.",
        "",
        f"Machine: {host}.",
        "",
        "Columns: *rows in* is what the stage reads (simulate: rows written; ingest: raw rows of every feed;",
        "train, features, cases: calls, SMS and transactions of their windows; DuckDB: calls and SMS of the",
        "window; scoring: feature rows). *Peak RSS* is the peak memory of the process tree over the stage: the",
        "Python driver, the Spark driver JVM and its Python workers, each counting its proportional set size",
        "(`Pss`), so a page PySpark's forked Python workers share counts once; *Python / JVM / workers* is each",
        "kind's own peak over the stage (they need not peak together; '-' where a run predates the split).",
        "*Share* is the stage's part of the daily total; simulation, history ingest, training, DuckDB and the",
        "Spark aggregates are outside it. *Growth* is the exponent k of time ~ calls^k from the size before: 1 is",
        "linear.",
        "",
        "Targets of issue 8, on 2 cores:",
        "",
        f"- the daily total on 10M call records (and about 1M transactions) within {TARGET_DAILY_S} s;",
        f"- 100M call records completing with the driver under {TARGET_PEAK_GIB} GiB;",
        f"- the daily total at 100M at most {TARGET_GROWTH} times that at 10M (growth at most "
        f"{math.log(TARGET_GROWTH) / math.log(10):.2f});",
        f"- the feature stage within {TARGET_DUCKDB_RATIO}x of DuckDB. Like for like, that is *Spark aggregates /",
        "  DuckDB* (the same per-number features); *features / DuckDB* sets the whole feature stage (phone and",
        "  account features, every network and exposure feature, components, propagation) against DuckDB's part",
        "  of it.",
        "",
    ]
    if smoke:
        sizes = " and ".join(f"{n:,}" for n in measured)
        lines += [
            f"**Smoke run at {sizes} call records: it checks the harness, these are not the issue's figures.**",
            "The 1M, 10M and 100M figures are still to be measured (the command above, on a quiet machine).",
            "",
        ]
    elif missing:
        lines += [
            f"**Not measured yet: {' and '.join(f'{n:,}' for n in missing)} call records** (`--calls N` runs one size;",
            "a size's finished stages are kept in `--out`).",
            "",
        ]
    lines += [
        "| call records | people x days | SMS | transactions | daily total (s) | peak RSS (GiB) | DuckDB (s) "
        "| Spark aggregates (s) | Spark aggregates / DuckDB | features (s) | features / DuckDB | growth |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        w, s = r["world"], r["stages"]
        seconds = {n: f"{s[n]['seconds']:.1f}" if n in s else "-" for n in ("features", "duckdb", "spark_aggregates")}
        ratio = {k: f"{r[k]:.1f}x" if r[k] else "-" for k in ("features_over_duckdb", "aggregates_over_duckdb")}
        lines.append(
            f"| {w['rows']['calls']:,} | {w['people']:,} x {w['days']} | {w['rows']['sms']:,} "
            f"| {w['rows']['transactions']:,} | {_daily(r)} | {r['daily_peak_rss_gib']:.1f} "
            f"| {seconds['duckdb']} | {seconds['spark_aggregates']} | {ratio['aggregates_over_duckdb']} "
            f"| {seconds['features']} | {ratio['features_over_duckdb']} | {r['growth'].get('daily', '-')} |"
        )
    checked = [r for r in rows if "spark_aggregates" in r["stages"]]
    if checked:
        lines.append("")
        for r in checked:
            diff = r["stages"]["spark_aggregates"].get("differences_from_duckdb")
            if diff is None:
                verdict = "were not compared with DuckDB's (no DuckDB output of the world in its folder)."
            elif not any(diff.values()):
                verdict = "agree with DuckDB's (the same numbers, every column within a relative 1e-9)."
            else:
                verdict = f"differ from DuckDB's: {json.dumps(diff)}."
            lines.append(f"{r['world']['rows']['calls']:,} call records: the Spark aggregates {verdict}")
    lines += [
        "",
        "| call records | stage | rows in | seconds | rows/s | peak RSS (GiB) | Python / JVM / workers (GiB) | share of daily | growth |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        calls = f"{r['world']['rows']['calls']:,}"
        for name in STAGES:
            if name not in r["stages"]:
                continue
            f = r["stages"][name]
            share = f"{f['share_of_daily']:.0%}" if f["share_of_daily"] is not None else "-"
            parts = f.get("peak_gib_by_process")
            split = " / ".join(f"{parts[p]:.1f}" for p in PeakRss.PARTS) if parts else "-"
            lines.append(
                f"| {calls} | {name} | {f['rows_in']:,} | {f['seconds']:.1f} | {f['rows_per_s']:,} "
                f"| {f['peak_rss_gib']:.1f} | {split} | {share} | {r['growth'].get(name, '-')} |"
            )
        lines.append(
            f"| {calls} | **daily total** | | **{_daily(r)}** | | {r['daily_peak_rss_gib']:.1f} | | 100% "
            f"| {r['growth'].get('daily', '-')} |"
        )
    borrowed = [r for r in rows if r["champion_from"]]
    if borrowed:
        lines.append("")
        for r in borrowed:
            trained = "its training ran apart" if "train" in r["stages"] else "not trained"
            lines.append(f"{r['world']['rows']['calls']:,} call records: {trained}; the day was scored with the "
                         f"champions of another size's lake (`--champion-from {r['champion_from']}`).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="worlds, lakes and results (kept between runs)")
    parser.add_argument("--calls", type=int, action="append", help="call records of a world (repeatable)")
    parser.add_argument("--stage", choices=STAGES, action="append", help="run these again, on a kept world and lake (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep each size's world and lake")
    parser.add_argument("--readme", type=Path, default=None, help="Markdown file whose scale section is replaced")
    parser.add_argument("--champion-from", type=Path, default=None,
                        help="a lake whose champions a size without its own takes (skip its training with --stage)")
    parser.add_argument("--event-log", type=Path, default=None,
                        help="write the Spark stages' event log here (read it with bench/eventlog.py)")
    args = parser.parse_args()
    if args.event_log:
        args.event_log.mkdir(parents=True, exist_ok=True)
        os.environ[EVENT_LOG_ENV] = str(args.event_log.resolve())  # the Spark stages run in a spawned process

    cfg = load_config()
    days = world_days(cfg)
    stages = tuple(s for s in STAGES if s in args.stage) if args.stage else None
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    started = time.perf_counter()
    for calls in sorted(args.calls or SIZES):
        size = size_of(calls, args.out, days)
        results.append({"calls_target": calls, **run_size(size, stages, args.keep, args.champion_from)})
    rows = summarise(results)
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    host = f"{machine()}, {ram_gib:.0f} GiB RAM"
    (args.out / "scale.json").write_text(json.dumps({"machine": host, "sizes": rows}, indent=1) + "\n")
    section = markdown(rows, host)
    print(f"\n{section}\n(run took {time.perf_counter() - started:.0f} s; results in {args.out / 'scale.json'})")
    if args.readme:
        replace_section(args.readme, section, SECTION)


if __name__ == "__main__":
    main()
