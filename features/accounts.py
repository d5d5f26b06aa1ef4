"""Per bank account features over a look-back window: money flows and the money network.

Input tables are the lake's clean feeds (tokens): transactions
``src_account, dst_account, amount, txn_time, channel`` and the accounts
snapshot ``account_id, holder_id_number, bound_msisdn, open_date,
account_type`` for the window's last day. Inside, every table is keyed by
the accounts' vertex ids (:func:`features.graphs.vertex`, longs), not by
their tokens; the rows get their token back from the snapshot at the end.

How the transaction table is read, so that no step costs more than the
table's size times a small bound:

- each transfer becomes an outgoing row for its source and an incoming row
  for its destination ("sides"); flow, amount and time aggregates group those;
- dwell times and gaps come from one window over each account's own sides,
  ordered by time (never a join of an account's transfers with each other);
- everything about the network is computed on the pair graph: one edge per
  (src, dst) pair with a non-ATM transfer in the window. Counterparties'
  degrees, fan-in relatedness, hops to cash-out and return flow are joins on
  that edge list, iterated a bounded number of hops. Nodes with more than
  ``hub_degree`` counterparties are not passed through in the path searches
  (a payroll or merchant account would multiply the paths by its degree and
  is not a laundering hop).

Counterparties outside the bank's snapshot (other banks, ATM terminals) are
graph nodes: they have degrees and can close a cycle, but get no row.

:func:`account_features` reads no label. :func:`known_fraud_features` is the
one function here that takes known fraud accounts (seeds), and none of its
values reads the row's own seed flag.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features import graphs as G
from features.common import (
    ENTITY,
    ID,
    JOIN_HUB_DEGREE,
    Hubs,
    count_if,
    cut_lineage,
    join_with_hubs,
    require_columns,
    safe_ratio,
    with_member_flag,
    without_hubs,
)

TXN_COLUMNS = ("src_account", "dst_account", "amount", "txn_time", "channel")
ACCOUNT_COLUMNS = ("account_id", "holder_id_number", "bound_msisdn", "open_date", "account_type")

ATM_CHANNEL = "atm"
# Whole hundreds of CNY: what a person types when the amount is agreed, not billed.
ROUND_AMOUNT = 100
# An incoming transfer counts as forwarded when an outgoing one follows within these hours.
FORWARD_HOURS = (1, 24)
# A node passes money through when it sends on between these shares of what it received.
PASS_THROUGH_BAND = (0.8, 1.25)
# A transfer is atypical for its payer when it differs from the payer's median amount by more
# than this share of that median (a payer who always sends about the same sum suddenly does not).
ATYPICAL_AMOUNT_SHARE = 0.5
# Peers' pass-through ratios are clipped here before averaging: one peer with a tiny inflow
# would otherwise dominate the mean.
PASS_THROUGH_CLIP = 2.0
# Forward hops searched for an ATM withdrawal; an account with none that close gets MAX + 1.
MAX_CASH_OUT_HOPS = 3
# Return flow is searched over 2, 3 and 4 transfers; none within that gives 5.
NO_RETURN = 5
# Default cap on a node's distinct counterparties for it to be passed through in path searches.
HUB_DEGREE = 500

SECONDS_PER_HOUR = 3600.0
# The dwell and gap windows are ordered within slices of this many seconds of an account's transfers, so that
# an account with a million transfers spreads over many tasks (96 slices a day).
TIME_BUCKET_S = 900

FLOW_FEATURES = (
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

NETWORK_FEATURES = (
    # counterparties and fan-in/fan-out shape
    "counterparties",
    "reciprocal_counterparties",
    "in_per_payer",
    "out_per_payee",
    "in_top_payer_share",
    "out_top_payee_share",
    "out_max_same_day_payee",
    # amount and time regularity
    "in_min_amount",
    "out_min_amount",
    "in_amount_cv",
    "out_amount_cv",
    "round_amount_share",
    "in_atypical_share",
    "out_atypical_share",
    "gap_median_hours",
    "gap_cv",
    "busiest_day_share",
    # dwell time from money in to money out
    "dwell_min_hours",
    "dwell_median_hours",
    "forwarded_1h_share",
    "forwarded_24h_share",
    # fan-in from unrelated payers
    "payers_single_payee_share",
    "payers_mean_out_distinct",
    "unrelated_payers",
    "unrelated_payer_share",
    # identity
    "holder_accounts",
    "msisdn_accounts",
    "has_shared_msisdn",
    # cash-out, neighbourhood, return flow
    "hops_to_cash_out",
    "peers_mean_in_distinct",
    "peers_max_in_distinct",
    "peers_mean_out_distinct",
    "peers_max_out_distinct",
    "peers_mean_pass_through",
    "peers_pass_through_share",
    "peers_mean_atypical_share",
    "peers_max_atypical_share",
    "triangles",
    "clustering",
    "max_common_counterparties",
    "triangle_peers",
    "peers_mean_triangles",
    "peers_max_triangles",
    "peers_mean_clustering",
    "peers_max_clustering",
    "peers_mean_peers_clustering",
    "payees_max_off_mode_share",
    "payees_mean_off_mode_share",
    "cycle3_paths",
    "cycle4_midpoints",
    "return_flow_hops",
    "peers_return_flow_share",
)

ACCOUNT_FEATURES = FLOW_FEATURES + NETWORK_FEATURES

# Seeded with known fraud accounts by :func:`known_fraud_features`; never part of ACCOUNT_FEATURES.
KNOWN_FRAUD_FEATURES = ("known_fraud_peers", "known_fraud_share", "known_fraud_triangles")
KNOWN_FRAUD_TXN_COLUMNS = ("src_account", "dst_account", "channel")

# Internal node / edge column names of the pair graph.
SRC = "src"
DST = "dst"
NODE = "node"


def _reuse(df: DataFrame) -> DataFrame:
    """Materialise ``df`` on first use and cut its lineage."""
    return cut_lineage(df, eager=False)


def _cv(values: Column) -> Column:
    """Coefficient of variation; null with fewer than two values or a zero mean."""
    return safe_ratio(F.stddev_samp(values), F.abs(F.avg(values)))


def _with_payer_routine(txn_df: DataFrame) -> DataFrame:
    """Add ``is_atypical`` and ``is_off_mode``: where a transfer's amount sits in its payer's routine.

    - ``is_atypical``: the amount is far from the payer's median amount (more than
      :data:`ATYPICAL_AMOUNT_SHARE` of that median away);
    - ``is_off_mode``: the amount is not the payer's usual amount, its most frequent one (the smallest of
      those on a tie). A payer who always sends the same sum has no off-mode transfer.

    Both are null when the payer or the amount is null. They come from one table of payers joined back on
    the payer (not of transfers), grouped from the payers' distinct amounts and their counts: the median is
    the exact percentile of those amounts weighted by their counts, the same value as over the transfers.
    """
    amount = F.col("amount").cast("double")
    payers = (
        txn_df.where(F.col("src_account").isNotNull() & amount.isNotNull())
        .groupBy("src_account", amount.alias("payer_amount"))
        .agg(F.count("*").alias("n"))
        .groupBy("src_account")
        .agg(
            F.percentile(F.col("payer_amount"), 0.5, F.col("n")).alias("payer_median"),
            F.max(F.struct(F.col("n"), (-F.col("payer_amount")).alias("neg_amount"))).alias("m"),
        )
        .select("src_account", "payer_median", (-F.col("m.neg_amount")).alias("payer_mode"))
    )
    median = F.col("payer_median")
    return txn_df.join(payers, on="src_account", how="left").select(
        *txn_df.columns,
        (F.abs(amount - median) > ATYPICAL_AMOUNT_SHARE * F.abs(median)).alias("is_atypical"),
        (amount != F.col("payer_mode")).alias("is_off_mode"),
    )


def _sides(txn_df: DataFrame) -> DataFrame:
    """One row per (account, transfer) side: ``ID, peer, is_out, amount, is_atm, is_atypical, is_off_mode, day, ts``."""

    def side(account: str, peer: str, is_out: bool) -> Column:
        return F.struct(
            F.col(account).alias(ID),
            F.col(peer).alias("peer"),
            F.lit(is_out).alias("is_out"),
            F.col("amount").cast("double").alias("amount"),
            F.coalesce(F.col("channel") == ATM_CHANNEL, F.lit(False)).alias("is_atm"),
            F.col("is_atypical").alias("is_atypical"),
            F.col("is_off_mode").alias("is_off_mode"),
            F.to_date("txn_time").alias("day"),
            F.col("txn_time").cast("timestamp").cast("long").alias("ts"),
        )

    return (
        txn_df.select(
            F.explode(
                F.array(side("src_account", "dst_account", True), side("dst_account", "src_account", False))
            ).alias("s")
        )
        .select("s.*")
        .where(F.col(ID).isNotNull())
    )


def _account_sums(sides_df: DataFrame) -> DataFrame:
    """Per account (every graph node with a side), the aggregates of its own sides in one aggregation.

    The flow features (counts, amounts, minima, coefficients of variation, round and atypical shares) and
    what the node statistics read (``amt_in``, ``amt_out`` null without a known amount, ``atypical_share``,
    ``in_off_mode_share``): one shuffle of the sides for both.
    """
    out = F.col("is_out")
    amount = F.col("amount")
    is_round = (amount >= ROUND_AMOUNT) & (F.pmod(amount, F.lit(float(ROUND_AMOUNT))) == 0)
    return sides_df.groupBy(ID).agg(
        count_if(~out).alias("in_count"),
        F.sum(F.when(~out, amount).otherwise(0.0)).alias("in_amount"),
        F.max(F.when(~out, amount)).alias("in_max_amount"),
        count_if(out).alias("out_count"),
        F.sum(F.when(out, amount).otherwise(0.0)).alias("out_amount"),
        F.sum(F.when(out & F.col("is_atm"), amount).otherwise(0.0)).alias("out_atm_amount"),
        F.min(F.when(~out, amount)).alias("in_min_amount"),
        F.min(F.when(out, amount)).alias("out_min_amount"),
        _cv(F.when(~out, amount)).alias("in_amount_cv"),
        _cv(F.when(out, amount)).alias("out_amount_cv"),
        safe_ratio(count_if(is_round), F.count(amount)).alias("round_amount_share"),
        safe_ratio(count_if(~out & F.col("is_atypical")), F.count(F.when(~out, F.col("is_atypical")))).alias(
            "in_atypical_share"
        ),
        safe_ratio(count_if(out & F.col("is_atypical")), F.count(F.when(out, F.col("is_atypical")))).alias(
            "out_atypical_share"
        ),
        F.sum(F.when(~out, amount)).alias("amt_in"),
        F.sum(F.when(out, amount)).alias("amt_out"),
        F.avg(F.col("is_atypical").cast("double")).alias("atypical_share"),
        F.avg(F.when(~out, F.col("is_off_mode").cast("double"))).alias("in_off_mode_share"),
    )


def _pair_side_features(sides_df: DataFrame) -> DataFrame:
    """The account's known counterparties: how many (payers, payees, all), reciprocity, concentration.

    One row per account and counterparty (from one per account, counterparty and day) gives them all; the
    distinct counts come from those rows rather than from ``count_distinct``, which makes Spark copy every
    side once per distinct column before the shuffle (923 MB for 0.8M sides on the 10M-call benchmark,
    bench/README.md "The 10M window's feature stage"). Sides with an unknown counterparty are left out.
    """
    out = F.col("is_out")
    per_day = (
        sides_df.where(F.col("peer").isNotNull())
        .groupBy(ID, "peer", "day")
        .agg(
            count_if(out).alias("out_n"),
            count_if(~out).alias("in_n"),
            F.sum(F.when(out, F.col("amount"))).alias("out_amt"),
            F.sum(F.when(~out, F.col("amount"))).alias("in_amt"),
        )
    )
    per_peer = per_day.groupBy(ID, "peer").agg(
        F.sum("out_n").alias("out_n"),
        F.sum("in_n").alias("in_n"),
        F.sum("out_amt").alias("out_amt"),
        F.sum("in_amt").alias("in_amt"),
        F.max("out_n").alias("out_max_day"),
    )
    has_out = F.col("out_n") > 0
    has_in = F.col("in_n") > 0
    return per_peer.groupBy(ID).agg(
        count_if(has_in).alias("in_distinct"),
        count_if(has_out).alias("out_distinct"),
        F.count(F.lit(1)).alias("counterparties"),
        count_if(has_out & has_in).alias("reciprocal_counterparties"),
        safe_ratio(F.sum("in_n"), count_if(has_in)).alias("in_per_payer"),
        safe_ratio(F.sum("out_n"), count_if(has_out)).alias("out_per_payee"),
        safe_ratio(F.max("in_amt"), F.sum("in_amt")).alias("in_top_payer_share"),
        safe_ratio(F.max("out_amt"), F.sum("out_amt")).alias("out_top_payee_share"),
        F.max("out_max_day").alias("out_max_same_day_payee"),
    )


def _timing_features(sides_df: DataFrame) -> DataFrame:
    """Dwell from each incoming transfer to the next outgoing one, gaps, the busiest day and the active days.

    The next outgoing transfer is the first at or after the incoming one's
    time (a same-timestamp transfer counts as forwarded at once); an incoming
    transfer followed by none has no dwell and is not forwarded.

    No window spans a whole account: a collection account with a million
    payers would put a million rows in one task. The ordered windows run per
    account and :data:`TIME_BUCKET_S` slice of time; what crosses a slice (the
    first outgoing transfer of a later slice, the last transfer of an earlier
    one) comes from a table of one row per account and non-empty slice.
    """
    timed = sides_df.where(F.col("ts").isNotNull()).withColumn("bucket", F.floor(F.col("ts") / TIME_BUCKET_S))
    out_ts = F.when(F.col("is_out"), F.col("ts"))
    by_bucket = Window.partitionBy(ID).orderBy("bucket")
    buckets = (
        timed.groupBy(ID, "bucket")
        .agg(F.min(out_ts).alias("bucket_first_out"), F.max("ts").alias("bucket_last_ts"))
        .select(
            ID,
            "bucket",
            F.min("bucket_first_out").over(by_bucket.rowsBetween(1, Window.unboundedFollowing)).alias("later_out"),
            F.lag("bucket_last_ts").over(by_bucket).alias("earlier_ts"),
        )
    )
    in_bucket = Window.partitionBy(ID, "bucket").orderBy("ts")
    timed = timed.join(buckets, on=[ID, "bucket"], how="inner").select(
        ID,
        "is_out",
        "amount",
        "day",
        (
            (F.coalesce(F.min(out_ts).over(in_bucket.rangeBetween(0, Window.unboundedFollowing)), F.col("later_out"))
             - F.col("ts")) / SECONDS_PER_HOUR
        ).alias("dwell_h"),
        ((F.col("ts") - F.coalesce(F.lag("ts").over(in_bucket), F.col("earlier_ts"))) / SECONDS_PER_HOUR).alias(
            "gap_h"
        ),
    )
    incoming = ~F.col("is_out")
    dwell = F.when(incoming, F.col("dwell_h"))
    in_amount = F.sum(F.when(incoming, F.col("amount")))

    def forwarded_within(hours: int) -> Column:
        return safe_ratio(
            F.sum(F.when(incoming & (F.col("dwell_h") <= hours), F.col("amount")).otherwise(0.0)), in_amount
        )

    timing = timed.groupBy(ID).agg(
        F.min(dwell).alias("dwell_min_hours"),
        F.median(dwell).alias("dwell_median_hours"),
        forwarded_within(FORWARD_HOURS[0]).alias("forwarded_1h_share"),
        forwarded_within(FORWARD_HOURS[1]).alias("forwarded_24h_share"),
        F.median("gap_h").alias("gap_median_hours"),
        _cv(F.col("gap_h")).alias("gap_cv"),
    )
    # One row per account and day: the busiest day's share and the active days (every side has a day).
    per_day = (
        sides_df.groupBy(ID, "day")
        .count()
        .groupBy(ID)
        .agg(
            safe_ratio(F.max("count"), F.sum("count")).alias("busiest_day_share"),
            F.count("day").alias("active_days"),
        )
    )
    return timing.join(per_day, on=ID, how="full")


def _pair_graph(txn_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(edges, atm_sources): money edges ``src, dst`` and the nodes with an ATM withdrawal.

    Self-transfers and rows with a null end are not edges.
    """
    is_atm = F.coalesce(F.col("channel") == ATM_CHANNEL, F.lit(False))
    pairs = (
        txn_df.where(F.col("src_account").isNotNull() & F.col("dst_account").isNotNull())
        .where(F.col("src_account") != F.col("dst_account"))
        .groupBy(F.col("src_account").alias(SRC), F.col("dst_account").alias(DST))
        .agg(F.max(~is_atm).alias("has_transfer"), F.max(is_atm).alias("has_atm"))
    )
    edges = pairs.where("has_transfer").select(SRC, DST)
    atm_sources = pairs.where("has_atm").select(F.col(SRC).alias(NODE)).distinct()
    return edges, atm_sources


