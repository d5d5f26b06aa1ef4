"""Static pages for analysts and regulators: self-contained HTML, no script, no network."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

SOURCE_TYPE_WORDS = {
    "breach": "data breach",
    "noncompliant_app": "app found collecting personal information unlawfully",
    "underground_market": "underground-market listing",
}

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#eee;width:8rem;height:.8rem;display:inline-block;vertical-align:middle}
.bar span{background:#c0392b;height:100%;display:block}
.app{color:#8e44ad;font-weight:600}.up{color:#c0392b}.down{color:#27ae60}
"""


def _fmt(value: Any, spec: str = "", empty: str = "—") -> str:
    if value is None:
        return empty
    return html.escape(format(value, spec))


def _trend(value: float | None) -> str:
    if value is None:
        return "new"
    if abs(value) < 0.005:
        return "steady"
    arrow, cls = ("▲", "up") if value > 0 else ("▼", "down")
    return f'<span class="{cls}">{arrow} {abs(value):.2f}</span>'


def sources_page(rows: list[dict[str, Any]], day: dt.date) -> str:
    """One table row per leak source, most exploited first (rows of ``LAKE/exposure_sources/dt=D``)."""
    body = []
    for r in rows:
        kind = r.get("source_type") or "unknown"
        words = html.escape(SOURCE_TYPE_WORDS.get(kind, kind))
        kind_cell = f'<span class="app">{words}</span>' if kind == "noncompliant_app" else words
        score = r.get("exploitation") or 0.0
        body.append(
            "<tr>"
            f"<td class='n'>{_fmt(r.get('exploitation_rank'))}</td>"
            f"<td>{_fmt(r.get('name'))}<br><small>{_fmt(r.get('source_id'))}</small></td>"
            f"<td>{kind_cell}</td>"
            f"<td>{_fmt(r.get('discovered_date'))}</td>"
            f"<td><span class='bar'><span style='width:{score * 100:.0f}%'></span></span> {score:.2f}</td>"
            f"<td>{_trend(r.get('trend'))}</td>"
            f"<td>{_fmt(r.get('exploited_since'), empty='not exploited')}</td>"
            f"<td class='n'>{_fmt(r.get('rings'))}</td>"
            f"<td class='n'>{_fmt(r.get('exploiting_numbers'))}</td>"
            f"<td class='n'>{_fmt(r.get('hits'), ',')}</td>"
            f"<td class='n'>{_fmt(r.get('members'), ',')}</td>"
            f"<td class='n'>{_fmt(r.get('population_share'), '.1%')}</td>"
            "</tr>"
        )
    exploited = sum(1 for r in rows if r.get("exploited_since") is not None)
    apps = sum(1 for r in rows if r.get("source_type") == "noncompliant_app" and r.get("exploited_since") is not None)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Leak sources exploited by fraud, {day}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Leak sources exploited by fraud on {day}</h1>"
        f"<p>{len(rows)} known sources; <strong>{exploited}</strong> exploited now"
        f"{f', of which {apps} app(s) found collecting personal information unlawfully' if apps else ''}.</p>"
        "<p>Exploitation (0 to 1) measures how much more often the people that confirmed fraud numbers called, "
        "texted or defrauded are in a source than everyone else, over the numbers and cases confirmed before "
        "this day that dial from its list, with small counts shrunk towards the population. Rings: distinct cases of the fraud "
        "numbers dialing from the source's list. Hits: people of the source among their targets. Members: people "
        "of the source among the operator's numbers. No personal data is shown on this page.</p>"
        "<table><thead><tr><th>rank</th><th>source</th><th>type</th><th>discovered</th><th>exploitation</th>"
        "<th>since the day before</th><th>exploited since</th><th>rings</th><th>fraud numbers</th><th>hits</th>"
        "<th>members</th><th>share of population</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></body></html>\n"
    )
