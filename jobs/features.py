"""Features for the look-back window ending on a day, written to ``LAKE/features/<entity>/dt=D``."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.accounts import ACCOUNT_FEATURES, account_features
from features.common import ENTITY
from features.network import ACCOUNT_NETWORK_FEATURES, PHONE_NETWORK_FEATURES, network_features
from features.phones import PHONE_FEATURES, phone_features
from fraudgraph import contract as C
from fraudgraph.config import GraphConf
from fraudgraph.errors import MissingInput
from fraudgraph.lake import DT, Lake, days_between, partition_path, write_partitions

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    C.MSISDN: (*PHONE_FEATURES, *PHONE_NETWORK_FEATURES),
    C.ACCOUNT: (*ACCOUNT_FEATURES, *ACCOUNT_NETWORK_FEATURES),
}
FEATURE_SET_VERSION = "network-1"


def window_days(day: dt.date, length: int) -> list[dt.date]:
    return days_between(day - dt.timedelta(days=length - 1), day)


def labels_before(spark: SparkSession, lake: Lake, day: dt.date) -> DataFrame:
    """Labels reported on a day before ``day``; an empty table when there are none yet."""
    try:
        return lake.read_clean_before(spark, C.LABELS, day)
    except MissingInput:
        return spark.createDataFrame([], C.spark_schema(C.FEEDS["labels"]))


def _with_network(base: DataFrame, network: DataFrame, columns: tuple[str, ...]) -> DataFrame:
    """Base features of the scored entities with their network features (an entity always has both)."""
    return base.join(network, on=ENTITY, how="left").select(ENTITY, *columns)


def materialise_features(
    spark: SparkSession, lake: Lake, day: dt.date, *, length: int, graph: GraphConf
) -> dict[str, DataFrame]:
    """Compute both entity types' features for the window ending ``day``, write them, return them re-read.

    Network features use only the window's events and the labels reported
    before ``day``: nothing after ``day`` reaches a feature of ``day``.
    """
    days = window_days(day, length)
    calls = lake.read_clean(spark, C.CALLS, days)
    sms = lake.read_clean(spark, C.SMS, days)
    transactions = lake.read_clean(spark, C.TRANSACTIONS, days)
    subscribers = lake.read_clean_snapshot(spark, C.SUBSCRIBERS, day)
    accounts = lake.read_clean_snapshot(spark, C.ACCOUNTS, day)
    network = network_features(
        calls, sms, transactions, subscribers, accounts, labels_before(spark, lake, day), as_of=day, params=graph
    )
    built = {
        C.MSISDN: _with_network(
            phone_features(calls, sms, subscribers, as_of=day, window_days=length),
            network.phones,
            FEATURE_SETS[C.MSISDN],
        ),
        C.ACCOUNT: _with_network(
            account_features(transactions, accounts, as_of=day, window_days=length),
            network.accounts,
            FEATURE_SETS[C.ACCOUNT],
        ),
    }
    out = {}
    for entity_type, df in built.items():
        table = lake.features(entity_type)
        write_partitions(df.withColumn(DT, F.lit(day.isoformat())), table)
        out[entity_type] = spark.read.parquet(str(partition_path(table, day)))
    # The graphs cached for this window are written out; free them before the next window.
    spark.catalog.clearCache()
    return out
