"""The compliance audit of a period: its figures from the lake and the logs, and a self-contained page.

Figures (all for China days ``first`` to ``last``, inclusive):

- ``categories``: per clean feed holding personal information, the rows
  processed: an event feed's rows of the period's days; a snapshot feed's
  rows of its copy in force on the last day (what is held then). Leak
  sources are no person's data and are left out;
- ``sensitive`` (PIPL art. 28): identity documents (subscribers with an ID
  number), whereabouts (calls with a cell), financial accounts and
  transfers (every account and transfer), leaked-data observations (every
  exposure);
- ``minors``: subscribers and account holders whose resident ID number says
  they were under 18 (``is_minor``) or under 14 (``is_under_14``, the
  sensitive ones) on the snapshot's day; None where ingestion did not yet
  keep the flag;
- ``reidentifications`` (``audit/reveal.jsonl``), ``subject_requests``
  (``audit/subjects.jsonl``), ``retention`` (``audit/retention.jsonl``):
  counts, by whom, why, completion times against the 30-working-day limit;
- ``quality_gates``: the ingest reports (``quality/ingest_*.json``) whose day
  range meets the period: passed or blocked, why, rows quarantined and erased;
- ``models``: each entity type's registered versions holding an alias now
  (champion, challenger) and the versions registered in the period.

Rows are counted with pyarrow over the Parquet files (footers, and one
column where a condition needs it); no Spark, no row reaches memory whole.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds

from fraudgraph import contract as C
from fraudgraph.lake import Lake, parquet_rows, partition_days, partition_path
from privacy import auditlog


@dataclass(frozen=True)
class Category:
    """A category of personal information: the clean feed it is in, in words, and what of it is sensitive."""

    feed: str
    words: str
    sensitive: str | None = None  # why its rows are sensitive (PIPL art. 28); None: not sensitive
    # Only rows where this column is not null are sensitive; None: every row is.
    sensitive_column: str | None = None


CATEGORIES = (
    Category("subscribers", "mobile numbers and subscriber records", "identity documents (resident ID numbers)", "id_number"),
    Category("calls", "call records", "whereabouts (the cell of a call)", "cell_id"),
    Category("sms", "SMS records"),
    Category("accounts", "bank accounts", "financial accounts"),
    Category("transactions", "bank transfers", "financial transactions"),
    Category("exposures", "leaked-data observations", "leaked identity and financial data"),
    Category("labels", "fraud, mule and victim labels"),
)
# The tables of people whose ID number gives their age (ingestion keeps is_minor and is_under_14).
AGE_FEEDS = ("subscribers", "accounts")
MINOR_FLAGS = {"under_18": "is_minor", "under_14": "is_under_14"}


def _days(lake: Lake, feed: C.Feed, first: dt.date, last: dt.date) -> list[dt.date]:
    present = partition_days(lake.clean(feed))
    if feed.kind == "snapshot":
        return [d for d in present if d <= last][-1:]
    return [d for d in present if first <= d <= last]


def _count(lake: Lake, feed: C.Feed, days: list[dt.date], column: str, expression: pc.Expression) -> int | None:
    """Rows of the partitions meeting ``expression`` on ``column``; None when a partition lacks the column."""
    total = 0
    for day in days:
        part = ds.dataset(str(partition_path(lake.clean(feed), day)), format="parquet")
        if column not in part.schema.names:
            return None
        total += part.count_rows(filter=expression)
    return total


def categories(lake: Lake, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """One entry per :data:`CATEGORIES`: rows processed, sensitive rows and why, the days they come from."""
    out = []
    for cat in CATEGORIES:
        feed = C.FEEDS[cat.feed]
        days = _days(lake, feed, first, last)
        rows = sum(parquet_rows(partition_path(lake.clean(feed), d)) for d in days)
        if cat.sensitive is None:
            sensitive = 0
        elif cat.sensitive_column is None:
            sensitive = rows
        else:
            sensitive = _count(lake, feed, days, cat.sensitive_column, pc.field(cat.sensitive_column).is_valid()) or 0
        out.append({
            "feed": cat.feed, "category": cat.words, "kind": feed.kind, "rows": rows, "sensitive_rows": sensitive,
            "sensitive_because": cat.sensitive, "days": [d.isoformat() for d in days],
        })
    return out


def minors(lake: Lake, last: dt.date) -> dict[str, dict[str, int | None]]:
    """Per age feed, people under 18 and under 14 in the copy in force on ``last`` (None: flag not kept)."""
    out = {}
    for name in AGE_FEEDS:
        feed = C.FEEDS[name]
        days = _days(lake, feed, last, last)
        out[name] = {age: _count(lake, feed, days, flag, pc.field(flag) == True) for age, flag in MINOR_FLAGS.items()}  # noqa: E712
    return out


def _tally(values: list[Any]) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items()))


def reidentifications(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``fraud reveal`` calls: how many, by whom, why, how many found nothing."""
    return {
        "count": len(records), "by": _tally([r["by"] for r in records]), "reasons": _tally([r["reason"] for r in records]),
        "not_found": sum(1 for r in records if r.get("found_in") is None),
    }