def _node_stats(edges_df: DataFrame, sums_df: DataFrame, *, hub_degree: int) -> DataFrame:
    """Per graph node: ``n_in, n_out, pass_through, atypical_share, in_off_mode_share, is_pass_through, is_hub``.

    ``in_off_mode_share``: the share of its incoming transfers whose amount is
    not their payer's usual amount (null with no incoming transfer of a known
    payer). Money in and out and the shares come from :func:`_account_sums`.
    """
    out_deg = edges_df.groupBy(F.col(SRC).alias(NODE)).agg(F.count("*").alias("n_out"))
    in_deg = edges_df.groupBy(F.col(DST).alias(NODE)).agg(F.count("*").alias("n_in"))
    money = sums_df.select(
        F.col(ID).alias(NODE), "amt_in", "amt_out", "atypical_share", "in_off_mode_share"
    )
    ratio = safe_ratio(F.coalesce(F.col("amt_out"), F.lit(0.0)), F.col("amt_in"))
    return (
        out_deg.join(in_deg, on=NODE, how="full")
        .join(money, on=NODE, how="left")
        .select(
            NODE,
            F.coalesce(F.col("n_in"), F.lit(0)).alias("n_in"),
            F.coalesce(F.col("n_out"), F.lit(0)).alias("n_out"),
            ratio.alias("pass_through"),
            "atypical_share",
            "in_off_mode_share",
            F.coalesce(ratio.between(*PASS_THROUGH_BAND), F.lit(False)).alias("is_pass_through"),
            ((F.coalesce(F.col("n_in"), F.lit(0)) + F.coalesce(F.col("n_out"), F.lit(0))) > hub_degree).alias(
                "is_hub"
            ),
        )
    )


