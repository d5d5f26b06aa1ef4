"""fraud audit: the compliance audit of a period, as a self-contained page and a JSON file.

``LAKE/reports/audit/<D1>_<D2>/audit.html`` and ``audit.json``: the personal
information processed (by category, sensitive and minors' records), the
re-identifications, the subjects' requests and their completion times, the
retention actions, the quality gates and the model versions in use
(:mod:`privacy.compliance`). The material of the periodic compliance audit
and of the yearly report. No Spark.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.errors import FraudError
from fraudgraph.lake import Lake
from jobs.registry import ENTITY_TYPES, model_name
from privacy import auditlog, compliance


def run_audit(cfg: Config, *, lake: Lake, first: dt.date, last: dt.date) -> dict[str, Any]:
    """Write the audit of ``first``..``last``; returns where it is and its headline figures."""
    if first > last:
        raise FraudError(f"--from {first} is after --to {last}")
    cats = compliance.categories(lake, first, last)
    versions = tracking.registered_versions(lake, [model_name(cfg, t) for t in ENTITY_TYPES])
    report = {
        "from": first.isoformat(), "to": last.isoformat(), "lake": str(lake.root),
        "generated_at": auditlog.now().isoformat(),
        "categories": cats,
        "totals": {"rows": sum(c["rows"] for c in cats), "sensitive_rows": sum(c["sensitive_rows"] for c in cats)},
        "minors": compliance.minors(lake, last),
        "reidentifications": compliance.reidentifications(auditlog.records(lake, auditlog.REVEAL_LOG, first, last)),
        "subject_requests": compliance.subject_requests(auditlog.records(lake, auditlog.SUBJECTS_LOG, first, last)),
        "retention": compliance.retention_actions(auditlog.records(lake, auditlog.RETENTION_LOG, first, last)),
        "quality_gates": compliance.quality_gates(lake, first, last),
        "models": compliance.models_in_use(versions, first, last),
    }
    json_path, html_path = compliance.write(report, lake.table("reports", "audit", f"{first}_{last}"))
    return {"html": str(html_path), "json": str(json_path), "totals": report["totals"], "minors": report["minors"],
            "subject_requests": report["subject_requests"]["count"], "reidentifications": report["reidentifications"]["count"]}
