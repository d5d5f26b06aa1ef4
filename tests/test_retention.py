"""fraud retention removes exactly the partitions older than their table's period, reports it and audits it.

A hand-made lake of tiny Parquet partitions on both sides of each boundary; no Spark.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from fraudgraph.cli import main
from fraudgraph.lake import Lake, partition_days
from privacy import auditlog
from privacy.retention import expired_models

DAY = dt.date(2026, 3, 20)
PARTITIONS = {  # table: {day: rows}
    "clean/calls": {"2026-03-08": 2, "2026-03-09": 3, "2026-03-10": 4, "2026-03-11": 5},  # 10 days: keeps 03-10 on
    "clean/subscribers": {"2026-03-01": 1, "2026-03-05": 2, "2026-03-12": 3},  # a snapshot: 03-05 is in force on 03-10
    "clean/labels": {"2026-01-01": 1},  # 0: kept for ever
    "scores": {"2026-03-14": 2, "2026-03-15": 1},  # 5 days: keeps 03-15 on
    "other/table": {"2025-01-01": 1},  # named by no key: kept
}
CONF = "retention:\n  tables:\n    clean: 10\n    clean/labels: 0\n    scores: 5\n    reports: 5\n"


def lake_with_partitions(root: Path) -> Lake:
    for table, days in PARTITIONS.items():
        for day, rows in days.items():
            folder = root / table / f"dt={day}"
            folder.mkdir(parents=True)
            pd.DataFrame({"entity_token": [f"t{i}" for i in range(rows)]}).to_parquet(folder / "part-0.parquet")
    page = root / "reports" / "dt=2026-03-14" / "cases" / "index.html"  # pages, not a table: by day all the same
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    (root / "_meta" / "ingested" / "calls" / "dt=2026-03-08").mkdir(parents=True)
    return Lake(root)


def test_retention_removes_exactly_what_is_older_than_its_period(tmp_path, capsys):
    lake = lake_with_partitions(tmp_path / "lake")
    conf = tmp_path / "conf.yaml"
    conf.write_text(CONF)
    args = ["retention", "--lake", str(lake.root), "--conf", str(conf), "--date", DAY.isoformat()]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)

    def left(table: str) -> list[str]:
        return [d.isoformat() for d in partition_days(lake.root / table)]

    assert left("clean/calls") == ["2026-03-10", "2026-03-11"]
    assert left("clean/subscribers") == ["2026-03-05", "2026-03-12"]
    assert left("clean/labels") == ["2026-01-01"]
    assert left("scores") == ["2026-03-15"]
    assert left("other/table") == ["2025-01-01"]
    assert left("reports") == [] and left("_meta/ingested/calls") == ["2026-03-08"]  # markers stay: no re-ingest
    tables = result["tables"]
    assert (tables["clean/calls"]["partitions_removed"], tables["clean/calls"]["rows_removed"]) == (["2026-03-08", "2026-03-09"], 5)
    assert tables["clean/calls"]["first_kept"] == "2026-03-10" and tables["clean/calls"]["days"] == 10
    assert (tables["clean/subscribers"]["partitions_removed"], tables["clean/subscribers"]["rows_removed"]) == (["2026-03-01"], 1)
    assert (tables["scores"]["partitions_removed"], tables["scores"]["rows_removed"]) == (["2026-03-14"], 2)
    assert tables["other/table"]["days"] is None and tables["clean/labels"]["partitions_removed"] == []
    assert (result["partitions_removed"], result["rows_removed"]) == (5, 8)
    assert result["models"] == {"fraudgraph-msisdn": [], "fraudgraph-account": []}
    assert not (lake.root / "mlflow.db").exists()  # no registry read where none exists

    report = json.loads(Path(result["report"]).read_text())
    assert report["tables"] == tables
    assert main(args) == 0  # again: nothing left to remove, and audited all the same
    again = json.loads(capsys.readouterr().out)
    assert again["partitions_removed"] == 0
    audited = auditlog.records(lake, auditlog.RETENTION_LOG)
    assert [r["partitions_removed"] for r in audited] == [5, 0] and audited[0]["tables"] == tables


def test_old_model_versions_are_reported_never_the_ones_in_use():
    versions = [
        {"version": "3", "as_of": "2026-03-01", "aliases": []},
        {"version": "2", "as_of": "2024-01-01", "aliases": ["champion"]},
        {"version": "1", "as_of": "2023-12-31", "aliases": []},
        {"version": "0", "as_of": None, "aliases": []},
    ]
    assert expired_models(versions, day=dt.date(2026, 1, 1), days=730) == [
        {"version": "2", "as_of": "2024-01-01", "aliases": ["champion"], "action": "kept: in use"},
        {"version": "1", "as_of": "2023-12-31", "aliases": [], "action": "reported: past its period, to delete by hand"},
    ]