def _neighbours(edges_df: DataFrame) -> DataFrame:
    """Undirected money neighbours: ``ID, peer`` once per pair."""
    return (
        edges_df.select(F.col(SRC).alias(ID), F.col(DST).alias("peer"))
        .union(edges_df.select(F.col(DST).alias(ID), F.col(SRC).alias("peer")))
        .distinct()
    )


def _payer_features(
    edges_df: DataFrame, neighbours_df: DataFrame, nodes_df: DataFrame, holders_df: DataFrame, hubs: Hubs
) -> DataFrame:
    """Fan-in: how many of an account's payers are unrelated to each other.

    Two payers of the same account are related when one sent money to the
    other in the window or they share a holder token. Payers that are hubs
    are not expanded (counted unrelated unless they share a holder).
    """
    pays = edges_df.select(F.col(SRC).alias("payer"), F.col(DST).alias(ID))
    payer_stats = join_with_hubs(pays, nodes_df.withColumnRenamed(NODE, "payer"), on="payer", hubs=hubs,
                                 how="left")
    shape = payer_stats.groupBy(ID).agg(
        F.count("*").alias("payers"),
        safe_ratio(count_if(F.col("n_out") == 1), F.count("*")).alias("payers_single_payee_share"),
        F.avg("n_out").alias("payers_mean_out_distinct"),
    )
    # Hub payers are not expanded: their links are dropped on both sides of the join by payer, where they sit
    # (a hub's many links would all meet in one task only to find no row). A payer's link to the account it
    # pays is never a link to another payer (a self-transfer is no edge), and every payer has that link: kept,
    # all the payers of a collection account would meet in one task of the join on (other, account).
    payer_links = without_hubs(
        neighbours_df.select(F.col(ID).alias("payer"), F.col("peer").alias("other")), on="payer",
        hubs=hubs,
    )
    linked_by_money = (
        without_hubs(pays, on="payer", hubs=hubs)
        .join(payer_links, on="payer", how="inner")
        .where(F.col("other") != F.col(ID))
        .join(pays.select(F.col("payer").alias("other"), ID), on=["other", ID], how="left_semi")
        .select(ID, "payer")
    )
    holder_payers = join_with_hubs(
        pays, holders_df.select(F.col(ID).alias("payer"), "holder"), on="payer", hubs=hubs
    )
    shared_holder = (
        holder_payers.groupBy(ID, "holder").agg(F.count("*").alias("n")).where(F.col("n") > 1).drop("n")
    )
    linked_by_holder = holder_payers.join(shared_holder, on=[ID, "holder"], how="left_semi").select(
        ID, "payer"
    )
    linked = (
        linked_by_money.union(linked_by_holder)
        .distinct()
        .groupBy(ID)
        .agg(F.count("*").alias("linked_payers"))
    )
    unrelated = F.col("payers") - F.coalesce(F.col("linked_payers"), F.lit(0))
    return shape.join(linked, on=ID, how="left").select(
        ID,
        "payers_single_payee_share",
        "payers_mean_out_distinct",
        unrelated.alias("unrelated_payers"),
        safe_ratio(unrelated, F.col("payers")).alias("unrelated_payer_share"),
    )


