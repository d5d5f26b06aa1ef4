"""Analysts' verdicts on cases, kept in an append-only log, and the labels they become.

``fraud review --case ID --verdict V [--member TOKEN] --note TEXT`` appends one
JSON line to ``LAKE/verdicts/verdicts.jsonl``: the case, the day of the case
it was given on (the latest day holding that id), the verdict, who, when, why,
and the labels it implies. Nothing in the log is ever rewritten; a later
verdict on the same party wins, as a later label does in training
(``models.dataset.known_before``).

What a verdict labels: the case's flagged members, or only ``--member``:

- ``confirmed``: ``fraud`` for numbers, ``mule`` for accounts: positives;
- ``false_positive``: ``legit``: confirmed negatives;
- ``needs_info``: nothing; the verdict is recorded and the case stays open.

:func:`verdict_labels` gives those labels in the shape of the clean labels
feed (source ``analyst``, tokens in ``entity_id``), so training reads them
like any other label. Reading the cases uses pyarrow on one column set; no
Spark is started to record a verdict.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.errors import FraudError, MissingInput
from fraudgraph.lake import Lake, partition_days, partition_path

VERDICTS = ("confirmed", "false_positive", "needs_info")
LOG_FILE = "verdicts.jsonl"
LABEL_OF = {("confirmed", C.MSISDN): "fraud", ("confirmed", C.ACCOUNT): "mule"}
CLEARED = "legit"
SOURCE = "analyst"
LABEL_SCHEMA = "entity_type string, entity_id string, label string, reported_time timestamp, source string, case_id string"


def log_path(lake: Lake) -> Path:
    return lake.root / "verdicts" / LOG_FILE


def _case_members(lake: Lake, case_id: str) -> tuple[dt.date, list[dict[str, Any]]]:
    """The latest day holding ``case_id`` and its members (role, entity_type, entity_token)."""
    for day in reversed(partition_days(lake.cases)):
        table = pq.read_table(partition_path(lake.cases, day), columns=["case_id", "members"],
                              filters=[("case_id", "=", case_id)])
        if table.num_rows:
            return day, table.column("members")[0].as_py()
    raise MissingInput(f"no case {case_id} in {lake.cases}: see LAKE/cases/dt=D or the analyst report")


def record_verdict(
    lake: Lake, *, case_id: str, verdict: str, note: str, by: str, member: str | None = None, at: dt.datetime | None = None
) -> dict[str, Any]:
    """Append a verdict to the log; returns the record. Raises MissingInput for an unknown case or member."""
    if verdict not in VERDICTS:
        raise FraudError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    if not note.strip():
        raise FraudError("a verdict needs a --note saying why")
    day, members = _case_members(lake, case_id)
    parties = [m for m in members if m.get("entity_token")]
    if member is not None:
        chosen = [m for m in parties if m["entity_token"] == member]
        if not chosen:
            raise MissingInput(f"case {case_id} of {day} has no member {member}")
    else:
        chosen = [m for m in parties if m["role"] == "flagged"]
    labels = [] if verdict == "needs_info" else [
        {"entity_type": m["entity_type"], "entity_token": m["entity_token"],
         "label": LABEL_OF.get((verdict, m["entity_type"]), CLEARED)}
        for m in chosen
    ]
    when = (at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if when.tzinfo is None:  # a naive time is UTC; the log keeps the offset, so any session zone reads it right
        when = when.replace(tzinfo=dt.UTC)
    record = {
        "verdict_id": uuid.uuid4().hex[:12], "case_id": case_id, "case_day": day.isoformat(), "verdict": verdict,
        "member": member, "note": note, "by": by, "at": when.isoformat(), "labels": labels,
    }
    path = log_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:  # append only: a verdict is never rewritten
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {**record, "log": str(path)}


def verdicts_on(lake: Lake, tokens: set[str]) -> list[dict[str, Any]]:
    """The verdicts that label one of ``tokens`` or name one as ``member``, oldest first (a subject's access)."""
    path = log_path(lake)
    if not path.is_file():
        return []
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in found if r.get("member") in tokens or any(x["entity_token"] in tokens for x in r["labels"])]


def erase_from_log(lake: Lake, tokens: set[str], *, request_id: str) -> int:
    """Take ``tokens`` out of the log (``fraud subject delete``): their labels leave each verdict, a verdict
    on one of them as ``member`` loses the member; such a record gets ``erased_by`` (the request id). The one
    rewrite the log allows, made atomically (a new file renamed over the old). Returns the labels removed."""
    path = log_path(lake)
    if not path.is_file():
        return 0
    removed, lines = 0, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        kept = [x for x in record["labels"] if x["entity_token"] not in tokens]
        if len(kept) < len(record["labels"]) or record.get("member") in tokens:
            removed += len(record["labels"]) - len(kept)
            record.update(labels=kept, erased_by=request_id)
            if record.get("member") in tokens:
                record["member"] = None
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    fresh = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    fresh.write_text("".join(lines), encoding="utf-8")
    fresh.replace(path)
    return removed


def verdict_labels(spark: SparkSession, lake: Lake) -> DataFrame:
    """Every verdict's labels in the clean labels' shape (:data:`LABEL_SCHEMA`); empty when there is none."""
    path = log_path(lake)
    if not path.is_file():
        return spark.createDataFrame([], LABEL_SCHEMA)
    schema = (
        "case_id string, verdict string, at string, "
        "labels array<struct<entity_type: string, entity_token: string, label: string>>"
    )
    return (
        spark.read.schema(schema).json(str(path))
        .select("case_id", F.to_timestamp(F.col("at")).alias("reported_time"), F.explode("labels").alias("l"))
        .select(
            F.col("l.entity_type").alias("entity_type"), F.col("l.entity_token").alias("entity_id"),
            F.col("l.label").alias("label"), "reported_time", F.lit(SOURCE).alias("source"), "case_id",
        )
    )


def with_verdicts(spark: SparkSession, lake: Lake, labels_df: DataFrame) -> DataFrame:
    """The clean labels and the analysts' verdict labels together (the caller filters by day)."""
    return labels_df.unionByName(verdict_labels(spark, lake), allowMissingColumns=True)