def subject_requests(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Subjects' requests: by kind and outcome, working days taken, whether all met the limit, each request."""
    taken = [r["working_days"] for r in records]
    return {
        "count": len(records), "by_kind": _tally([r["kind"] for r in records]),
        "outcomes": _tally([r["outcome"] for r in records]),
        "max_working_days": max(taken, default=None), "limit_working_days": auditlog.LIMIT_WORKING_DAYS,
        "all_within_limit": all(r["within_limit"] for r in records),
        "requests": [
            {k: r.get(k) for k in ("request_id", "kind", "received", "at", "working_days", "outcome", "by", "reason")}
            | {"rows": sum(r.get("tables", {}).values())}
            for r in records
        ],
    }


def retention_actions(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``fraud retention`` runs: partitions and rows removed, per table."""
    per_table: Counter[str] = Counter()
    for r in records:
        for table, found in r["tables"].items():
            per_table[table] += found["rows_removed"]
    return {
        "runs": len(records), "partitions_removed": sum(r["partitions_removed"] for r in records),
        "rows_removed": sum(r["rows_removed"] for r in records),
        "rows_removed_by_table": {t: n for t, n in sorted(per_table.items()) if n},
    }


def quality_gates(lake: Lake, first: dt.date, last: dt.date) -> dict[str, Any]:
    """The ingest reports whose day range meets the period: outcomes, reasons, rows quarantined and erased."""
    reports = []
    for path in sorted(lake.table("quality").glob("ingest_*.json")):
        report = json.loads(path.read_text(encoding="utf-8"))
        if report["from"] <= last.isoformat() and report["to"] >= first.isoformat():
            reports.append(report)
    feeds = [f for r in reports for f in r["feeds"].values()]
    return {
        "runs": len(reports), "outcomes": _tally([r["status"] for r in reports]),
        "blocking_reasons": [b for r in reports for b in r.get("blocking_reasons", [])],
        "failed_expectations": _tally([f"{e['feed']}: {e['expectation']} ({e['severity']})"
                                       for r in reports for e in r["expectations"] if not e["success"]]),
        "rows_quarantined": sum(f["rows_quarantined"] for f in feeds),
        "rows_erased": sum(f.get("rows_erased", 0) for f in feeds),
    }


def models_in_use(versions: dict[str, list[dict[str, Any]]], first: dt.date, last: dt.date) -> dict[str, Any]:
    """Per registered model: the versions holding an alias, and how many were registered in the period."""
    return {
        name: {
            "in_use": [{k: v[k] for k in ("version", "aliases", "as_of", "registered", "valid_average_precision")}
                       for v in found if v["aliases"]],
            "registered_in_period": sum(
                1 for v in found if v["registered"] and first <= auditlog.local_day(v["registered"]) <= last
            ),
        }
        for name, found in versions.items()
    }


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2433;max-width:70rem}h1{font-size:1.5rem}"
    "h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0 1rem}"
    "th,td{border:1px solid #d0d5dd;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#067647}.fail{color:#b42318}"
)


def _e(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{html.escape(str(k))}: {_e(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        return ", ".join(_e(v) for v in value) or "—"
    return "—" if value is None else html.escape(f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class=n>{_e(c)}</td>" if isinstance(c, int) else f"<td>{_e(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>" if rows else "<p>None.</p>"


def _pairs(section: dict[str, Any]) -> str:
    return _table(["figure", "value"], [[k.replace("_", " "), v] for k, v in section.items() if not isinstance(v, list)
                                         or not v or not isinstance(v[0], dict)])


def render(report: dict[str, Any]) -> str:
    """The report as one HTML page: inline style, no script, nothing fetched; it opens offline."""
    cats = report["categories"]
    requests = report["subject_requests"]
    limit = '<span class="ok">all within</span>' if requests["all_within_limit"] else '<span class="fail">not all within</span>'
    models = [[name, v["version"], v["aliases"], v["as_of"], v["valid_average_precision"]]
              for name, m in report["models"].items() for v in m["in_use"]]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>fraudgraph compliance audit {_e(report['from'])} to {_e(report['to'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Personal-information compliance audit: {_e(report['from'])} to {_e(report['to'])}</h1>"
        f"<p>Lake <code>{_e(report['lake'])}</code>, generated {_e(report['generated_at'])}. Every figure is counted from the "
        "lake's tables and its append-only logs; no personal information is shown.</p>"
        "<h2>Personal information processed</h2>"
        + _table(["category", "feed", "rows", "sensitive rows", "sensitive because", "days"],
                 [[c["category"], c["feed"], c["rows"], c["sensitive_rows"], c["sensitive_because"],
                   f"{len(c['days'])} ({'copy in force at the end' if c['kind'] == 'snapshot' else 'in the period'})"]
                  for c in cats])
        + f"<p>Rows in total: <strong>{_e(report['totals']['rows'])}</strong>; sensitive: "
        f"<strong>{_e(report['totals']['sensitive_rows'])}</strong>.</p>"
        "<h2>Minors (from the resident ID number, at the end of the period)</h2>"
        + _table(["table", "under 18", "under 14 (sensitive)"],
                 [[t, m["under_18"], m["under_14"]] for t, m in report["minors"].items()])
        + "<h2>Re-identifications (fraud reveal)</h2>" + _pairs(report["reidentifications"])
        + f"<h2>Subjects' requests</h2><p>Completion: {limit} the limit of {requests['limit_working_days']} working days.</p>"
        + _pairs(requests)
        + _table(["request", "kind", "received", "completed", "working days", "outcome", "by", "reason", "rows"],
                 [list(r.values()) for r in requests["requests"]])
        + "<h2>Retention</h2>" + _pairs(report["retention"])
        + "<h2>Quality gates (ingest)</h2>" + _pairs(report["quality_gates"])
        + "<h2>Models in use</h2>" + _table(["model", "version", "aliases", "trained for", "validation AP"], models)
        + "</body></html>\n"
    )


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """``audit.json`` and ``audit.html`` under ``folder``; returns both."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "audit.json", folder / "audit.html"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render(report), encoding="utf-8")
    return json_path, html_path
