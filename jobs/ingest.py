"""fraud ingest: validate, pseudonymise and write every feed's partitions in a range."""

from __future__ import annotations

import datetime as dt
import json
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudgraph.config import Config
from fraudgraph.contract import FEEDS, Feed
from fraudgraph.errors import FraudError
from fraudgraph.lake import DT, Lake, Raw, days_between, write_partitions
from ingestion import REASON, clean_feed

log = logging.getLogger(__name__)


class QualityGateFailed(FraudError):
    exit_code = 5


def _ingest_feed(cfg: Config, lake: Lake, feed: Feed, raw_df: DataFrame, days: list[dt.date], key: bytes) -> dict:
    rows_df = clean_feed(raw_df, feed, key=key, amount_ceiling=cfg.ingest.amount_ceiling).cache()
    counts = {
        (r[DT], r["reason"]): r["n"] for r in rows_df.groupBy(DT, REASON).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    rows_in = sum(counts.values())
    bad = {}
    for (_, reason), n in counts.items():
        if reason is not None:
            bad[reason] = bad.get(reason, 0) + n
    bad_total = sum(bad.values())
    write_partitions(rows_df.where(F.col(REASON).isNotNull()), lake.quarantine(feed))
    bad_share = bad_total / rows_in if rows_in else 0.0
    if bad_share > cfg.ingest.max_bad_share:
        rows_df.unpersist()
        top = max(bad, key=bad.get)
        raise QualityGateFailed(
            f"feed {feed.name}: {bad_total} of {rows_in} rows broke row rules ({bad_share:.1%} > "
            f"{cfg.ingest.max_bad_share:.1%} allowed; most: {top} x{bad[top]}); kept in {lake.quarantine(feed)}"
        )
    write_partitions(rows_df.where(F.col(REASON).isNull()).drop(REASON), lake.clean(feed))
    rows_df.unpersist()
    log.info("ingested %s: %d rows, %d quarantined, days %s..%s", feed.name, rows_in, bad_total, days[0], days[-1])
    return {
        "days": [d.isoformat() for d in days],
        "rows_in": rows_in,
        "rows_clean": rows_in - bad_total,
        "rows_quarantined": bad_total,
        "quarantine_reasons": dict(sorted(bad.items())),
    }


def run_ingest(
    spark: SparkSession, cfg: Config, *, raw: Raw, lake: Lake, first: dt.date, last: dt.date, key: bytes
) -> dict:
    """Ingest every feed for ``first``..``last``; returns the per-feed summary also written to the lake.

    Event feeds take their partitions in the range; snapshot feeds those in
    range and the latest before it. An event feed with no partition in the
    range is recorded as empty, not an error (a quiet day is possible); a
    missing feed folder or a schema mismatch stops the run.
    """
    if first > last:
        raise FraudError(f"--from {first} is after --to {last}")
    lake.check_key(key)
    plan = {name: raw.days_to_read(feed, first, last) for name, feed in FEEDS.items()}
    # Every feed's schema is checked before anything is written.
    raw_dfs = {name: raw.read(spark, FEEDS[name], days) for name, days in plan.items() if days}
    summary: dict[str, dict] = {}
    for name, days in plan.items():
        feed = FEEDS[name]
        if days:
            summary[name] = _ingest_feed(cfg, lake, feed, raw_dfs[name], days, key)
        else:
            summary[name] = {"days": [], "rows_in": 0, "rows_clean": 0, "rows_quarantined": 0, "quarantine_reasons": {}}
        # An event feed's day with no partition, once the feed has started, is a day
        # with no event (logged, not an error); days before its first partition
        # stay un-ingested, so a window reaching back there is known to be incomplete.
        started = raw.days(feed)[:1]
        quiet = (
            sorted(d for d in set(days_between(first, last)) - set(days) if started and d >= started[0])
            if feed.kind == "event"
            else []
        )
        if quiet:
            log.warning("feed %s: no partition for %d day(s), first %s", name, len(quiet), quiet[0])
        lake.mark_ingested(feed, days + quiet)
    report = lake.table("quality", f"ingest_{first}_{last}.json")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"from": str(first), "to": str(last), "feeds": summary}, indent=2) + "\n")
    return {"report": str(report), "feeds": summary}
