"""Features for the look-back window ending on a day, written to ``LAKE/features/<entity>/dt=D``."""

from __future__ import annotations

import datetime as dt
import logging
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.accounts import ACCOUNT_FEATURES, account_features, money_pairs, window_transactions
from features.common import ENTITY, ID
from features.exposure import ACCOUNT_EXPOSURE_FEATURES, PHONE_EXPOSURE_FEATURES, exposure_features
from features.exposure import COUNT_FEATURES as EXPOSURE_COUNTS
from features.network import ACCOUNT_NETWORK_FEATURES, PHONE_NETWORK_FEATURES, network_features_of
from features.phones import PHONE_FEATURES, phone_features_of
from features.window import event_window
from fraudgraph import contract as C
from fraudgraph.config import ExposureConf, GraphConf
from fraudgraph.errors import MissingInput
from fraudgraph.lake import DT, Lake, days_between, partition_days, partition_path, write_partitions
from fraudgraph.spark import released_at_end

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    C.MSISDN: (*PHONE_FEATURES, *PHONE_NETWORK_FEATURES, *PHONE_EXPOSURE_FEATURES),
    C.ACCOUNT: (*ACCOUNT_FEATURES, *ACCOUNT_NETWORK_FEATURES, *ACCOUNT_EXPOSURE_FEATURES),
}
# The leak-exposure features, for the ablation (bench/exposure_ablation.py).
EXPOSURE_FEATURE_SETS: dict[str, tuple[str, ...]] = {
    C.MSISDN: PHONE_EXPOSURE_FEATURES,
    C.ACCOUNT: ACCOUNT_EXPOSURE_FEATURES,
}
# known-fraud-1: the accounts' known_fraud_share and known_fraud_triangles (seeded money neighbourhood).
FEATURE_SET_VERSION = "known-fraud-1"

log = logging.getLogger(__name__)


def window_days(day: dt.date, length: int) -> list[dt.date]:
    return days_between(day - dt.timedelta(days=length - 1), day)


def labels_before(spark: SparkSession, lake: Lake, day: dt.date) -> DataFrame:
    """Labels reported on a day before ``day``; an empty table when there are none yet."""
    try:
        return lake.read_clean_before(spark, C.LABELS, day)
    except MissingInput:
        return spark.createDataFrame([], C.spark_schema(C.FEEDS["labels"]))


def _with_network(base: DataFrame, columns: tuple[str, ...], network: DataFrame, exposure: DataFrame) -> DataFrame:
    """Base features of the scored entities with their network and exposure features.

    All three are keyed by vertex ``id``: the joins shuffle longs, not tokens, and the token comes with the
    base. An entity without an exposure row has 0 exposure counts (null ratios); without a network row
    (no vertex of the joint graph), nulls.
    """
    exposure_counts = [c for c in exposure.columns if c in EXPOSURE_COUNTS]
    return (
        base.join(network, on=ID, how="left")
        .join(exposure, on=ID, how="left")
        .fillna(0, subset=exposure_counts)
        .select(ENTITY, *columns)
    )


def _read_or_empty(spark: SparkSession, read, feed: C.Feed) -> DataFrame:
    try:
        return read()
    except MissingInput:
        return spark.createDataFrame([], C.spark_schema(feed))


def exposures_until(spark: SparkSession, lake: Lake, day: dt.date) -> DataFrame:
    """Every exposure observed up to ``day`` (an empty table when none was ingested)."""
    return _read_or_empty(
        spark, lambda: lake.read_clean_before(spark, C.EXPOSURES, day + dt.timedelta(days=1)), C.EXPOSURES
    )


def sources_on(spark: SparkSession, lake: Lake, day: dt.date) -> DataFrame:
    """The leak-source snapshot of ``day`` (or the latest before it; empty when there is none)."""
    return _read_or_empty(spark, lambda: lake.read_clean_snapshot(spark, C.EXPOSURE_SOURCES, day), C.EXPOSURE_SOURCES)


def previous_sources(spark: SparkSession, lake: Lake, day: dt.date) -> DataFrame | None:
    """The sources' exploitation of the last day before ``day`` that has one, or None."""
    earlier = [d for d in partition_days(lake.exposure_sources) if d < day]
    return spark.read.parquet(str(partition_path(lake.exposure_sources, earlier[-1]))) if earlier else None


def materialise_features(
    spark: SparkSession,
    lake: Lake,
    day: dt.date,
    *,
    length: int,
    graph: GraphConf,
    exposure: ExposureConf,
) -> dict[str, DataFrame]:
    """Compute both entity types' features for the window ending ``day``, write them, return them re-read.

    Network features use only the window's events and the labels reported
    before ``day``: nothing after ``day`` reaches a feature of ``day``. The
    graphs cached and the lineage cuts made for the window are freed before
    it returns (training computes window after window in one session).
    """
    started = time.perf_counter()
    with released_at_end(spark):
        _write_window(spark, lake, day, length=length, graph=graph, exposure=exposure)
    log.info("features of the window ending %s written in %.0f s", day, time.perf_counter() - started)
    return {kind: spark.read.parquet(str(partition_path(lake.features(kind), day))) for kind in FEATURE_SETS}


def _write_window(
    spark: SparkSession, lake: Lake, day: dt.date, *, length: int, graph: GraphConf, exposure: ExposureConf
) -> None:
    days = window_days(day, length)
    calls = lake.read_clean(spark, C.CALLS, days)
    sms = lake.read_clean(spark, C.SMS, days)
    transactions = lake.read_clean(spark, C.TRANSACTIONS, days)
    subscribers = lake.read_clean_snapshot(spark, C.SUBSCRIBERS, day)
    accounts = lake.read_clean_snapshot(spark, C.ACCOUNTS, day)
    # Calls and SMS are read and keyed once, for the phone, network and exposure features alike.
    window = event_window(calls, sms, as_of=day, window_days=length)
    labels = labels_before(spark, lake, day)
    # The window's pair graph of transfers, for the account features and the known-fraud ones alike: its
    # triangles are listed once.
    pairs = money_pairs(window_transactions(transactions, as_of=day, window_days=length))
    # Keyed by vertex id, as the base features below: the tokens come with the base rows.
    network = network_features_of(window, transactions, subscribers, accounts, labels, params=graph,
                                  money_pairs=pairs)
    exposure_out = exposure_features(
        window, transactions, exposures_until(spark, lake, day), sources_on(spark, lake, day), subscribers,
        accounts, labels, previous_sources=previous_sources(spark, lake, day), params=exposure, by_id=True,
    )
    # The sources' exploitation of the day: the feedback loop's state, and the analysts' page's input.
    write_partitions(exposure_out.sources.withColumn(DT, F.lit(day.isoformat())), lake.exposure_sources)
    built = {
        C.MSISDN: _with_network(
            phone_features_of(window, subscribers, with_id=True),
            FEATURE_SETS[C.MSISDN],
            network.phones,
            exposure_out.phones,
        ),
        C.ACCOUNT: _with_network(
            account_features(transactions, accounts, as_of=day, window_days=length, pairs=pairs, with_id=True),
            FEATURE_SETS[C.ACCOUNT],
            network.accounts,
            exposure_out.accounts,
        ),
    }
    for entity_type, df in built.items():
        write_partitions(df.withColumn(DT, F.lit(day.isoformat())), lake.features(entity_type))
