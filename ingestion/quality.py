"""Quality gates: Great Expectations suites over a masked view of each feed, and daily volumes.

The suites are data (``conf/base/quality.yaml``); this module builds what
they look at and runs them. A suite never sees a raw identifier: the view
holds masked identifiers and facts derived before masking (number class,
check-digit validity, whether a row touches a known subscriber or account).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import statistics
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.config import ExpectationConf, SuiteConf, VolumeConf
from fraudgraph.lake import DT
from fraudgraph.pseudo import normalise_col
from ingestion.identifiers import is_valid_id_number, is_valid_imei, mask
from ingestion.pseudonymise import CLASS_SUFFIX, number_class
from ingestion.rules import REASON

log = logging.getLogger(__name__)

EXAMPLES = 5
# Where an expectation sits in its suite, kept in its ``meta`` (results come back in another order).
POSITION = "fraudgraph_position"
# Which columns tie a feed to the operator's or the bank's own parties.
REFERENCE = {
    "calls": ("touches_subscriber", ("caller", "callee")),
    "sms": ("touches_subscriber", ("sender", "receiver")),
    "transactions": ("touches_account", ("src_account", "dst_account")),
}


@dataclass(frozen=True)
class ExpectationResult:
    """What one expectation found: JSON-ready, examples already masked."""

    feed: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: Any = None
    examples: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_blocking_failure(self) -> bool:
        return self.severity == "blocking" and not self.success


def validation_view(raw_df: DataFrame, feed: C.Feed, *, known_df: DataFrame | None = None) -> DataFrame:
    """Raw rows (with ``dt`` and ``reason``) as a suite sees them: masked identifiers plus derived facts.

    ``known_df`` holds one column ``key`` of normalised identifiers the feed's
    parties are checked against (subscribers' numbers for calls and SMS, the
    bank's account numbers for transfers); without it no reference column
    is added.
    """
    # Each identifier normalised once, as a column of its own: its masks, class and reference join read it several
    # times (Spark keeps the two projections apart, not recomputing the regular expressions for each reading).
    identifiers = [c for c in feed.columns if c.identifier is not None]
    normalised = {c.name: f"_normalised_{c.name}" for c in identifiers}
    raw_df = raw_df.select("*", *[normalise_col(c.identifier, F.col(c.name)).alias(normalised[c.name]) for c in identifiers])
    out: list[Column] = []
    for column in feed.columns:
        col = F.col(column.name)
        if feed.name == "labels" and column.name == "entity_id":
            is_account = F.lower(F.trim(F.col("entity_type"))) == C.ACCOUNT
            out.append(F.when(is_account, mask(C.ACCOUNT, col)).otherwise(mask(C.MSISDN, col)).alias(column.name))
            continue
        if column.identifier is None:
            out.append(col)
            continue
        value = F.col(normalised[column.name])
        out.append(mask(column.identifier, col, normalised=value).alias(column.name))
        if column.identifier == C.MSISDN:
            out.append(number_class(col, normalised=value).alias(column.name + CLASS_SUFFIX))
        elif column.identifier == C.ID_NUMBER:
            out.append(is_valid_id_number(col).alias(column.name + "_valid"))
        elif column.identifier == C.IMEI:
            out.append(is_valid_imei(col).alias(column.name + "_valid"))
    if feed.event_time is not None:
        out.append((F.date_format(F.col(feed.event_time), "yyyy-MM-dd") == F.col(DT)).alias("in_partition"))
    reference = REFERENCE.get(feed.name)
    if reference is not None and known_df is not None:
        name, columns = reference
        known = known_df.select(F.col("key")).distinct()
        flags = []
        for i, column in enumerate(columns):
            flag = f"_known_{i}"
            raw_df = raw_df.join(
                known.select(F.col("key").alias(f"_key_{i}"), F.lit(True).alias(flag)),
                F.col(normalised[column]) == F.col(f"_key_{i}"),
                how="left",
            )
            flags.append(F.coalesce(F.col(flag), F.lit(False)))
        out.append((flags[0] | flags[1]).alias(name))
    out += [F.col(DT), F.col(REASON)]
    return raw_df.select(out)


def _expectation(conf: ExpectationConf, params: dict[str, Any]):
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in conf.type.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        raise ValueError(f"unknown Great Expectations expectation {conf.type!r}")
    kwargs = {k: (float(v.format(**params)) if isinstance(v, str) and "{" in v else v) for k, v in conf.kwargs.items()}
    return cls(**kwargs)


# One suite at a time: the ingest validates feeds from several threads (jobs.ingest), and the process's one
# Great Expectations context, its data sources and its validations are not made to be shared between threads.
_SUITE_LOCK = threading.Lock()


@functools.cache
def _context():
    """One ephemeral context per process: building one costs more than a small suite's run."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def run_suite(view_df: DataFrame, feed: str, suite: SuiteConf, *, params: dict[str, Any]) -> list[ExpectationResult]:
    """Validate ``view_df`` (cache it first) with the feed's suite; one result per expectation (none for an empty
    suite, which starts no Great Expectations context).

    Two passes: every expectation's counts first, with no examples (Great Expectations then asks Spark for none:
    a query with ``limit(0)`` runs no job), then examples only for the expectations that found unexpected rows.
    The results are those of one pass asking every expectation for examples, without a Spark job per expectation
    that found nothing (on a cluster, each job is a round of tasks over the network). Safe to call from several
    threads: the suites run one at a time."""
    if not suite.expectations:
        return []
    with _SUITE_LOCK:
        found = _run_suite(view_df, feed, suite, params)
    return [
        ExpectationResult(
            feed=feed,
            expectation=conf.type,
            column=conf.kwargs.get("column"),
            severity=conf.severity,
            success=result["success"],
            unexpected_count=result.get("unexpected_count"),
            unexpected_percent=result.get("unexpected_percent"),
            observed=result.get("observed_value"),
            examples=[str(v) for v in (result.get("partial_unexpected_list") or [])][:EXAMPLES],
            kwargs={k: v for k, v in conf.kwargs.items() if k != "column"},
        )
        for conf, result in zip(suite.expectations, found, strict=True)
    ]


def _run_suite(view_df: DataFrame, feed: str, suite: SuiteConf, params: dict[str, Any]) -> list[dict[str, Any]]:
    context = _context()
    batch = (
        context.data_sources.add_spark(name=f"{feed}-{uuid.uuid4().hex[:8]}")
        .add_dataframe_asset(name=feed)
        .add_batch_definition_whole_dataframe("run")
        .get_batch(batch_parameters={"dataframe": view_df})
    )
    found = _validate(batch, feed, suite.expectations, params, {"result_format": "BASIC", "partial_unexpected_count": 0})
    again = [i for i, result in enumerate(found) if result.get("unexpected_count") != 0]
    if again:
        summary = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
        for i, result in zip(again, _validate(batch, feed, [suite.expectations[i] for i in again], params, summary),
                             strict=True):
            found[i] = result
    return found


def _validate(batch, feed: str, expectations: Sequence[ExpectationConf], params: dict[str, Any],
              result_format: dict[str, Any]) -> list[dict[str, Any]]:
    """One Great Expectations validation of ``expectations``: per expectation, in their order, its result dict and
    its success. Great Expectations returns the results grouped by column, not in the suite's order, so each
    expectation carries its position in its ``meta`` and its result is found by it."""
    import great_expectations as gx

    gx_suite = gx.ExpectationSuite(name=feed)
    for position, conf in enumerate(expectations):
        expectation = _expectation(conf, params)
        expectation.meta = {POSITION: position}
        gx_suite.add_expectation(expectation)
    validation = batch.validate(gx_suite, result_format=result_format)
    found = {r.expectation_config.meta[POSITION]: {**(r.result or {}), "success": bool(r.success)} for r in validation.results}
    return [found[position] for position in range(len(expectations))]


def volume_results(
    feed: str, counts: dict[dt.date, int], history: dict[dt.date, int], conf: VolumeConf
) -> list[ExpectationResult]:
    """Each day's row count against the median of up to ``trailing_days`` earlier days.

    ``history`` holds counts of days ingested before (this run's own earlier
    days count too). A day with no earlier day to compare with, or whose
    trailing median is under ``min_median_rows``, is not judged.
    """
    known = dict(history)
    results = []
    for day in sorted(counts):
        previous = [known[d] for d in sorted(known) if d < day][-conf.trailing_days :]
        known[day] = counts[day]
        if not previous or statistics.median(previous) < conf.min_median_rows:
            continue
        median = statistics.median(previous)
        ratio = counts[day] / median if median else None
        for severity, ok, bound in (
            ("blocking", ratio is None or ratio >= conf.min_ratio, f">= {conf.min_ratio}"),
            ("warning", ratio is None or ratio <= conf.max_ratio, f"<= {conf.max_ratio}"),
        ):
            results.append(
                ExpectationResult(
                    feed=feed,
                    expectation="daily_volume_vs_trailing_median",
                    column=None,
                    severity=severity,
                    success=ok,
                    observed={"day": day.isoformat(), "rows": counts[day], "trailing_median": median, "ratio": ratio},
                    kwargs={"ratio": bound, "trailing_days": conf.trailing_days},
                )
            )
    return results
