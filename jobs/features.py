"""Features for the look-back window ending on a day, written to ``LAKE/features/<entity>/dt=D``."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.accounts import ACCOUNT_FEATURES, account_features
from features.phones import PHONE_FEATURES, phone_features
from fraudgraph import contract as C
from fraudgraph.lake import DT, Lake, days_between, partition_path, write_partitions

FEATURE_SETS: dict[str, tuple[str, ...]] = {C.MSISDN: PHONE_FEATURES, C.ACCOUNT: ACCOUNT_FEATURES}
FEATURE_SET_VERSION = "foundation-1"


def window_days(day: dt.date, length: int) -> list[dt.date]:
    return days_between(day - dt.timedelta(days=length - 1), day)


def materialise_features(spark: SparkSession, lake: Lake, day: dt.date, *, length: int) -> dict[str, DataFrame]:
    """Compute both entity types' features for the window ending ``day``, write them, return them re-read."""
    days = window_days(day, length)
    built = {
        C.MSISDN: phone_features(
            lake.read_clean(spark, C.CALLS, days),
            lake.read_clean(spark, C.SMS, days),
            lake.read_clean_snapshot(spark, C.SUBSCRIBERS, day),
            as_of=day,
            window_days=length,
        ),
        C.ACCOUNT: account_features(
            lake.read_clean(spark, C.TRANSACTIONS, days),
            lake.read_clean_snapshot(spark, C.ACCOUNTS, day),
            as_of=day,
            window_days=length,
        ),
    }
    out = {}
    for entity_type, df in built.items():
        table = lake.features(entity_type)
        write_partitions(df.withColumn(DT, F.lit(day.isoformat())), table)
        out[entity_type] = spark.read.parquet(str(partition_path(table, day)))
    return out
