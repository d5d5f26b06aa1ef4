"""fraud retention: remove every partition past its table's retention period, report it, audit it.

A scheduled job (daily or weekly, after ``fraud run``). Periods come from
``retention`` in ``conf/`` (:mod:`privacy.retention`): each folder of
``dt=`` partitions under the lake (tables and the pages of ``reports``)
loses the partitions with ``dt < D - period``. What is never removed: the
audit logs, the erasure list, the verdicts log, the quality reports and the
ingest markers of ``_meta`` (so that ``fraud run`` does not ingest an
expired day again from the raw feeds). Model versions past
``retention.model_days`` are reported, never deleted; the champion and the
challenger are in use and stay.

Writes ``LAKE/reports/retention/retention_<D>.json`` and appends the same
figures to ``LAKE/audit/retention.jsonl``. No Spark: partitions are
folders, their rows are counted from the Parquet footers.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.lake import (
    Lake,
    dated_folders,
    parquet_rows,
    partition_days,
    partition_path,
    remove_partitions,
)
from jobs.registry import ENTITY_TYPES, model_name
from privacy import auditlog
from privacy.retention import cutoff, expired, expired_models, period_of

SNAPSHOT_TABLES = {f"clean/{f.name}" for f in C.FEEDS.values() if f.kind == "snapshot"}


def run_retention(cfg: Config, *, lake: Lake, day: dt.date, by: str) -> dict[str, Any]:
    """Remove what is past its period on ``day``; returns the report (also written and audited)."""
    started = auditlog.now()
    tables = {}
    for folder in dated_folders(lake.root):
        table = folder.relative_to(lake.root).as_posix()
        days = period_of(table, cfg.retention.tables)
        old = expired(partition_days(folder), day=day, days=days, snapshot=table in SNAPSHOT_TABLES)
        rows = sum(parquet_rows(partition_path(folder, d)) for d in old)
        removed = remove_partitions(folder, old)
        tables[table] = {
            "days": days, "first_kept": None if not days else cutoff(day, days).isoformat(),
            "partitions_removed": [p.name.split("=", 1)[1] for p in removed], "rows_removed": rows,
            "partitions_kept": len(partition_days(folder)),
        }
    names = [model_name(cfg, t) for t in ENTITY_TYPES]
    models = {
        name: expired_models(versions, day=day, days=cfg.retention.model_days)
        for name, versions in tracking.registered_versions(lake, names).items()
    }
    report = {
        "at": auditlog.now().isoformat(), "started": started.isoformat(), "by": by, "date": day.isoformat(),
        "tables": tables, "models": models, "model_days": cfg.retention.model_days,
        "partitions_removed": sum(len(t["partitions_removed"]) for t in tables.values()),
        "rows_removed": sum(t["rows_removed"] for t in tables.values()),
    }
    out = lake.table("reports", "retention", f"retention_{day.isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    auditlog.append(lake, auditlog.RETENTION_LOG, report)
    return {**report, "report": str(out)}
