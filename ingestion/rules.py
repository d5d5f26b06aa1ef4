"""Row-level rules: which raw rows go to quarantine, and why.

:func:`with_reason` adds a ``reason`` column (null for a good row, else the
code of the first rule the row breaks), so nothing is dropped silently: the
ingest job splits on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.lake import DT
from fraudgraph.pseudo import normalise_col

REASON = "reason"
DUPLICATE_DELIVERY = "duplicate_delivery"
MAX_DURATION_S = 86_400

# The column whose normalised value must be unique within a partition.
UNIQUE_KEYS = {
    "calls": "call_id",
    "sms": "sms_id",
    "transactions": "txn_id",
    "subscribers": "msisdn",
    "accounts": "account_id",
    "exposure_sources": "source_id",
}

ENUMS = {
    ("subscribers", "plan_type"): C.PLAN_TYPES,
    ("subscribers", "status"): C.SUBSCRIBER_STATUSES,
    ("accounts", "account_type"): C.ACCOUNT_TYPES,
    ("transactions", "channel"): C.CHANNELS,
    ("exposure_sources", "source_type"): C.SOURCE_TYPES,
    ("labels", "entity_type"): C.LABEL_ENTITY_TYPES,
    ("labels", "label"): C.LABEL_VALUES,
    ("labels", "source"): C.LABEL_SOURCES,
}


def _is_blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def _required(feed: C.Feed) -> Iterable[tuple[str, Column]]:
    for column in feed.columns:
        if column.nullable:
            continue
        if column.identifier is not None:
            yield f"null_{column.name}", normalise_col(column.identifier, F.col(column.name)).isNull()
        elif column.type_name == "string":
            yield f"null_{column.name}", _is_blank(F.col(column.name))
        else:
            yield f"null_{column.name}", F.col(column.name).isNull()


def _feed_rules(feed: C.Feed, amount_ceiling: float) -> Iterable[tuple[str, Column]]:
    for (feed_name, column), allowed in ENUMS.items():
        if feed_name == feed.name:
            yield f"invalid_{column}", ~F.lower(F.trim(F.col(column))).isin(list(allowed))
    if feed.event_time is not None:
        yield "time_outside_partition", F.date_format(F.col(feed.event_time), "yyyy-MM-dd") != F.col(DT)
    if feed.name == "calls":
        yield "duration_out_of_range", (F.col("duration_s") < 0) | (F.col("duration_s") > MAX_DURATION_S)
    if feed.name == "transactions":
        yield "amount_out_of_range", (F.col("amount") <= 0) | (F.col("amount") >= F.lit(amount_ceiling))
        yield "self_transfer", F.trim(F.col("src_account")) == F.trim(F.col("dst_account"))
    if feed.name == "exposures":
        yield "no_identifier", _is_blank(F.col("msisdn")) & _is_blank(F.col("id_number"))


def with_reason(df: DataFrame, feed: C.Feed, *, amount_ceiling: float) -> DataFrame:
    """Add ``reason``: the first broken rule's code, or null for a good row.

    Rules: required columns present (identifiers must normalise to something),
    values in their allowed sets, event time inside its ``dt`` partition,
    duration 0..86,400 s, amounts above 0 and below ``amount_ceiling``, and a
    unique key per partition (of rows sharing a key, the first is kept and the
    others get ``duplicate_<key>``). Exact copies of a row get
    ``duplicate_delivery`` first: a double delivery, not bad data. Expects the
    contract's columns plus ``dt``.
    """
    rules = [*_required(feed), *_feed_rules(feed, amount_ceiling)]
    # A comparison with a null is null, never a reason by itself: nulls are the
    # job of the null_* rules, which come first.
    reason = F.coalesce(*[F.when(cond, F.lit(code)) for code, cond in rules], F.lit(None).cast("string"))
    df = df.withColumn(REASON, reason)
    # One window, one shuffle: rows grouped by their key (by every column where
    # a feed has no key) and ordered so that exact copies sit side by side.
    key = UNIQUE_KEYS.get(feed.name)
    if key is None:
        group = [F.col(c) for c in feed.column_names]
    else:
        key_col = feed.column(key)
        group = [normalise_col(key_col.identifier, F.col(key)) if key_col.identifier else F.trim(F.col(key))]
    # Good rows first, then a total order over every column, so the same copy wins on every run.
    order = [F.col(REASON).isNotNull()] + [F.col(c).asc_nulls_last() for c in feed.column_names]
    # The group's 64-bit hash leads the partitioning: the sort under the window then compares rows by a long
    # prefix (a string key such as C2026032200000001 shares its first 8 bytes with most rows of its day, and a
    # prefix that never differs sends every comparison to the full row); the groups are the same.
    window = Window.partitionBy(F.xxhash64(F.col(DT), *group), F.col(DT), *group).orderBy(*order)
    # A row equal in every column to the one before it is a copy from a double
    # delivery: not bad data, kept aside as duplicate_delivery.
    rank = F.row_number().over(window)
    is_copy = reduce(lambda a, b: a & b, [F.col(c).eqNullSafe(F.lag(c).over(window)) for c in feed.column_names])
    is_key_clash = F.lit(False) if key is None else (F.col(REASON).isNull() & group[0].isNotNull() & (rank > 1))
    return df.withColumn(
        REASON,
        F.when((rank > 1) & F.coalesce(is_copy, F.lit(False)), F.lit(DUPLICATE_DELIVERY))
        .when(is_key_clash, F.lit(f"duplicate_{key}"))
        .otherwise(F.col(REASON)),
    )
