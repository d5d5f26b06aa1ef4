"""The ingest quality report: one JSON summary and one self-contained HTML page per run.

The page has no script, font or style from outside: it opens offline. Every
example in it was masked before Great Expectations saw it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d2433;max-width:80rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d5dd;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f2f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#067647;font-weight:600}.fail{color:#b42318;font-weight:600}.warn{color:#b54708;font-weight:600}
.badge{display:inline-block;padding:.15rem .5rem;border-radius:.4rem;color:#fff}
.badge.ok{background:#067647}.badge.fail{background:#b42318}
code{background:#f2f4f7;padding:0 .2rem;border-radius:.2rem}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _status(success: bool, severity: str) -> str:
    if success:
        return '<span class="ok">passed</span>'
    return '<span class="fail">failed</span>' if severity == "blocking" else '<span class="warn">warning</span>'


def _feed_rows(feeds: dict[str, dict]) -> str:
    rows = []
    for name, feed in feeds.items():
        reasons = ", ".join(f"{_e(r)} ×{n:,}" for r, n in feed["quarantine_reasons"].items()) or "—"
        if feed.get("rows_erased"):  # people deleted on request: dropped, not quarantined
            reasons += f"; erased on request ×{feed['rows_erased']:,} (dropped)"
        state = '<span class="ok">written</span>' if feed["status"] == "written" else f'<span class="fail">{_e(feed["status"])}</span>'
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{_e(', '.join(feed['days'][:1] + feed['days'][-1:]))}</td>"
            f"<td class=num>{feed['rows_in']:,}</td><td class=num>{feed['rows_clean']:,}</td>"
            f"<td class=num>{feed['rows_quarantined']:,}</td><td class=num>{feed['bad_share']:.2%}</td>"
            f"<td>{reasons}</td><td>{state}</td></tr>"
        )
    return "".join(rows)


def _expectation_rows(results: list[dict]) -> str:
    rows = []
    for r in results:
        pct = "" if r.get("unexpected_percent") is None else f"{r['unexpected_percent']:.2f}%"
        detail = ", ".join(f"{k}={v}" for k, v in r.get("kwargs", {}).items())
        observed = "" if r.get("observed") is None else json.dumps(r["observed"], default=str)
        examples = ", ".join(f"<code>{_e(x)}</code>" for x in r.get("examples", []))
        rows.append(
            f"<tr><td><code>{_e(r['feed'])}</code></td><td>{_e(r['expectation'])}<br><small>{_e(detail)}</small></td>"
            f"<td>{_e(r.get('column'))}</td><td>{_e(r['severity'])}</td><td>{_status(r['success'], r['severity'])}</td>"
            f"<td class=num>{_e(r.get('unexpected_count'))} {pct}</td><td>{_e(observed)}</td><td>{examples}</td></tr>"
        )
    return "".join(rows)


def render_html(report: dict) -> str:
    """The report as one HTML page (inline style, no script)."""
    passed = report["status"] == "passed"
    failures = [r for r in report["expectations"] if not r["success"]]
    blocking = report.get("blocking_reasons", [])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>fraudgraph ingest quality {_e(report['from'])} to {_e(report['to'])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Ingest quality: {_e(report['from'])} to {_e(report['to'])} "
        f"<span class='badge {'ok' if passed else 'fail'}'>{'passed' if passed else 'blocked'}</span></h1>"
        f"<p>Run {_e(report['run_id'])}, generated {_e(report['generated_at'])}, lake <code>{_e(report['lake'])}</code>. "
        "Identifiers are masked; quarantined rows are kept in <code>quarantine/&lt;feed&gt;</code> with their reason.</p>"
        + (
            "<h2>Why the run stopped</h2><ul>" + "".join(f"<li>{_e(b)}</li>" for b in blocking) + "</ul>"
            if blocking
            else ""
        )
        + "<h2>Feeds</h2><table><tr><th>feed</th><th>days</th><th>rows in</th><th>clean</th><th>quarantined</th>"
        "<th>bad share</th><th>quarantine reasons</th><th>status</th></tr>"
        + _feed_rows(report["feeds"])
        + "</table>"
        + f"<h2>Failed expectations ({len(failures)})</h2>"
        + (
            "<table><tr><th>feed</th><th>expectation</th><th>column</th><th>severity</th><th>result</th>"
            "<th>unexpected</th><th>observed</th><th>examples (masked)</th></tr>" + _expectation_rows(failures) + "</table>"
            if failures
            else "<p class=ok>None.</p>"
        )
        + f"<h2>All expectations ({len(report['expectations'])})</h2><table><tr><th>feed</th><th>expectation</th><th>column</th>"
        "<th>severity</th><th>result</th><th>unexpected</th><th>observed</th><th>examples (masked)</th></tr>"
        + _expectation_rows(report["expectations"])
        + "</table></body></html>\n"
    )


def write_report(report: dict, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.html`` under ``folder``; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / f"{stem}.json", folder / f"{stem}.html"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
