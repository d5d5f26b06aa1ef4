"""Where a Spark application's time went, from its event log: per query, then the stages that repeat.

Run: .venv/bin/python bench/eventlog.py EVENT_LOG [--min-seconds S] [--repeats-of ID[,ID...]]
     .venv/bin/python bench/eventlog.py EVENT_LOG --operators-of ID

``EVENT_LOG`` is a file or an ``eventlog_v2_*`` folder written with ``spark.eventLog.enabled=true``
(``spark.eventLog.dir`` a local folder; zstd-compressed logs are read through the ``zstd`` command).
A run's Spark settings take these through the ``spark.extra`` section of a ``--conf`` file.

For each SQL execution (one action: a write, a count, a checkpoint) longer than ``--min-seconds``: its
wall time, the idle gap before it (driver-side planning), its tasks' CPU and run time, the shuffle it
wrote and the clean tables it scans. ``--repeats-of`` groups the stages of those executions by what they
read (number of tasks, shuffle size, the cached relations in their lineage) and lists the groups by CPU:
a group of many alike stages is one computation Spark ran again, because its readers pruned different
columns and did not share a shuffle (bench/README.md, "The 10M window's feature stage").

``--operators-of`` lists every stage of one execution with the plan operators whose metrics it updated (a
stage's accumulators are the SQL metrics of the operators it ran, looked up in every plan of the log), its
CPU and its shuffle records read and written. Stages with the same records in and out are marked: the same
computation run twice, as the account features' triangles were (bench/README.md, "The account features'
plan").
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"
SQL_PLAN_UPDATE = "org.apache.spark.sql.execution.ui.SparkListenerSQLAdaptiveExecutionUpdate"
# Operators every stage has around its real work: left out of --operators-of.
PLUMBING = ("WholeStageCodegen", "ColumnarToRow", "InputAdapter", "Sort [")


def events(path: Path) -> Iterator[dict]:
    """The log's events in order; a folder's parts by their number."""
    files = sorted(path.glob("events_*"), key=lambda f: int(f.name.split("_")[1])) if path.is_dir() else [path]
    for file in files:
        if file.suffix == ".zstd":
            text = subprocess.run(["zstd", "-dc", str(file)], capture_output=True, check=False).stdout.decode()
        else:
            text = file.read_text()
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:  # the cut-off tail of a log still being written
                break


def summarise(path: Path, min_seconds: float, repeats_of: set[int]) -> str:
    queries: dict[int, dict] = {}
    stage_query: dict[int, int] = {}
    per_query: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    groups: dict[tuple, list[float]] = collections.defaultdict(list)
    for e in events(path):
        kind = e["Event"]
        if kind == SQL_START:
            queries[e["executionId"]] = {"start": e["time"], "what": e["description"].split(" at ")[0],
                                         "plan": e.get("physicalPlanDescription", "")}
        elif kind == SQL_END and e["executionId"] in queries:
            queries[e["executionId"]]["end"] = e["time"]
        elif kind == "SparkListenerJobStart":
            query = e.get("Properties", {}).get("spark.sql.execution.id")
            for stage in e["Stage IDs"]:
                stage_query[stage] = int(query) if query else -1
        elif kind == "SparkListenerTaskEnd":
            metrics = e.get("Task Metrics") or {}
            figures = per_query[stage_query.get(e["Stage ID"], -1)]
            figures["cpu"] += metrics.get("Executor CPU Time", 0) / 1e9
            figures["run"] += metrics.get("Executor Run Time", 0) / 1e3
            figures["gc"] += metrics.get("JVM GC Time", 0) / 1e3
            figures["shuffle_mb"] += (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0) / 1e6
        elif kind == "SparkListenerStageCompleted" and stage_query.get(e["Stage Info"]["Stage ID"]) in repeats_of:
            info = e["Stage Info"]
            acc = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}
            relations = sorted({re.sub(r"#\d+", "", r["Name"].split("\n")[1])[:120]
                                for r in info["RDD Info"] if "\n" in r["Name"]})
            key = (info["Number of Tasks"], round(acc.get("internal.metrics.shuffle.write.bytesWritten", 0) / 1e6),
                   tuple(relations))
            groups[key].append(acc.get("internal.metrics.executorCpuTime", 0) / 1e9)
    if not queries:
        return f"{path}: no SQL execution in the log"
    lines = ["| query | starts at (s) | gap before (s) | wall (s) | task CPU (s) | task run (s) | GC (s) | shuffle written (MB) | action | clean tables |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    first = min(q["start"] for q in queries.values())
    previous_end, gaps = first, 0.0
    for number, query in sorted(queries.items()):
        end = query.get("end", query["start"])
        gap = max(0.0, (query["start"] - previous_end) / 1000)
        gaps += gap
        previous_end = max(previous_end, end)
        wall = (end - query["start"]) / 1000
        if wall >= min_seconds or gap >= min_seconds:
            f = per_query[number]
            tables = ", ".join(sorted(set(re.findall(r"/clean/(\w+)", query["plan"]))))
            lines.append(f"| {number} | {(query['start'] - first) / 1000:.0f} | {gap:.1f} | {wall:.1f} | {f['cpu']:.1f} "
                         f"| {f['run']:.1f} | {f['gc']:.1f} | {f['shuffle_mb']:.0f} | {query['what']} | {tables} |")
    total = collections.Counter()
    for f in per_query.values():
        total.update(f)
    lines.append(f"\n{len(queries)} queries over {(previous_end - first) / 1000:.0f} s, {gaps:.0f} s of it between queries; "
                 f"tasks: {total['cpu']:.0f} s CPU, {total['run']:.0f} s run, {total['gc']:.0f} s GC, "
                 f"{total['shuffle_mb']:.0f} MB shuffled")
    if groups:
        lines.append("\nAlike stages of queries " + ", ".join(map(str, sorted(repeats_of))) + ", by CPU:\n")
        for (tasks, shuffle_mb, relations), cpus in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[:12]:
            lines.append(f"- {len(cpus)} stage(s), {sum(cpus):.1f} s CPU, {tasks} tasks, {shuffle_mb} MB shuffle each; reading "
                         + ("; ".join(f"`{r.strip('+- ')}`" for r in relations) or "no cached relation"))
    return "\n".join(lines)


def _plan_metrics(node: dict, found: dict[int, str]) -> None:
    """Accumulator id -> the operator (its one-line description) for a plan tree and its children."""
    for metric in node.get("metrics", []):
        found[metric["accumulatorId"]] = node.get("simpleString") or node["nodeName"]
    for child in node.get("children", []):
        _plan_metrics(child, found)


def operators(path: Path, query: int, width: int = 140) -> str:
    """Each stage of execution ``query``: CPU, shuffle records in and out, MB written, and its operators."""
    metric_operator: dict[int, str] = {}
    stage_query: dict[int, int] = {}
    stages = []
    for e in events(path):
        kind = e["Event"]
        if kind in (SQL_START, SQL_PLAN_UPDATE):
            _plan_metrics(e["sparkPlanInfo"], metric_operator)
        elif kind == "SparkListenerJobStart":
            number = e.get("Properties", {}).get("spark.sql.execution.id")
            for stage in e["Stage IDs"]:
                stage_query[stage] = int(number) if number else -1
        elif kind == "SparkListenerStageCompleted" and stage_query.get(e["Stage Info"]["Stage ID"]) == query:
            info = e["Stage Info"]
            acc = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}
            ops = list(dict.fromkeys(metric_operator[a["ID"]] for a in info.get("Accumulables", [])
                                     if a["ID"] in metric_operator))
            stages.append({
                "id": info["Stage ID"],
                "cpu": acc.get("internal.metrics.executorCpuTime", 0) / 1e9,
                "in": acc.get("internal.metrics.shuffle.read.recordsRead", 0),
                "out": acc.get("internal.metrics.shuffle.write.recordsWritten", 0),
                "mb": acc.get("internal.metrics.shuffle.write.bytesWritten", 0) / 1e6,
                "ops": [re.sub(r"#\d+L?\b", "", op)[:width] for op in ops if not op.startswith(PLUMBING)],
            })
    if not stages:
        return f"{path}: no stage of query {query}"
    alike = collections.Counter((s["in"], s["out"]) for s in stages if s["in"] or s["out"])
    lines = []
    for s in sorted(stages, key=lambda s: s["id"]):
        again = " (same records in and out as another stage)" if alike[(s["in"], s["out"])] > 1 else ""
        lines.append(f"stage {s['id']}: {s['cpu']:.1f} s CPU, shuffle records in {s['in']:,} "
                     f"out {s['out']:,}, {s['mb']:.0f} MB written{again}")
        lines += [f"    {op}" for op in s["ops"]]
    cpu = sum(s["cpu"] for s in stages)
    repeated = sum(s["cpu"] for s in stages if alike[(s["in"], s["out"])] > 1)
    lines.append(f"\n{len(stages)} stages, {cpu:.1f} s CPU, {sum(s['mb'] for s in stages):.0f} MB written; "
                 f"{repeated:.1f} s CPU in stages alike in records")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--repeats-of", default="", help="comma-separated query numbers")
    parser.add_argument("--operators-of", type=int, default=None, help="a query: its stages' operators")
    args = parser.parse_args()
    if args.operators_of is not None:
        print(operators(args.log, args.operators_of))
        return
    print(summarise(args.log, args.min_seconds, {int(q) for q in args.repeats_of.split(",") if q}))


if __name__ == "__main__":
    main()