def _hops_to_cash_out(edges_df: DataFrame, atm_sources_df: DataFrame, hubs: Hubs) -> DataFrame:
    """Fewest transfers from a node to cash at an ATM: 1 = it withdraws itself; absent = none within the cap.

    A breadth-first search backwards from the withdrawing nodes, one join of
    the edge list per hop; each level is a distinct node set, so no level is
    larger than the graph.
    """
    levels = atm_sources_df.withColumn("hops", F.lit(1))
    frontier = atm_sources_df
    for hops in range(2, MAX_CASH_OUT_HOPS + 1):
        frontier = (
            join_with_hubs(edges_df, frontier.withColumnRenamed(NODE, DST), on=DST, hubs=hubs)
            .select(F.col(SRC).alias(NODE))
            .distinct()
        )
        levels = levels.union(frontier.withColumn("hops", F.lit(hops)))
    return levels.groupBy(F.col(NODE).alias(ID)).agg(F.min("hops").alias("hops"))


def _return_flow(edges_df: DataFrame, hubs: Hubs) -> DataFrame:
    """Money sent that comes back: ``cycle2`` peers, ``cycle3_paths``, ``cycle4_midpoints``, ``return_flow_hops``.

    Paths follow the pair graph's direction, pass through non-hub nodes only
    and are bounded at 4 transfers: 2-paths ``A -> x -> y`` are built once
    and closed by an edge ``y -> A`` (3) or by a 2-path ``y -> z -> A`` (4).
    Only nodes with some return flow get a row.
    """
    # Hubs are dropped where the rows sit (a broadcast anti-join): a hub's million edges never meet in one task.
    via_small = without_hubs(edges_df, on=SRC, hubs=hubs)
    first = edges_df.select(F.col(SRC).alias("a"), F.col(DST).alias("x"))
    second = via_small.select(F.col(SRC).alias("x"), F.col(DST).alias("y"))
    two_paths = (
        without_hubs(first, on="x", hubs=hubs)
        .join(second, on="x", how="inner")
        .where(F.col("a") != F.col("y"))
    )
    closing = via_small.select(F.col(SRC).alias("y"), F.col(DST).alias("a"))
    cycle2 = first.join(closing.select(F.col("y").alias("x"), "a"), on=["a", "x"], how="left_semi")
    cycle2 = cycle2.groupBy("a").agg(F.count("*").alias("cycle2"))
    cycle3 = (
        two_paths.join(closing, on=["y", "a"], how="left_semi")
        .groupBy("a")
        .agg(F.count_distinct("x", "y").alias("cycle3_paths"))
    )
    reach2 = two_paths.select("a", "y").distinct()
    back2 = without_hubs(reach2, on="a", hubs=hubs).select(
        F.col("a").alias("y"), F.col("y").alias("a")
    )
    cycle4 = (
        reach2.join(back2, on=["a", "y"], how="left_semi")
        .groupBy("a")
        .agg(F.count("*").alias("cycle4_midpoints"))
    )
    found = cycle2.join(cycle3, on="a", how="full").join(cycle4, on="a", how="full")
    hops = (
        F.when(F.col("cycle2") > 0, 2)
        .when(F.col("cycle3_paths") > 0, 3)
        .when(F.col("cycle4_midpoints") > 0, 4)
        .otherwise(NO_RETURN)
    )
    return found.select(
        F.col("a").alias(ID),
        F.coalesce(F.col("cycle3_paths"), F.lit(0)).alias("cycle3_paths"),
        F.coalesce(F.col("cycle4_midpoints"), F.lit(0)).alias("cycle4_midpoints"),
        hops.alias("return_flow_hops"),
    )


