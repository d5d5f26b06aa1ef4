"""The append-only audit logs under ``LAKE/audit/``, and working days against the legal time limit.

One JSON object a line, never rewritten: ``reveal.jsonl`` (``fraud
reveal``), ``subjects.jsonl`` (``fraud subject``) and ``retention.jsonl``
(``fraud retention``). Every record has ``at``, an ISO time with its offset.
No log holds a raw identifier; the subjects' log names a person by a masked
identifier and the digests of their tokens (:func:`privacy.erasure.digest`).

Working days are Monday to Friday; public holidays and the make-up working
weekends of the Chinese calendar are not modelled, so a count can be a day
or two off around a holiday.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fraudgraph.lake import Lake

REVEAL_LOG = "reveal.jsonl"
SUBJECTS_LOG = "subjects.jsonl"
RETENTION_LOG = "retention.jsonl"
# PIPL and the draft rules for large platforms: a subject's request is completed within 30 working days.
LIMIT_WORKING_DAYS = 30
# The contract's days are China's local days (UTC+8 all year, no daylight saving).
CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def log_path(lake: Lake, name: str) -> Path:
    return lake.root / "audit" / name


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def local_day(at: str) -> dt.date:
    """The China day of an ISO time (a time without an offset is taken as UTC)."""
    when = dt.datetime.fromisoformat(at)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(CHINA).date()


def append(lake: Lake, name: str, record: dict[str, Any]) -> Path:
    """Append one record to the log ``name``; returns its path."""
    path = log_path(lake, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:  # append only: a record is never rewritten
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return path


def records(lake: Lake, name: str, first: dt.date | None = None, last: dt.date | None = None) -> list[dict[str, Any]]:
    """The log's records, oldest first, those whose ``at`` falls on a China day from ``first`` to ``last``
    (inclusive; either bound may be None); empty when the log does not exist."""
    path = log_path(lake, name)
    if not path.is_file():
        return []
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        r for r in found
        if (first is None or local_day(r["at"]) >= first) and (last is None or local_day(r["at"]) <= last)
    ]


def working_days(received: dt.date, completed: dt.date) -> int:
    """Working days (Monday to Friday) after ``received`` up to ``completed`` inclusive: 0 on the same day,
    1 from a Friday to the next Monday; 0 when ``completed`` is not after ``received``."""
    days = (completed - received).days
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    extra = sum(1 for i in range(1, rest + 1) if (received + dt.timedelta(days=i)).weekday() < 5)
    return weeks * 5 + extra
