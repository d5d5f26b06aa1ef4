"""The strong ties around the day's flagged parties, with the evidence an analyst reads.

One row per tie (:data:`TIE_EVIDENCE`), vertex ids of ``features.graphs``:

- ``number_device``, ``number_id``, ``account_id``, ``account_number``: the
  window's identity links, except those to a hub (a handset, ID number or
  bound number shared by more than ``graph.max_shared`` parties);
- ``money``: transfers between two accounts, at least one of them flagged
  (count, amount, first and last time);
- ``bridge``: number X called party P and P then paid account A within
  ``graph.bridge_hours`` (X or A flagged; count, amount, first time);
- ``co_target``: two flagged numbers that called at least
  ``graph.co_target_min_overlap`` of the same people in the window (the count
  of shared callees in ``transfers``); callees called by more than
  ``graph.co_target_max_callers`` flagged numbers are skipped.

Only ties that touch a flagged party are kept beyond the identity links. The
bridges are built around the flagged parties only (``bridge_events(around=)``:
their calls, and the calls to people who paid a flagged account, meet the
transfers), and co-targeting reads the flagged numbers' calls: those costs follow
the flagged set. The money pairs are grouped from the whole window's transfers.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features import graphs as G
from features.common import with_member_flag
from features.window import EventWindow
from fraudgraph.config import GraphConf

TIE = "tie"
TIE_EVIDENCE = (G.SRC, G.DST, TIE, "transfers", "amount", "first_time", "last_time")


def _evidence(df: DataFrame, tie: str | Column, **columns: Column) -> DataFrame:
    values = {name: columns.get(name, F.lit(None)) for name in ("transfers", "amount", "first_time", "last_time")}
    return df.select(
        G.SRC, G.DST, (F.lit(tie) if isinstance(tie, str) else tie).alias(TIE),
        values["transfers"].cast("long").alias("transfers"),
        values["amount"].cast("double").alias("amount"),
        values["first_time"].cast("timestamp_ntz").alias("first_time"),
        values["last_time"].cast("timestamp_ntz").alias("last_time"),
    )


def case_ties(
    window: EventWindow,
    transactions_df: DataFrame,
    subscribers_df: DataFrame,
    accounts_df: DataFrame,
    flagged_ids: DataFrame,
    *,
    params: GraphConf,
) -> DataFrame:
    """The strong ties of the window ending ``window.as_of`` around ``flagged_ids`` (column ``id``)."""
    flagged = F.broadcast(flagged_ids.select("id").distinct())  # the day's flagged parties: bounded by the top k
    links = G.identity_links(window.handsets, subscribers_df, accounts_df)
    identity = _evidence(
        links.withColumn("_members", F.count(F.lit(1)).over(Window.partitionBy(G.DST))).where(
            F.col("_members") <= params.max_shared
        ),
        F.col(G.KIND),
    )

    def touching(edges: DataFrame) -> DataFrame:
        # One reading of the edges (one row per pair), each end looked up in the broadcast flagged set: a
        # union of a join on each end made Spark compute the edges, and the bridge events under them, twice.
        for end in (G.SRC, G.DST):
            edges = with_member_flag(edges, flagged, key="id", on=end, name=f"_{end}_flagged")
        return edges.where((F.col(f"_{G.SRC}_flagged") + F.col(f"_{G.DST}_flagged")) > 0).drop(
            f"_{G.SRC}_flagged", f"_{G.DST}_flagged"
        )

    money = _evidence(
        touching(G.money_graph(transactions_df)), "money",
        transfers=F.col("transfers"), amount=F.col("amount"), first_time=F.col("first_time"), last_time=F.col("last_time"),
    )
    events = G.bridge_events(
        window.calls, transactions_df, accounts_df, hours=params.bridge_hours, min_duration_s=params.bridge_min_call_s,
        around=flagged,
    )
    bridges = _evidence(
        touching(G.money_bridges(events)), "bridge",
        transfers=F.col("transfers"), amount=F.col("amount"), first_time=F.col("first_time"),
    )
    dialled = (
        window.calls.select(G.SRC, G.DST)
        .join(flagged.withColumnRenamed("id", G.SRC), on=G.SRC)
        .where(F.col(G.DST).isNotNull() & (F.col(G.SRC) != F.col(G.DST)))
        .distinct()
        .withColumn("_callers", F.count(F.lit(1)).over(Window.partitionBy(G.DST)))
        .where(F.col("_callers") <= params.co_target_max_callers)
        .select(F.col(G.SRC).alias("caller"), F.col(G.DST).alias("callee"))
    )
    co_target = (
        dialled.alias("x")
        .join(dialled.alias("y"), on="callee")
        .where(F.col("x.caller") < F.col("y.caller"))
        .groupBy(F.col("x.caller").alias(G.SRC), F.col("y.caller").alias(G.DST))
        .agg(F.count(F.lit(1)).alias("shared"))
        .where(F.col("shared") >= params.co_target_min_overlap)
    )
    co_target = _evidence(co_target, "co_target", transfers=F.col("shared"))
    return identity.unionByName(money).unionByName(bridges).unionByName(co_target)