def _peer_features(
    neighbours_df: DataFrame, nodes_df: DataFrame, returns_df: DataFrame, triangles_df: DataFrame, hubs: Hubs
) -> DataFrame:
    """Mean and max of the money neighbours' degrees, pass-through, atypical amounts and triangles."""
    peer_table = (
        nodes_df.withColumnRenamed(NODE, "peer")
        .join(
            returns_df.select(F.col(ID).alias("peer"), F.lit(True).alias("has_return")),
            on="peer",
            how="left",
        )
        .join(
            triangles_df.select(F.col(ID).alias("peer"), "triangles", "clustering"), on="peer", how="left"
        )
    )
    peers = join_with_hubs(neighbours_df, peer_table, on="peer", hubs=hubs)
    return peers.groupBy(ID).agg(
        F.avg("n_in").alias("peers_mean_in_distinct"),
        F.max("n_in").alias("peers_max_in_distinct"),
        F.avg("n_out").alias("peers_mean_out_distinct"),
        F.max("n_out").alias("peers_max_out_distinct"),
        # least() skips nulls: a peer with no inflow must stay out of the mean, not count as the clip.
        F.avg(
            F.when(
                F.col("pass_through").isNotNull(), F.least(F.col("pass_through"), F.lit(PASS_THROUGH_CLIP))
            )
        ).alias("peers_mean_pass_through"),
        F.avg(F.col("is_pass_through").cast("double")).alias("peers_pass_through_share"),
        F.avg(F.col("has_return").isNotNull().cast("double")).alias("peers_return_flow_share"),
        F.avg("atypical_share").alias("peers_mean_atypical_share"),
        F.max("atypical_share").alias("peers_max_atypical_share"),
        F.avg("triangles").alias("peers_mean_triangles"),
        F.max("triangles").alias("peers_max_triangles"),
        F.avg("clustering").alias("peers_mean_clustering"),
        F.max("clustering").alias("peers_max_clustering"),
    )


def _second_hop_features(neighbours_df: DataFrame, peer_features_df: DataFrame, hubs: Hubs) -> DataFrame:
    """Neighbours' neighbours: the mean over the money neighbours of their ``peers_mean_clustering``."""
    return (
        join_with_hubs(
            neighbours_df,
            peer_features_df.select(F.col(ID).alias("peer"), F.col("peers_mean_clustering").alias("c")),
            on="peer",
            hubs=hubs,
        )
        .groupBy(ID)
        .agg(F.avg("c").alias("peers_mean_peers_clustering"))
    )


def _payee_features(edges_df: DataFrame, nodes_df: DataFrame, hubs: Hubs) -> DataFrame:
    """Where its money goes: max and mean over its payees of their ``in_off_mode_share``.

    A payee that receives many transfers its payers do not usually send
    collects money outside its payers' routine (a collection or a
    laundering account); the payer of such accounts is tied to that flow even
    when its own amounts are regular.
    """
    payees = join_with_hubs(
        edges_df.select(F.col(SRC).alias(ID), F.col(DST).alias(NODE)),
        nodes_df.select(NODE, "in_off_mode_share"),
        on=NODE,
        hubs=hubs,
    )
    return payees.groupBy(ID).agg(
        F.max("in_off_mode_share").alias("payees_max_off_mode_share"),
        F.avg("in_off_mode_share").alias("payees_mean_off_mode_share"),
    )


def _degrees(neighbours_df: DataFrame) -> DataFrame:
    """``ID, deg``: distinct money neighbours per node with at least one."""
    return neighbours_df.groupBy(ID).agg(F.count("*").alias("deg"))


