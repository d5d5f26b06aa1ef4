"""Retention periods: which partitions of a table are past theirs, and which model versions.

A table's period comes from ``retention.tables`` (:class:`fraudgraph.config.RetentionConf`): the longest key
that is the table's path under the lake or a folder above it. On a day D, a partition ``dt`` is expired when
``dt < D - period``: a 180-day table run on 2026-09-30 keeps 2026-04-03 and removes 2026-04-02. A snapshot
feed's latest copy before that cut-off stays: until a newer copy arrives it is the table in force.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def period_of(table: str, periods: dict[str, int]) -> int | None:
    """Days ``table`` (a path under the lake, ``clean/calls``) is kept, 0 for ever; None when no key names it."""
    keys = [k for k in periods if table == k or table.startswith(k.rstrip("/") + "/")]
    return periods[max(keys, key=len)] if keys else None


def cutoff(day: dt.date, days: int) -> dt.date:
    """The first day kept on ``day`` by a period of ``days``."""
    return day - dt.timedelta(days=days)


def expired(partitions: list[dt.date], *, day: dt.date, days: int | None, snapshot: bool = False) -> list[dt.date]:
    """The partitions past their period on ``day``, sorted: none for a period of 0 or None.

    With ``snapshot``, the latest partition before the cut-off stays unless a copy of the cut-off day itself
    exists: it is the copy in force on the first day kept.
    """
    if not days:
        return []
    first_kept = cutoff(day, days)
    old = sorted(d for d in partitions if d < first_kept)
    if snapshot and old and not any(d == first_kept for d in partitions):
        old = old[:-1]  # the copy in force on the first kept day
    return old


def expired_models(versions: list[dict[str, Any]], *, day: dt.date, days: int) -> list[dict[str, Any]]:
    """Versions (:func:`fraudgraph.tracking.model_versions` rows) trained for a day before the cut-off, each
    with ``action``: kept when it holds an alias (the champion in use, the challenger), else reported for a
    deletion by hand. Nothing is deleted here."""
    first_kept = cutoff(day, days).isoformat()
    return [
        {
            "version": v["version"], "as_of": v["as_of"], "aliases": v["aliases"],
            "action": "kept: in use" if v["aliases"] else "reported: past its period, to delete by hand",
        }
        for v in versions
        if days and v["as_of"] is not None and v["as_of"] < first_kept
    ]
