"""fraud ingest: validate, quarantine, pseudonymise and write every feed's partitions in a range.

Order of a run: every feed's schema is checked before anything is written;
then, feed by feed, row rules mark broken rows, the Great Expectations suite
and the volume check run over a masked view, the quarantine is written, and
the clean rows are written only when nothing blocking failed. The report
(JSON and HTML) is written whatever happened; a blocked run then stops with
the first blocking reason.

Rows of a person on the erasure list (``fraud subject delete``,
:mod:`privacy.erasure`) are dropped: neither clean nor quarantined nor
validated, only counted (``rows_erased``), so a re-run over raw feeds that
still hold them does not bring them back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.config import Config, QualityConf, load_quality
from fraudgraph.errors import FraudError, UnreadableInput
from fraudgraph.lake import DT, Lake, Raw, days_between, recover, write_partitions
from fraudgraph.pseudo import normalise_col
from ingestion.pseudonymise import pseudonymise
from ingestion.quality import ExpectationResult, run_suite, validation_view, volume_results
from ingestion.report import write_report
from ingestion.rules import DUPLICATE_DELIVERY, REASON, with_reason
from privacy.erasure import ERASED, erased_digests, with_erased_reason

log = logging.getLogger(__name__)


class QualityGateFailed(FraudError):
    exit_code = 5


def _known_keys(
    raw_dfs: dict[str, DataFrame], plan: dict[str, list[dt.date]], feed: str, column: str, kind: str
) -> DataFrame | None:
    """Normalised identifiers of the latest snapshot of ``feed`` in this run, for reference checks."""
    if feed not in raw_dfs:
        return None
    latest = max(plan[feed]).isoformat()
    return raw_dfs[feed].where(F.col(DT) == latest).select(normalise_col(kind, F.col(column)).alias("key"))


def _volume_history(lake: Lake) -> dict[str, dict[str, int]]:
    path = lake.table("quality", "volumes.json")
    return json.loads(path.read_text()) if path.exists() else {}


def _ingest_feed(
    cfg: Config, quality: QualityConf, lake: Lake, feed: C.Feed, raw_df: DataFrame, days: list[dt.date], *,
    key: bytes, known_df: DataFrame | None, history: dict[str, int], erased: frozenset[str],
) -> tuple[dict, list[ExpectationResult], list[str]]:
    suite = quality.suites[feed.name]
    started = time.perf_counter()
    rows_df = (
        raw_df.transform(with_reason, feed, amount_ceiling=cfg.ingest.amount_ceiling)
        .transform(with_erased_reason, feed, key=key, digests=erased)
        .cache()
    )
    is_erased_row = F.coalesce(F.col(REASON) == ERASED, F.lit(False))
    # An erased person's rows are counted, never validated: none of them is an example in the report.
    view_df = validation_view(rows_df.where(~is_erased_row), feed, known_df=known_df).cache()
    try:
        counts = {(r[DT], r[REASON]): r["n"] for r in rows_df.groupBy(DT, REASON).agg(F.count(F.lit(1)).alias("n")).collect()}
    except Exception as exc:  # a file whose footer read fine but whose pages do not
        raise UnreadableInput(f"feed {feed.name}: cannot read its rows: {str(exc).strip().splitlines()[0][:300]}") from None
    # The view is cached here, outside the suite: suites run one at a time (ingestion.quality.run_suite), and
    # another feed's suite need not wait for this one's masks and reference joins.
    view_df.count()
    validation_started = time.perf_counter()
    # A snapshot's suite looks at its latest copy only: a key is unique within a copy, not across days.
    suite_df = view_df.where(F.col(DT) == max(d.isoformat() for d in days)) if feed.kind == "snapshot" else view_df
    results = run_suite(suite_df, feed.name, suite, params={"amount_ceiling": cfg.ingest.amount_ceiling})
    validation_seconds = time.perf_counter() - validation_started
    day_names = [d.isoformat() for d in days]
    rows_per_day = {d: sum(n for (day, _), n in counts.items() if day == d) for d in day_names}
    if feed.name in quality.volume.feeds:
        per_day = {dt.date.fromisoformat(d): n for d, n in rows_per_day.items()}
        past = {dt.date.fromisoformat(d): n for d, n in history.items() if d not in day_names}
        results += volume_results(feed.name, per_day, past, quality.volume)
    rows_in = sum(counts.values())
    reasons: dict[str, int] = {}
    for (_, reason), n in counts.items():
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + n
    rows_erased = reasons.pop(ERASED, 0)  # dropped, not quarantined: nothing of an erased person is kept
    bad = sum(n for r, n in reasons.items() if r != DUPLICATE_DELIVERY)
    bad_share = bad / rows_in if rows_in else 0.0
    max_bad = suite.max_bad_share if suite.max_bad_share is not None else cfg.ingest.max_bad_share
    blocking = [
        f"feed {feed.name}: {r.expectation}"
        + (f" on {r.column}" if r.column else "")
        + (f" failed ({r.unexpected_percent:.1f}% unexpected)" if r.unexpected_percent is not None else f" failed: {r.observed}")
        for r in results
        if r.is_blocking_failure
    ]
    if bad_share > max_bad:
        top = max((r for r in reasons if r != DUPLICATE_DELIVERY), key=reasons.get)
        blocking.insert(
            0,
            f"feed {feed.name}: {bad} of {rows_in} rows broke row rules ({bad_share:.1%} > {max_bad:.1%} allowed; "
            f"most: {top} x{reasons[top]}); kept in {lake.quarantine(feed)}",
        )
    out_df = rows_df.transform(pseudonymise, feed, key=key)
    write_partitions(out_df.where(F.col(REASON).isNotNull() & ~is_erased_row), lake.quarantine(feed), days=day_names)
    if not blocking:
        write_partitions(out_df.where(F.col(REASON).isNull()).drop(REASON), lake.clean(feed), days=day_names)
    view_df.unpersist()
    rows_df.unpersist()
    log.info("%s: %d rows, %d quarantined, %s", feed.name, rows_in, sum(reasons.values()), "blocked" if blocking else "written")
    summary = {
        "days": day_names,
        "rows_in": rows_in,
        "rows_clean": rows_in - sum(reasons.values()) - rows_erased,
        "rows_quarantined": sum(reasons.values()),
        "rows_erased": rows_erased,
        "bad_share": bad_share,
        "max_bad_share": max_bad,
        "quarantine_reasons": dict(sorted(reasons.items())),
        "rows_per_day": rows_per_day,
        "status": "blocked" if blocking else "written",
        "seconds": round(time.perf_counter() - started, 2),
        "seconds_suite": round(validation_seconds, 2),
    }
    return summary, results, blocking


# The feed each reference check reads (ingestion.quality.REFERENCE): its latest snapshot in the run.
REFERENCE_FEEDS = {"calls": "subscribers", "sms": "subscribers", "transactions": "accounts"}


def feeds_to_read(feeds: tuple[str, ...] | None) -> tuple[str, ...]:
    """The raw feeds an ingest of ``feeds`` (default: all) reads: those, and the snapshots they are checked against."""
    selected = tuple(C.FEEDS) if feeds is None else feeds
    unknown = sorted(set(selected) - set(C.FEEDS))
    if unknown:
        raise FraudError(f"unknown feed(s) {', '.join(unknown)}; the feeds are {', '.join(C.FEEDS)}")
    needed = set(selected) | {REFERENCE_FEEDS[f] for f in selected if f in REFERENCE_FEEDS}
    return tuple(name for name in C.FEEDS if name in needed)


# Feeds whose whole past matters to a day's features: a leak observed last year still exposes a person,
# a fraud label reported last month still seeds the graph.
HISTORY_FEEDS = ("exposures", "labels")


def run_ingest(
    spark: SparkSession,
    cfg: Config,
    *,
    raw: Raw,
    lake: Lake,
    first: dt.date,
    last: dt.date,
    key: bytes,
    history: bool = False,
    feeds: tuple[str, ...] | None = None,
) -> dict:
    """Ingest every feed (or only ``feeds``) for ``first``..``last``; returns the report's summary and where
    the report is.

    Event feeds take their partitions in the range, snapshot feeds those in
    range and, when none is on ``first``, the latest before it. With ``history``, the :data:`HISTORY_FEEDS`
    also take every earlier raw partition the lake has not ingested yet. A day of an event feed with no partition,
    once the feed has started, is a day with no event: the volume check
    decides whether that is acceptable. Raises :class:`QualityGateFailed`
    after writing the quarantine and the report when something blocking
    failed; the clean tables of the blocked feeds are left as they were.
    """
    if first > last:
        raise FraudError(f"--from {first} is after --to {last}")
    lake.check_key(key)
    recover(lake.root)
    quality = load_quality(cfg.ingest.quality_suites)
    selected = set(C.FEEDS) if feeds is None else set(feeds)
    plan = {name: raw.days_to_read(C.FEEDS[name], first, last) for name in feeds_to_read(feeds)}
    for name in plan:
        feed = C.FEEDS[name]
        started = raw.days(feed)[:1]
        if feed.kind == "event" and started:
            plan[name] = sorted(set(plan[name]) | {d for d in days_between(first, last) if d >= started[0]})
        if history and name in HISTORY_FEEDS:
            done = set(lake.ingested_days(feed))
            plan[name] = sorted(set(plan[name]) | {d for d in raw.days(feed) if d < first and d not in done})
    # Every feed's schema is checked before anything is written.
    raw_dfs = {name: raw.read(spark, C.FEEDS[name], days) for name, days in plan.items() if days}
    known = {
        "calls": _known_keys(raw_dfs, plan, "subscribers", "msisdn", C.MSISDN),
        "sms": _known_keys(raw_dfs, plan, "subscribers", "msisdn", C.MSISDN),
        "transactions": _known_keys(raw_dfs, plan, "accounts", "account_id", C.ACCOUNT),
    }
    volumes = _volume_history(lake)
    erased = erased_digests(lake)
    feeds: dict[str, dict] = {}
    expectations: list[dict] = []
    blocking: list[str] = []
    todo = [(name, days) for name, days in plan.items() if days and name in selected]  # not a reference-only snapshot

    def ingest(name: str, days: list[dt.date]) -> tuple[dict, list[ExpectationResult], list[str]]:
        return _ingest_feed(
            cfg, quality, lake, C.FEEDS[name], raw_dfs[name], days,
            key=key, known_df=known.get(name), history=volumes.get(name, {}), erased=erased,
        )

    # Feeds side by side (ingest.parallel_feeds), each writing its own tables. What they share (the report, the
    # volumes, the ingested days) is gathered here in the feeds' order, so the run's output is the same. A
    # feed's error is raised in that order too, once the feeds already running have finished; no other starts.
    pool = ThreadPoolExecutor(max_workers=cfg.ingest.parallel_feeds, thread_name_prefix="ingest")
    try:
        futures = [pool.submit(ingest, name, days) for name, days in todo]
        for (name, days), future in zip(todo, futures, strict=True):
            summary, results, blocked = future.result()
            feeds[name] = summary
            expectations += [asdict(r) for r in results]
            blocking += blocked
            if not blocked:
                lake.mark_ingested(C.FEEDS[name], days)
                volumes.setdefault(name, {}).update(summary["rows_per_day"])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    lake.table("quality").mkdir(parents=True, exist_ok=True)
    lake.table("quality", "volumes.json").write_text(json.dumps(volumes, indent=1, sort_keys=True) + "\n")
    report = {
        "run_id": uuid.uuid4().hex[:12],
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
        "lake": str(lake.root),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "status": "blocked" if blocking else "passed",
        "blocking_reasons": blocking,
        "feeds": feeds,
        "expectations": expectations,
    }
    json_path, html_path = write_report(report, lake.table("quality"), f"ingest_{first}_{last}")
    if blocking:
        raise QualityGateFailed(f"{blocking[0]} (report: {html_path})")
    return {
        "report_html": str(html_path),
        "report_json": str(json_path),
        "feeds": {
            n: {k: f[k] for k in ("rows_in", "rows_clean", "rows_quarantined", "rows_erased", "quarantine_reasons")}
            for n, f in feeds.items()
        },
    }
