"""What a case holds: its members, its typology, the evidence and a timeline, one row per case.

From the day's clusters (:mod:`cases.clusters`), their lasting ids
(:mod:`cases.identity`), the strong ties with their evidence
(:mod:`cases.ties`) and the day's scores, each case row carries:

- ``members``: every member with its kind, role (flagged, connector, linked),
  token and masked number (numbers and accounts of the snapshots; ``138****8000``), score, rank and reasons, centrality in the
  case and ties, flagged first and riskiest first;
- counts: flagged numbers and accounts, shared handsets and ID numbers,
  linked parties; ``risk``, the chance that at least one flagged member is a
  positive (a noisy-or of their calibrated scores, each capped at 0.999, so a
  ring of several likely members outranks a lone one), ``max_risk`` and
  ``mean_risk``;
- evidence: ``victims`` (unflagged accounts that paid a flagged account of
  the case) and ``loss`` (what they paid it), ``transfers`` (the money paths
  inside the case, largest first, with amounts and times), ``bridges`` and
  ``co_targeting`` pairs, and ``edges`` (every tie inside the case, for the
  report's graph);
- ``first_time`` and ``last_time``: the timeline of the money and bridges;
- ``typology`` by explicit rules over the above: ``sim_farm`` (three or more
  flagged numbers on one handset or ID number), ``mule_chain`` (money between
  two flagged accounts), ``call_centre`` (flagged numbers co-targeting, or a
  call-then-transfer bridge), ``mixed`` when two or more hold, ``single`` for
  one flagged party and ``other`` otherwise;
- ``case_rank``: 1 for the riskiest case of the day (then the larger loss).

The members' ``risk_score`` is a probability (``models.calibration``), which is
what makes the noisy-or meaningful.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from cases.clusters import CLUSTER, CONNECTOR, FLAGGED, LINKED
from cases.identity import CASE_ID, assign_case_ids
from cases.ties import TIE
from features import graphs as G
from features.common import ENTITY

CASE_COLUMNS = (
    CASE_ID, "case_rank", "typology", "change", "first_seen", "merged_from", "split_from", "risk", "max_risk", "mean_risk",
    "flagged_numbers", "flagged_accounts", "shared_handsets", "shared_id_numbers", "linked", "victims", "loss",
    "bridges", "co_targeting", "first_time", "last_time", "members", "transfers", "edges",
)
MAX_MEMBER_RISK = 0.999


def _role_order() -> Column:
    """Flagged members first, then linked, then connectors (a function: columns need an active session)."""
    return F.when(F.col("role") == FLAGGED, 0).when(F.col("role") == CONNECTOR, 2).otherwise(1)


def _count(condition: Column) -> Column:
    return F.count(F.when(condition, F.lit(1)))


def build_cases(
    members: DataFrame,
    ties: DataFrame,
    scores: DataFrame,
    names: DataFrame,
    previous: DataFrame | None,
    *,
    day: dt.date,
    max_transfers: int,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Case rows (:data:`CASE_COLUMNS`), the members' case ids (``entity_type, entity_token, case_id``) and the
    cases gone quiet.

    ``names``: ``id, entity_type, entity_token, masked`` of the numbers and accounts; ``scores``: the day's score
    rows; ``previous``: the last cases' members (``case_id, entity_token, first_seen``) or None.
    """
    named = (
        members.join(names, on="id", how="left")
        .join(scores.select("entity_type", ENTITY, "risk_score", "risk_rank", "reasons"), on=["entity_type", ENTITY], how="left")
        .cache()
    )
    ids, gone = assign_case_ids(named.select(CLUSTER, ENTITY), previous, day=day)
    ids = ids.cache()
    member = F.struct(
        _role_order().alias("_order"), (-F.coalesce(F.col("risk_score"), F.lit(-1.0))).alias("_risk"),
        F.col("id").cast("string").alias("id"), "kind", "role", "entity_type", F.col(ENTITY).alias("entity_token"), "masked",
        "risk_score", "risk_rank", "reasons", "centrality", "ties",
    )
    per_case = named.groupBy(CLUSTER).agg(
        F.transform(F.sort_array(F.collect_list(member)), lambda m: m.dropFields("_order", "_risk")).alias("members"),
        _count((F.col("role") == FLAGGED) & (F.col("kind") == G.NUMBER)).alias("flagged_numbers"),
        _count((F.col("role") == FLAGGED) & (F.col("kind") == G.ACCOUNT)).alias("flagged_accounts"),
        _count((F.col("role") == CONNECTOR) & (F.col("kind") == G.DEVICE)).alias("shared_handsets"),
        _count((F.col("role") == CONNECTOR) & (F.col("kind") == G.ID_NUMBER)).alias("shared_id_numbers"),
        _count(F.col("role") == LINKED).alias("linked"),
        (1.0 - F.exp(F.sum(F.when(F.col("role") == FLAGGED, F.log1p(-F.least(F.col("risk_score"), F.lit(MAX_MEMBER_RISK)))))))
        .alias("risk"),
        F.max("risk_score").alias("max_risk"),
        F.avg(F.when(F.col("role") == FLAGGED, F.col("risk_score"))).alias("mean_risk"),
    )
    ends = named.select("id", CLUSTER, "role", ENTITY)
    inside = (
        ties.join(ends.select(F.col("id").alias(G.SRC), CLUSTER, F.col("role").alias("src_role"), F.col(ENTITY).alias("src_token")), on=G.SRC)
        .join(ends.select(F.col("id").alias(G.DST), F.col(CLUSTER).alias("_dst_cluster"), F.col("role").alias("dst_role"),
                          F.col(ENTITY).alias("dst_token")), on=G.DST)
        .where(F.col(CLUSTER) == F.col("_dst_cluster"))
        .cache()
    )
    money = F.col(TIE) == "money"
    paid_in = money & (F.col("src_role") == LINKED) & (F.col("dst_role") == FLAGGED)
    transfer = F.struct(
        (-F.col("amount")).alias("_amount"), F.col("src_token").alias("src"), F.col("dst_token").alias("dst"),
        "amount", "transfers", "first_time", "last_time",
    )
    evidence = inside.groupBy(CLUSTER).agg(
        F.countDistinct(F.when(paid_in, F.col(G.SRC))).alias("victims"),
        F.sum(F.when(paid_in, F.col("amount"))).alias("loss"),
        F.slice(F.transform(F.sort_array(F.collect_list(F.when(money, transfer))), lambda t: t.dropFields("_amount")),
                1, max_transfers).alias("transfers"),
        _count((F.col(TIE) == "money") & (F.col("src_role") == FLAGGED) & (F.col("dst_role") == FLAGGED)).alias("_mule_links"),
        _count(F.col(TIE) == "bridge").alias("bridges"),
        _count(F.col(TIE) == "co_target").alias("co_targeting"),
        F.min("first_time").alias("first_time"),
        F.max(F.coalesce("last_time", "first_time")).alias("last_time"),
        F.sort_array(F.collect_list(F.struct(F.col(G.SRC).cast("string").alias("src"), F.col(G.DST).cast("string").alias("dst"), TIE))).alias("edges"),
    )
    # Flagged numbers on one handset or ID number: the largest such group per case.
    farms = (
        inside.where((F.col("dst_role") == CONNECTOR) & (F.col("src_role") == FLAGGED) & G.is_kind(G.SRC, G.NUMBER))
        .groupBy(CLUSTER, G.DST)
        .agg(F.countDistinct(G.SRC).alias("on_one"))
        .groupBy(CLUSTER)
        .agg(F.max("on_one").alias("_farm"))
    )
    cases = (
        per_case.join(evidence, on=CLUSTER, how="left")
        .join(farms, on=CLUSTER, how="left")
        .join(ids.drop("members"), on=CLUSTER)
        .fillna(0, subset=["victims", "bridges", "co_targeting", "_mule_links", "_farm"])
        .fillna(0.0, subset=["loss"])
        .withColumn("transfers", F.coalesce("transfers", F.array().cast("array<struct<src:string,dst:string,amount:double,transfers:bigint,first_time:timestamp_ntz,last_time:timestamp_ntz>>")))
        .withColumn("edges", F.coalesce("edges", F.array().cast("array<struct<src:string,dst:string,tie:string>>")))
    )
    rules = [
        ("sim_farm", F.col("_farm") >= 3),
        ("mule_chain", (F.col("_mule_links") > 0) & (F.col("flagged_accounts") >= 2)),
        ("call_centre", ((F.col("co_targeting") > 0) | (F.col("bridges") > 0)) & (F.col("flagged_numbers") >= 1)),
    ]
    held = F.array_compact(F.array(*[F.when(condition, F.lit(name)) for name, condition in rules]))
    typology = (
        F.when(F.size(held) >= 2, F.lit("mixed"))
        .when(F.size(held) == 1, held[0])
        .when(F.col("flagged_numbers") + F.col("flagged_accounts") == 1, F.lit("single"))
        .otherwise(F.lit("other"))
    )
    rank = F.row_number().over(Window.orderBy(F.col("risk").desc_nulls_last(), F.col("loss").desc(), F.col(CASE_ID)))
    cases = cases.withColumn("typology", typology).withColumn("case_rank", rank.cast("int")).select(*CASE_COLUMNS)
    membership = (
        named.where(F.col(ENTITY).isNotNull())
        .join(ids.select(CLUSTER, CASE_ID), on=CLUSTER)
        .select("entity_type", ENTITY, CASE_ID)
    )
    return cases, membership, gone


