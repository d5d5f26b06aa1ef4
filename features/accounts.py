"""Per bank account flow features over a look-back window.

Input tables are the lake's clean feeds (tokens): transactions
``src_account, dst_account, amount, txn_time, channel`` and the accounts
snapshot for the window's last day. Each transfer is read once and becomes an
outgoing row for its source and an incoming row for its destination.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.common import ENTITY, count_if, require_columns, safe_ratio

TXN_COLUMNS = ("src_account", "dst_account", "amount", "txn_time", "channel")
ACCOUNT_COLUMNS = ("account_id", "open_date", "account_type")

ACCOUNT_FEATURES = (
    "in_count",
    "in_amount",
    "in_distinct",
    "in_max_amount",
    "out_count",
    "out_amount",
    "out_distinct",
    "out_atm_share",
    "pass_through_ratio",
    "active_days",
    "account_age_days",
    "is_corporate",
)


def account_features(
    transactions_df: DataFrame, accounts_df: DataFrame, *, as_of: dt.date, window_days: int
) -> DataFrame:
    """One row per account of the bank's snapshot with a transfer in the window ending ``as_of``.

    Output: ``entity_token`` then :data:`ACCOUNT_FEATURES`. Amounts are CNY as
    doubles; counts are 0 for a direction with no transfer; ratios are null
    when their denominator is 0. Counterparties outside the bank are peers,
    never rows.
    """
    require_columns(transactions_df, TXN_COLUMNS, "account_features transactions")
    require_columns(accounts_df, ACCOUNT_COLUMNS, "account_features accounts")
    first = as_of - dt.timedelta(days=window_days - 1)
    day = F.to_date("txn_time")
    txn = transactions_df.where((day >= F.lit(first)) & (day <= F.lit(as_of)))

    def side(token: str, peer: str, is_out: bool):
        return F.struct(
            F.col(token).alias(ENTITY),
            F.col(peer).alias("peer"),
            F.lit(is_out).alias("is_out"),
            F.col("amount").cast("double").alias("amount"),
            (F.col("channel") == "atm").alias("is_atm"),
            F.to_date("txn_time").alias("day"),
        )

    sides = txn.select(F.explode(F.array(side("src_account", "dst_account", True), side("dst_account", "src_account", False))).alias("s")).select("s.*")
    out = F.col("is_out")
    amount = F.col("amount")
    flows = sides.groupBy(ENTITY).agg(
        count_if(~out).alias("in_count"),
        F.sum(F.when(~out, amount).otherwise(0.0)).alias("in_amount"),
        F.count_distinct(F.when(~out, F.col("peer"))).alias("in_distinct"),
        F.max(F.when(~out, amount)).alias("in_max_amount"),
        count_if(out).alias("out_count"),
        F.sum(F.when(out, amount).otherwise(0.0)).alias("out_amount"),
        F.count_distinct(F.when(out, F.col("peer"))).alias("out_distinct"),
        F.sum(F.when(out & F.col("is_atm"), amount).otherwise(0.0)).alias("out_atm_amount"),
        F.count_distinct("day").alias("active_days"),
    )
    accounts = accounts_df.select(
        F.col("account_id").alias(ENTITY),
        F.datediff(F.lit(as_of), F.col("open_date")).alias("account_age_days"),
        (F.col("account_type") == "corporate").cast("int").alias("is_corporate"),
    ).dropDuplicates([ENTITY])
    return (
        accounts.join(flows, on=ENTITY, how="inner")
        .withColumn("out_atm_share", safe_ratio(F.col("out_atm_amount"), F.col("out_amount")))
        .withColumn("pass_through_ratio", safe_ratio(F.col("out_amount"), F.col("in_amount")))
        .select(ENTITY, *ACCOUNT_FEATURES)
    )
