"""``bench/eventlog.py --operators-of``: a stage's operators come from the plans' metrics, and stages that
read and write the same records are marked (a synthetic event log in Spark's format; no session needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import eventlog  # noqa: E402


def _plan(name: str, metric_ids: list[int], children: list[dict] | None = None) -> dict:
    return {
        "nodeName": name.split("(")[0].split(" [")[0],
        "simpleString": name,
        "metrics": [{"name": "rows", "accumulatorId": i, "metricType": "sum"} for i in metric_ids],
        "children": children or [],
    }


def _stage(stage_id: int, cpu_s: float, records_in: int, records_out: int, metric_ids: list[int]) -> dict:
    figures = {
        "executorCpuTime": int(cpu_s * 1e9),
        "shuffle.read.recordsRead": records_in,
        "shuffle.write.recordsWritten": records_out,
        "shuffle.write.bytesWritten": records_out * 10_000,
    }
    accumulables = [
        {"ID": 1000 * (k + 1) + stage_id, "Name": f"internal.metrics.{name}", "Value": value}
        for k, (name, value) in enumerate(figures.items())
    ] + [{"ID": i, "Name": "rows", "Value": 1} for i in metric_ids]
    info = {"Stage ID": stage_id, "Accumulables": accumulables}
    return {"Event": "SparkListenerStageCompleted", "Stage Info": info}


def test_operators_name_each_stage_s_operators_and_mark_repeated_work(tmp_path: Path) -> None:
    plan = _plan("Project [a#1, b#2L]", [1], [
        _plan("SortMergeJoin [u#3], [u#4], Inner, (v#5 < w#6)", [2], [
            _plan("WholeStageCodegen (3)", [3], [_plan("Scan ExistingRDD[u#3,v#5L]", [4])]),
        ]),
        _plan("HashAggregate(keys=[a#1], functions=[count(1)])", [5]),
    ])
    log = [
        {"Event": eventlog.SQL_START, "executionId": 7, "description": "parquet at x", "time": 0,
         "sparkPlanInfo": plan},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Stage IDs": [10, 11, 12],
         "Properties": {"spark.sql.execution.id": "7"}},
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Stage IDs": [13],
         "Properties": {"spark.sql.execution.id": "8"}},
        _stage(10, 1.5, 0, 400, [2, 3, 4]),
        _stage(11, 2.5, 0, 400, [2, 4]),
        _stage(12, 0.5, 800, 0, [1, 5]),
        _stage(13, 9.0, 0, 400, [2]),  # another query's stage: not listed
    ]
    path = tmp_path / "events_1_app"
    path.write_text("\n".join(json.dumps(e) for e in log) + "\n")
    text = eventlog.operators(path, 7)
    assert "stage 13" not in text
    stage_10 = text.split("stage 10:")[1].split("stage 11:")[0]
    # Expression ids are dropped, the plumbing around the work is left out.
    assert "SortMergeJoin [u], [u], Inner, (v < w)" in stage_10 and "Scan ExistingRDD[u,v]" in stage_10
    assert "WholeStageCodegen" not in stage_10 and "HashAggregate" not in stage_10
    assert "same records in and out" in stage_10
    assert "same records in and out" not in text.split("stage 12:")[1]
    assert "HashAggregate(keys=[a], functions=[count(1)])" in text.split("stage 12:")[1]
    assert text.rstrip().endswith("3 stages, 4.5 s CPU, 8 MB written; 4.0 s CPU in stages alike in records")
    assert eventlog.operators(path, 99).endswith("no stage of query 99")