def with_flagged_members(cases: DataFrame) -> DataFrame:
    """The case rows that still have a flagged member: a case whose flagged parties were all taken out (a person
    deleted on request, ``fraud subject delete``) was about them alone and goes with them."""
    return cases.where(F.exists("members", lambda m: m["role"] == FLAGGED))


def case_sources(
    membership: DataFrame, calls: DataFrame, exposed: DataFrame, sources: DataFrame, *, people: int, top: int = 3
) -> DataFrame:
    """``case_id, leak_sources``: the leak sources the case's numbers dial from, most contacts first.

    ``membership``: the members' case ids (:func:`build_cases`); ``calls``: the window's keyed calls (``src``,
    ``dst`` vertex ids); ``exposed``: ``features.exposure.memberships`` (number ``id``, ``source_id``);
    ``sources``: the leak-source snapshot (``source_id, name, source_type``); ``people``: the subscribers.
    Per source: the case's callees it holds, their share of the case's callees, and the lift of that share
    over the source's share of all subscribers.
    """
    # The cases' numbers: a few thousand at most (the day's flagged and what they tie), so broadcast: the
    # window's calls are filtered where they lie instead of shuffled by caller to meet them.
    callers = F.broadcast(membership.where(F.col("entity_type") == "msisdn").select(
        CASE_ID, G.vertex(G.NUMBER, ENTITY).alias(G.SRC)
    ))
    callees = calls.select(G.SRC, G.DST).join(callers, on=G.SRC).select(CASE_ID, F.col(G.DST).alias("id")).distinct().cache()
    totals = callees.groupBy(CASE_ID).agg(F.count(F.lit(1)).alias("_callees"))
    size = exposed.groupBy("source_id").agg(F.countDistinct("id").alias("_size"))
    named = sources.select("source_id", "name", "source_type")
    found = (
        callees.join(exposed.select("id", "source_id"), on="id")
        .groupBy(CASE_ID, "source_id")
        .agg(F.count(F.lit(1)).alias("contacts"))
        .join(totals, on=CASE_ID)
        .join(size, on="source_id")
        .join(named, on="source_id", how="left")
        .withColumn("share", F.col("contacts") / F.col("_callees"))
        .withColumn("lift", F.col("share") / (F.col("_size") / F.lit(max(people, 1))))
    )
    ranked = F.struct(
        (-F.col("contacts")).alias("_contacts"), "source_id", "name", "source_type", "contacts", "share", "lift"
    )
    return found.groupBy(CASE_ID).agg(
        F.slice(F.transform(F.sort_array(F.collect_list(ranked)), lambda s: s.dropFields("_contacts")), 1, top).alias(
            "leak_sources"
        )
    )