def _closed_triangles(neighbours_df: DataFrame, degree_df: DataFrame, hubs: Hubs) -> DataFrame:
    """Every undirected triangle of the neighbour graph exactly once: ``u, v, w`` (its three nodes).

    Each undirected edge is oriented from the lower to the higher (degree,
    vertex id) end, so a triangle is listed exactly once as two edges leaving its
    lowest node ``u`` plus a closing edge ``v - w`` (``v < w``), and no node
    expands more than about sqrt(edges) wedges (the usual bound of
    degree-ordered triangle listing).

    ``degree_df`` (``ID, deg``) is read by two joins: pass a materialised table.
    """
    ranked = degree_df.select(ID, F.struct(F.col("deg"), F.col(ID)).alias("rank"))
    ranked_links = join_with_hubs(neighbours_df, ranked, on=ID, hubs=hubs)
    if not hubs.empty:
        # The next join reads its hubs' rows and the others apart: twice.
        ranked_links = _reuse(ranked_links)
    # Materialised: both sides of the wedges read the oriented edges (Spark does not share the two readings:
    # each side computed them, and the degrees under them, again; bench/README.md, "The account features'
    # plan").
    oriented = _reuse(
        join_with_hubs(
            ranked_links,
            ranked.select(F.col(ID).alias("peer"), F.col("rank").alias("peer_rank")),
            on="peer",
            hubs=hubs,
        )
        .where(F.col("rank") < F.col("peer_rank"))
        .select(F.col(ID).alias("u"), F.col("peer").alias("v"))
    )
    wedges = oriented.join(oriented.select("u", F.col("v").alias("w")), on="u", how="inner").where(
        F.col("v") < F.col("w")
    )
    return wedges.join(
        neighbours_df.select(F.col(ID).alias("v"), F.col("peer").alias("w")),
        on=["v", "w"],
        how="left_semi",
    ).select("u", "v", "w")


def _triangles(degree: DataFrame, closed: DataFrame) -> DataFrame:
    """Undirected triangles through each node, its clustering and how densely it is tied to its peers.

    ``degree`` and ``closed`` are a :class:`MoneyPairs`' (the triangles listed by :func:`_closed_triangles`).
    Output, one row per node with a money neighbour: ``triangles``,
    ``clustering`` (triangles / pairs of its neighbours, null with fewer than
    two neighbours),
    ``max_common_counterparties`` (most neighbours it shares with any one
    neighbour) and ``triangle_peers`` (neighbours it shares at least one
    neighbour with).
    """
    # Each triangle supports its three edges; an edge's support is the neighbours its ends share.
    edge_support = (
        closed.select(
            F.explode(
                F.array(
                    F.struct(F.col("u").alias("a"), F.col("v").alias("b")),
                    F.struct(F.col("u").alias("a"), F.col("w").alias("b")),
                    F.struct(F.col("v").alias("a"), F.col("w").alias("b")),
                )
            ).alias("e")
        )
        .groupBy("e.a", "e.b")
        .agg(F.count("*").alias("support"))
    )
    # Both ends of each supported edge, from one reading of the supports (a union of two readings made Spark
    # list the triangles twice).
    per_node = (
        edge_support.select(F.explode(F.array(F.col("a"), F.col("b"))).alias(ID), "support")
        .groupBy(ID)
        # every edge of a triangle is counted by 2 of its 3 endpoints' edges: halve the support sum
        .agg(
            (F.sum("support") / 2).cast("long").alias("triangles"),
            F.max("support").alias("max_common_counterparties"),
            F.count("*").alias("triangle_peers"),
        )
    )
    pairs = F.col("deg") * (F.col("deg") - 1) / 2
    triangles = F.coalesce(F.col("triangles"), F.lit(0))
    return degree.join(per_node, on=ID, how="left").select(
        ID,
        triangles.alias("triangles"),
        safe_ratio(triangles, pairs).alias("clustering"),
        F.coalesce(F.col("max_common_counterparties"), F.lit(0)).alias("max_common_counterparties"),
        F.coalesce(F.col("triangle_peers"), F.lit(0)).alias("triangle_peers"),
    )


@dataclass(frozen=True)
class MoneyPairs:
    """A window's pair graph (one edge per pair with a non-ATM transfer) and what both of its readers need.

    :func:`account_features` and :func:`known_fraud_features` read the same window's pair graph: built once
    (:func:`money_pairs`) and handed to both, its triangles are listed once per window, not once per reader.
    Every frame but ``atm_sources`` is materialised on first use.
    """

    edges: DataFrame  # src, dst
    atm_sources: DataFrame  # node: a source of an ATM withdrawal
    neighbours: DataFrame  # ID, peer: once per undirected pair
    degree: DataFrame  # ID, deg: distinct money neighbours
    triangles: DataFrame  # u, v, w: each undirected triangle once


def window_transactions(transactions_df: DataFrame, *, as_of: dt.date, window_days: int) -> DataFrame:
    """The transfers of the ``window_days`` days ending ``as_of`` (by ``txn_time``; none without one)."""
    day = F.to_date("txn_time")
    first = as_of - dt.timedelta(days=window_days - 1)
    return transactions_df.where((day >= F.lit(first)) & (day <= F.lit(as_of)))


def _by_vertex(txn_df: DataFrame) -> DataFrame:
    """The transfers with their two accounts' vertex ids (longs) in place of the tokens.

    Every table of the account graph is keyed by them: 8 bytes where a token takes 64, in each of the many
    shuffles, sorts and joins by account (the same ids as the joint graph's, :func:`features.graphs.vertex`).
    """
    return txn_df.withColumns(
        {side: G.vertex(G.ACCOUNT, side) for side in ("src_account", "dst_account")}
    )


def money_pairs(transactions_df: DataFrame) -> MoneyPairs:
    """The pair graph of the transfers as given (window them first: :func:`window_transactions`).

    Its nodes are account vertex ids (``features.graphs.vertex(ACCOUNT, token)``).
    Runs one Spark job (the listing's hub keys, :meth:`Hubs.of`): the neighbours' degrees are computed then.
    """
    require_columns(transactions_df, KNOWN_FRAUD_TXN_COLUMNS, "money pairs transactions")
    edges, atm_sources = _pair_graph(_by_vertex(transactions_df))
    edges = _reuse(edges)
    neighbours = _reuse(_neighbours(edges))
    # Read by the listing's two joins and by the clustering.
    degree = _reuse(_degrees(neighbours))
    hubs = Hubs.of(degree.where(F.col("deg") > JOIN_HUB_DEGREE), ID)
    triangles = _reuse(_closed_triangles(neighbours, degree, hubs))
    return MoneyPairs(edges, atm_sources, neighbours, degree, triangles)


