"""fraud subject access / delete: what the lake holds on a person, and its deletion; every request audited.

The person is a raw identifier, tokenised at once and expanded to their own
identifiers (:mod:`privacy.person`). Every Parquet table of the lake is then
searched for those tokens (and the graph vertex ids cases keep for them) in
any field, at any depth (:mod:`privacy.scan`), one Spark job per table; only
the matching rows reach the driver.

- ``access`` writes the export for the subject: every row held, with the
  table and day it came from, the analysts' verdicts and the
  re-identifications that concern them, and the model versions whose
  training data may have held them; a JSON file and a short summary beside it.
- ``delete`` rewrites each partition holding them without them (staged, then
  swapped in): their rows go, and lists inside other rows (a case's members,
  money paths and ties) lose the elements naming them, and a case left with
  no flagged member goes; the cases' pages of those days are written again
  and their labels leave the verdicts log. Their
  token digests go on the erasure list, which later ingests, trainings and
  scorings respect. A second search then checks that nothing holds them.
  Figures stored in other rows (a case's counts and loss, the other
  parties' features and ranks of past days) are kept as computed; every later
  run computes them without the person. Model versions are not retrained or
  deleted: the answer lists those whose training may have included the
  person (trained for a day after the first day the lake held them), and
  the next ``fraud train`` leaves the person out.

Both append a record to ``LAKE/audit/subjects.jsonl``: request id, kind,
when received and completed, working days against the 30-day limit, who,
why, the tables touched with their row counts, the outcome; the person only
as a masked identifier and token digests. A request that finds nothing is
answered and audited all the same.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cases.assemble import with_flagged_members
from cases.report import write_report
from cases.verdicts import erase_from_log, verdicts_on
from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.errors import FraudError
from fraudgraph.lake import DT, Lake, dated_folders, rewrite_partition
from jobs.registry import ENTITY_TYPES, model_name
from privacy import auditlog
from privacy.erasure import digest, record_erasure
from privacy.export import export_summary
from privacy.person import Subject, own_identifiers, subject_of, with_vertex_ids
from privacy.scan import rows_holding, without_values


def _snapshots(spark: SparkSession, lake: Lake, feed: C.Feed) -> DataFrame:
    """Every clean partition of a snapshot feed; empty (the contract's columns) when none was ingested."""
    table = lake.clean(feed)
    if not any(table.glob(f"{DT}=*/*.parquet")):
        return spark.createDataFrame([], C.spark_schema(feed))
    return spark.read.option("mergeSchema", "true").parquet(str(table))


def _person(spark: SparkSession, lake: Lake, subject: Subject) -> tuple[dict[str, set[str]], list[str]]:
    """The person's tokens by kind, and every value that names them (the tokens and their vertex ids)."""
    tokens = own_identifiers(subject, _snapshots(spark, lake, C.SUBSCRIBERS), _snapshots(spark, lake, C.ACCOUNTS))
    pairs = [(kind, t) for kind, found in tokens.items() for t in sorted(found)]
    vertices = with_vertex_ids(spark.createDataFrame(pairs, "kind string, token string")).collect()
    return tokens, sorted({t for _, t in pairs} | {r["vertex_id"] for r in vertices})


def _holding(spark: SparkSession, lake: Lake, values: list[str]) -> dict[str, DataFrame]:
    """Per table (its path under the lake): its rows holding one of ``values``, with ``dt`` as text."""
    found = {}
    for table in dated_folders(lake.root, parquet=True):
        df = spark.read.option("mergeSchema", "true").parquet(str(table)).withColumn(DT, F.col(DT).cast("string"))
        found[table.relative_to(lake.root).as_posix()] = rows_holding(df, values)
    return found


def _models_on(cfg: Config, lake: Lake, first_day: str | None) -> list[dict[str, Any]]:
    """Registered versions trained for a day after ``first_day`` (the person's first day in the lake)."""
    if first_day is None:
        return []
    names = [model_name(cfg, t) for t in ENTITY_TYPES]
    return [
        {"model": name, "version": v["version"], "as_of": v["as_of"], "aliases": v["aliases"]}
        for name, versions in tracking.registered_versions(lake, names).items()
        for v in versions
        if v["as_of"] is None or v["as_of"] > first_day
    ]


def _start(lake: Lake, key: bytes, kind: str, identifier: str) -> tuple[Subject, str, dt.datetime]:
    lake.check_key(key)  # only the lake's key gives the tokens its tables hold
    return subject_of(key, kind, identifier), uuid.uuid4().hex[:12], auditlog.now()


def _audit(lake: Lake, request: dict[str, Any], subject: Subject, tokens: dict[str, set[str]], received: dt.date | None,
           started: dt.datetime) -> dict[str, Any]:
    """Complete ``request`` with the subject, the times and the working days, and append it to the log."""
    completed = auditlog.now()
    first = received or auditlog.local_day(started.isoformat())
    days = auditlog.working_days(first, auditlog.local_day(completed.isoformat()))
    record = {
        **request,
        "received": first.isoformat(),
        "at": completed.isoformat(),
        "seconds": round((completed - started).total_seconds(), 1),
        "working_days": days,
        "limit_working_days": auditlog.LIMIT_WORKING_DAYS,
        "within_limit": days <= auditlog.LIMIT_WORKING_DAYS,
        "subject": {"kind": subject.kind, "masked": subject.masked,
                    "digests": sorted(digest(t) for found in tokens.values() for t in found)},
        "identifiers": {kind: len(found) for kind, found in tokens.items()},
    }
    auditlog.append(lake, auditlog.SUBJECTS_LOG, record)
    return record


def run_access(
    spark: SparkSession, cfg: Config, *, lake: Lake, kind: str, identifier: str, key: bytes, out: Path, by: str,
    received: dt.date | None = None,
) -> dict:
    """Write the subject's export to ``out`` (JSON) and its summary beside it (``.txt``); returns the audit record."""
    subject, request_id, started = _start(lake, key, kind, identifier)
    tokens, values = _person(spark, lake, subject)
    held: dict[str, list[dict[str, Any]]] = {}
    for table, hits in _holding(spark, lake, values).items():
        rows = [r.asDict(recursive=True) for r in hits.collect()]  # one person's rows: few
        if rows:
            held[table] = [{"source": f"{table}/{DT}={r.pop(DT)}", "row": r} for r in rows]
    everything = {t for found in tokens.values() for t in found}
    logs = {
        "verdicts/verdicts.jsonl": verdicts_on(lake, everything),
        "audit/reveal.jsonl": [r for r in auditlog.records(lake, auditlog.REVEAL_LOG) if r["token"] in everything],
    }
    first_day = min((i["source"].rsplit(f"{DT}=", 1)[1] for items in held.values() for i in items), default=None)
    models = _models_on(cfg, lake, first_day)
    export = {
        "request_id": request_id,
        "generated_at": auditlog.now().isoformat(),
        "subject": {"kind": subject.kind, "masked": subject.masked},
        "identifiers": {k: sorted(v) for k, v in tokens.items()},
        "tables": {t: {"rows": len(items), "items": items} for t, items in held.items()},
        "logs": {name: items for name, items in logs.items() if items},
        "models": models,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(export, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    summary = out.with_suffix(".txt")
    summary.write_text(export_summary(export), encoding="utf-8")
    request = {
        "request_id": request_id, "kind": "access", "by": by, "reason": None,
        "outcome": "exported" if held else "nothing held", "tables": {t: len(items) for t, items in held.items()},
        "export": str(out), "summary": str(summary),
    }
    return _audit(lake, request, subject, tokens, received, started)


def run_delete(
    spark: SparkSession, cfg: Config, *, lake: Lake, kind: str, identifier: str, key: bytes, reason: str, by: str,
    received: dt.date | None = None,
) -> dict:
    """Remove the person from every table, list their digests for later runs; returns the audit record."""
    require_reason(reason)
    subject, request_id, started = _start(lake, key, kind, identifier)
    tokens, values = _person(spark, lake, subject)
    touched: dict[str, int] = {}
    first_days = []
    for table, hits in _holding(spark, lake, values).items():
        per_day = {r[DT]: r["n"] for r in hits.groupBy(DT).agg(F.count(F.lit(1)).alias("n")).collect()}
        for day in sorted(per_day):
            part = spark.read.parquet(str(lake.root / table / f"{DT}={day}")).transform(without_values, values)
            if table == "cases":
                part = part.transform(with_flagged_members)
            rewrite_partition(part, lake.root / table, day)
            if table == "cases":
                write_report(lake, dt.date.fromisoformat(day))  # the analysts' pages of that day, without them
        if per_day:
            touched[table] = sum(per_day.values())
            first_days.append(min(per_day))
    spark.catalog.clearCache()  # frames cached over the rewritten tables (an earlier job's) would read files now gone
    everything = {t for found in tokens.values() for t in found}
    labels = erase_from_log(lake, everything, request_id=request_id)
    erasure = record_erasure(lake, request_id=request_id, tokens=sorted(everything), at=started)
    # Checked, not assumed: a second search must find nothing left.
    remaining = reduce(lambda n, hits: n + hits.count(), _holding(spark, lake, values).values(), 0)
    outcome = "incomplete" if remaining else "deleted" if touched or labels else "nothing held"
    request = {
        "request_id": request_id, "kind": "delete", "by": by, "reason": reason, "outcome": outcome,
        "tables": touched, "rows": sum(touched.values()), "verdict_labels": labels, "remaining": remaining,
        "erasure_list": str(erasure), "models": _models_on(cfg, lake, min(first_days, default=None)),
    }
    record = _audit(lake, request, subject, tokens, received, started)
    if remaining:
        raise FraudError(f"request {request_id}: {remaining} row(s) still hold the subject after the deletion (audited)")
    return record


def require_reason(reason: str) -> None:
    """A deletion needs a reason: it goes to the audit log with who and when."""
    if not reason.strip():
        raise FraudError("a deletion needs a --reason; it is written to the audit log with who and when")
