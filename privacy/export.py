"""The short summary of a subject's access export, in words the person reads."""

from __future__ import annotations

from typing import Any

from fraudgraph.lake import DT


def export_summary(export: dict[str, Any]) -> str:
    """The export in a few lines a person reads: what is held, where from, which models may have used it."""
    subject = export["subject"]
    ids = export["identifiers"]
    lines = [
        f"Personal information held on {subject['masked']} ({subject['kind']}), request {export['request_id']}, "
        f"{export['generated_at']}.",
        f"Your identifiers found: {len(ids['msisdn'])} mobile number(s), {len(ids['id_number'])} ID number(s), "
        f"{len(ids['account'])} bank account(s); they appear only as tokens (keyed hashes), never in clear.",
    ]
    if not export["tables"] and not export["logs"]:
        lines.append("Nothing in the lake holds them.")
    for table, found in export["tables"].items():
        days = sorted({i["source"].rsplit(f"{DT}=", 1)[1] for i in found["items"]})
        lines.append(f"- {table}: {found['rows']} row(s), {len(days)} day(s) from {days[0]} to {days[-1]}")
    for name, items in export["logs"].items():
        lines.append(f"- {name}: {len(items)} record(s)")
    for m in export["models"]:
        lines.append(f"- model {m['model']} v{m['version']} (trained for {m['as_of']}) may have learnt from this data")
    lines.append("Every item of the JSON export names the table and day it came from.")
    return "\n".join(lines) + "\n"