def _identity_features(accounts_df: DataFrame, as_of: dt.date) -> DataFrame:
    """Snapshot facts: age, type, and how many accounts share the holder or the bound number."""
    accounts = accounts_df.where(F.col("account_id").isNotNull()).dropDuplicates(["account_id"])
    per_holder = Window.partitionBy("holder_id_number")
    per_msisdn = Window.partitionBy("bound_msisdn")
    holder_accounts = F.when(F.col("holder_id_number").isNotNull(), F.count("*").over(per_holder))
    msisdn_accounts = F.when(F.col("bound_msisdn").isNotNull(), F.count("*").over(per_msisdn))
    return accounts.select(
        G.vertex(G.ACCOUNT, "account_id").alias(ID),
        F.col("account_id").alias(ENTITY),
        F.col("holder_id_number").alias("holder"),
        F.datediff(F.lit(as_of), F.col("open_date")).alias("account_age_days"),
        (F.col("account_type") == "corporate").cast("int").alias("is_corporate"),
        holder_accounts.alias("holder_accounts"),
        msisdn_accounts.alias("msisdn_accounts"),
        F.coalesce(msisdn_accounts > 1, F.lit(False)).cast("int").alias("has_shared_msisdn"),
    )


def account_features(
    transactions_df: DataFrame,
    accounts_df: DataFrame,
    *,
    as_of: dt.date,
    window_days: int,
    hub_degree: int = HUB_DEGREE,
    pairs: MoneyPairs | None = None,
    with_id: bool = False,
) -> DataFrame:
    """One row per account of the bank's snapshot with a transfer in the window ending ``as_of``.

    ``pairs``: the window's pair graph when the caller built it (:func:`money_pairs` of
    :func:`window_transactions`, to share it with :func:`known_fraud_features`); built here otherwise.

    Output: ``entity_token`` then :data:`ACCOUNT_FEATURES` (the flow
    aggregates :data:`FLOW_FEATURES`, then :data:`NETWORK_FEATURES`);
    ``with_id``: the account's vertex ``id`` first (to join other parts by it).

    - Amounts are CNY as doubles. Counts are 0 for a direction with no
      transfer; ratios, means, medians, minima and coefficients of variation
      are null when there is nothing to take them over (no incoming transfer,
      fewer than two amounts or gaps, no money neighbour).
    - ``counterparties`` and the in/out distinct counts include ATM terminals;
      the network features use money edges only (pairs with a non-ATM
      transfer), so an account whose only transfers are ATM withdrawals has
      null ``peers_*`` and ``payers_*`` features and 0 unrelated payers.
    - Dwell: hours from each incoming transfer to the next outgoing one (any
      channel); ``forwarded_1h_share``/``forwarded_24h_share`` weigh incoming
      transfers by amount.
    - ``hops_to_cash_out``: 1 when the account withdraws at an ATM itself, k
      when money it sends reaches a withdrawing node in k - 1 transfers, and
      ``MAX_CASH_OUT_HOPS + 1`` (4) when none within the cap. The graph is the
      window's pairs, not time-ordered paths.
    - Return flow: ``reciprocal_counterparties`` (2 transfers),
      ``cycle3_paths`` (distinct ``x, y`` with A -> x -> y -> A),
      ``cycle4_midpoints`` (distinct y reached from A in 2 transfers that
      reach A in 2), ``return_flow_hops`` the fewest of 2/3/4 or 5 for none.
    - Counterparties' amount routine: a transfer is off-mode when its amount
      is not the payer's most frequent amount in the window (the smallest on
      a tie); ``payees_max_off_mode_share``/``payees_mean_off_mode_share`` are
      the max/mean over the account's payees of the share of each payee's
      incoming transfers that are off-mode (null with no money payee).
    - Neighbourhood: ``peers_*`` aggregate the money neighbours (mean, max);
      ``peers_max_clustering`` is the highest clustering among them and
      ``peers_mean_peers_clustering`` the mean over them of their own
      ``peers_mean_clustering`` (two hops out).
    - ``holder_accounts``/``msisdn_accounts``: accounts of the snapshot with
      the same holder/bound number token, null when the token is null;
      ``has_shared_msisdn`` is 1 when the bound number serves several accounts.
    - Rows with a null account on one side count for the other side only and
      are no graph edge; null amounts count as transfers but add nothing;
      transfers without a time, or outside the window, are ignored.
      Self-transfers count in the flows but are no edge.

    Nodes with more than ``hub_degree`` distinct money counterparties are not
    passed through when searching payer links and return-flow paths, which
    bounds the cost of those searches.
    """
    require_columns(transactions_df, TXN_COLUMNS, "account_features transactions")
    require_columns(accounts_df, ACCOUNT_COLUMNS, "account_features accounts")
    txn = window_transactions(transactions_df, as_of=as_of, window_days=window_days)

    # Tables read by several features are materialised once (lazily, on the first action): the
    # plan stays small and each is computed once rather than once per feature that reads it.
    sides = _reuse(_sides(_with_payer_routine(_by_vertex(txn))))
    if pairs is None:
        pairs = money_pairs(txn)
    edges, atm_sources, neighbours = pairs.edges, pairs.atm_sources, pairs.neighbours
    # Read by the flow features and the node statistics alike.
    sums = _reuse(_account_sums(sides))
    nodes = _reuse(_node_stats(edges, sums, hub_degree=hub_degree))
    # Few nodes: joins keyed by a node meet a hub's many rows by broadcast, not in one task.
    hubs = Hubs.of(nodes.where(F.col("is_hub")), NODE)
    identity = _reuse(_identity_features(accounts_df, as_of))
    returns = _reuse(_return_flow(edges, hubs))
    triangles = _reuse(_triangles(pairs.degree, pairs.triangles))
    cash_out = _hops_to_cash_out(edges, atm_sources, hubs)
    peers = _reuse(_peer_features(neighbours, nodes, returns, triangles, hubs))

    counts = [
        "reciprocal_counterparties",
        "cycle3_paths",
        "cycle4_midpoints",
        "unrelated_payers",
        "triangles",
        "max_common_counterparties",
        "triangle_peers",
    ]
    return (
        identity.join(sums, on=ID, how="inner")
        .join(_pair_side_features(sides), on=ID, how="left")
        .join(_timing_features(sides), on=ID, how="left")
        .join(
            _payer_features(edges, neighbours, nodes, identity.where(F.col("holder").isNotNull()), hubs),
            on=ID,
            how="left",
        )
        .join(peers, on=ID, how="left")
        .join(_second_hop_features(neighbours, peers, hubs), on=ID, how="left")
        .join(_payee_features(edges, nodes, hubs), on=ID, how="left")
        .join(returns, on=ID, how="left")
        .join(triangles, on=ID, how="left")
        .join(cash_out, on=ID, how="left")
        .fillna(0, subset=[*counts, "in_distinct", "out_distinct", "counterparties", "active_days"])
        .withColumn("return_flow_hops", F.coalesce(F.col("return_flow_hops"), F.lit(NO_RETURN)))
        .withColumn("hops_to_cash_out", F.coalesce(F.col("hops"), F.lit(MAX_CASH_OUT_HOPS + 1)))
        .withColumn("out_atm_share", safe_ratio(F.col("out_atm_amount"), F.col("out_amount")))
        .withColumn("pass_through_ratio", safe_ratio(F.col("out_amount"), F.col("in_amount")))
        .select(*([ID] if with_id else []), ENTITY, *ACCOUNT_FEATURES)
    )


def known_fraud_features(
    transactions_df: DataFrame, seeds_df: DataFrame, *, pairs: MoneyPairs | None = None
) -> DataFrame:
    """How close each node of the money graph sits to known fraud accounts (the seeds).

    ``pairs``: the transactions' pair graph when the caller built it (:func:`money_pairs`), shared with
    :func:`account_features`; built here otherwise.

    ``seeds_df``: ``entity_token`` of the known fraud accounts (nulls and
    repeats ignored; a seed that is no graph node changes nothing). The
    graph is :func:`account_features`' pair graph over the transactions as
    given (no window is applied): one undirected edge per pair with a
    non-ATM transfer; self-transfers and rows with a null end are no edge.

    Output: ``entity_token`` then :data:`KNOWN_FRAUD_FEATURES`, one row per
    node with a money neighbour, nodes outside the bank's snapshot included
    (join the rows you describe). A node with no money neighbour gets no
    row; read it as 0, null, 0.

    - ``known_fraud_peers``: money neighbours that are seeds;
    - ``known_fraud_share``: that over its money neighbours;
    - ``known_fraud_triangles``: triangles through the node in which at
      least one of the two other corners is a seed.

    Leave-self-out by construction: no value reads the node's own seed
    flag (a node is never its own neighbour nor another corner of its
    triangles), so a seed and a non-seed with the same neighbourhood get the
    same values, and a labelled row's label never enters its own features.
    """
    require_columns(transactions_df, KNOWN_FRAUD_TXN_COLUMNS, "known_fraud_features transactions")
    require_columns(seeds_df, (ENTITY,), "known_fraud_features seeds")
    if pairs is None:
        pairs = money_pairs(transactions_df)
    seeds = seeds_df.select(G.vertex(G.ACCOUNT, ENTITY).alias(ID)).where(F.col(ID).isNotNull())
    tokens = transactions_df.select("src_account").union(transactions_df.select("dst_account"))
    return G.by_token(known_fraud_by_id(pairs, seeds), tokens, G.ACCOUNT)


def known_fraud_by_id(pairs: MoneyPairs, seeds_df: DataFrame) -> DataFrame:
    """:func:`known_fraud_features` keyed by the nodes' vertex ids: ``id`` then :data:`KNOWN_FRAUD_FEATURES`.

    ``seeds_df``: the seeds' vertex ids (``id``; nulls never match, repeats change nothing).
    """
    require_columns(seeds_df, (ID,), "known_fraud_by_id seeds")
    # Labelled accounts are few next to the graph: with_member_flag broadcasts them to every join.
    seeds = seeds_df.select(ID).distinct()

    def with_seed_flag(df: DataFrame, on: str, name: str) -> DataFrame:
        return with_member_flag(df, seeds, key=ID, on=on, name=name)

    peers = (
        with_seed_flag(pairs.neighbours, "peer", "peer_seed")
        .groupBy(ID)
        .agg(F.count("*").alias("deg"), F.sum("peer_seed").alias("known_fraud_peers"))
    )
    closed = pairs.triangles
    for corner in ("u", "v", "w"):
        closed = with_seed_flag(closed, corner, f"{corner}_seed")

    def corner(node: str, other: str, third: str) -> Column:
        return F.struct(
            F.col(node).alias(ID),
            ((F.col(f"{other}_seed") + F.col(f"{third}_seed")) > 0).alias("has_seed"),
        )

    seeded_triangles = (
        closed.select(
            F.explode(F.array(corner("u", "v", "w"), corner("v", "u", "w"), corner("w", "u", "v"))).alias("c")
        )
        .where(F.col("c.has_seed"))
        .groupBy(F.col(f"c.{ID}").alias(ID))
        .agg(F.count("*").alias("known_fraud_triangles"))
    )
    return peers.join(seeded_triangles, on=ID, how="left").select(
        ID,
        "known_fraud_peers",
        safe_ratio(F.col("known_fraud_peers"), F.col("deg")).alias("known_fraud_share"),
        F.coalesce(F.col("known_fraud_triangles"), F.lit(0)).alias("known_fraud_triangles"),
    )
