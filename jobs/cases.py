"""The day's cases: flagged parties grouped through strong ties, with lasting ids, written to ``LAKE/cases/dt=D``.

Run by ``fraud score`` after the scores are written; it then fills the score
rows' ``cluster_id`` with the case id of each member and writes the analysts'
report (``LAKE/reports/dt=D/cases/``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cases.assemble import build_cases, case_sources
from cases.clusters import clusters
from cases.identity import CASE_ID, FIRST_SEEN
from cases.report import write_report
from cases.ties import case_ties
from features import graphs as G
from features.common import ENTITY, cut_lineage
from features.exposure import memberships
from features.window import event_window
from fraudgraph import contract as C
from fraudgraph.config import Config
from fraudgraph.lake import DT, Lake, partition_days, partition_path, write_partitions
from fraudgraph.spark import released_at_end
from ingestion.pseudonymise import MASKED_SUFFIX
from jobs.features import exposures_until, sources_on, window_days

log = logging.getLogger(__name__)

KIND_OF_TYPE = {C.MSISDN: G.NUMBER, C.ACCOUNT: G.ACCOUNT}
DIFF_FILE = "_diff.json"  # Spark skips files starting with "_" when it reads the partition


def vertex_of_type(entity_type: F.Column, token: F.Column) -> F.Column:
    return F.when(entity_type == C.MSISDN, G.vertex(G.NUMBER, token)).when(entity_type == C.ACCOUNT, G.vertex(G.ACCOUNT, token))


def flagged_parties(scores: DataFrame, *, top_k: int, min_score: float) -> DataFrame:
    """``id`` of the day's parties in their type's top ``top_k`` or scored at least ``min_score``."""
    flagged = (F.col("risk_rank") <= top_k) | (F.col("risk_score") >= min_score)
    return scores.where(flagged).select(vertex_of_type(F.col("entity_type"), F.col(ENTITY)).alias("id"))


def party_names(snapshot: DataFrame, column: str, kind: int, entity_type: str) -> DataFrame:
    """``id, entity_type, entity_token, masked`` of a snapshot's parties (masked null in a lake from before masks)."""
    masked = column + MASKED_SUFFIX
    return snapshot.select(
        G.vertex(kind, column).alias("id"), F.lit(entity_type).alias("entity_type"), F.col(column).alias(ENTITY),
        (F.col(masked) if masked in snapshot.columns else F.lit(None).cast("string")).alias("masked"),
    )


def previous_members(spark: SparkSession, lake: Lake, day: dt.date) -> DataFrame | None:
    """The members of the last cases written before ``day`` (``case_id, entity_token, first_seen``), or None."""
    earlier = [d for d in partition_days(lake.cases) if d < day]
    if not earlier:
        return None
    last = spark.read.parquet(str(partition_path(lake.cases, earlier[-1])))
    return (
        last.select(CASE_ID, FIRST_SEEN, F.explode("members").alias("m"))
        .where(F.col("m.entity_token").isNotNull())
        .select(CASE_ID, F.col("m.entity_token").alias(ENTITY), FIRST_SEEN)
    )


def run_cases(spark: SparkSession, cfg: Config, *, lake: Lake, day: dt.date) -> dict:
    """Write ``LAKE/cases/dt=D`` from the day's scores and fill their ``cluster_id``; returns the day's diff.

    What it caches and checkpoints is freed before it returns.
    """
    with released_at_end(spark):
        return _write_cases(spark, cfg, lake=lake, day=day)


def _write_cases(spark: SparkSession, cfg: Config, *, lake: Lake, day: dt.date) -> dict:
    days = window_days(day, cfg.window.days)
    scores_dir = partition_path(lake.scores, day)
    scores = spark.read.parquet(str(scores_dir)).cache()
    flagged = flagged_parties(scores, top_k=cfg.cases.top_k, min_score=cfg.cases.min_score).cache()
    window = event_window(lake.read_clean(spark, C.CALLS, days), lake.read_clean(spark, C.SMS, days), as_of=day,
                          window_days=cfg.window.days)
    transactions = lake.read_clean(spark, C.TRANSACTIONS, days)
    subscribers = lake.read_clean_snapshot(spark, C.SUBSCRIBERS, day)
    accounts = lake.read_clean_snapshot(spark, C.ACCOUNTS, day)
    # Materialised with its lineage cut, not cached: a cached frame keeps its plan (the window's calls and
    # transfers, the snapshots, the bridges), which Spark analysed again for every frame the clustering
    # builds on it, and planned again for each of its components' iterations (10M calls: the clustering 12
    # s instead of 19.6 s once warm, bench/README.md).
    ties = cut_lineage(case_ties(window, transactions, subscribers, accounts, flagged, params=cfg.graph))
    # Materialised with its lineage cut: the components' iterations make a long plan that every reader repeats.
    members = cut_lineage(clusters(flagged, ties, max_members=cfg.cases.max_members, max_linked=cfg.cases.max_linked))
    names = party_names(subscribers, "msisdn", G.NUMBER, C.MSISDN).unionByName(
        party_names(accounts, "account_id", G.ACCOUNT, C.ACCOUNT)
    ).where(F.col(ENTITY).isNotNull()).dropDuplicates(["id"])
    cases, membership, gone = build_cases(
        members, ties, scores, names, previous_members(spark, lake, day), day=day, max_transfers=cfg.cases.max_transfers
    )
    membership = membership.cache()
    # The leak sources each case's numbers dial from: the evidence of how the ring finds its victims.
    sources = case_sources(
        membership, window.calls, memberships(exposures_until(spark, lake, day), subscribers, as_of=day),
        sources_on(spark, lake, day), people=subscribers.count(),
    )
    cases = cases.join(sources, on=CASE_ID, how="left").withColumn(
        "leak_sources", F.coalesce(F.col("leak_sources"), F.array().cast(sources.schema["leak_sources"].dataType))
    )
    cases = cut_lineage(cases)  # the scores are rewritten below from the same plan's inputs
    write_partitions(cases.withColumn(DT, F.lit(day.isoformat())), lake.cases, days=[day.isoformat()])
    target = partition_path(lake.cases, day)
    if not target.is_dir():  # nothing flagged: an empty partition that still has the columns
        cases.limit(0).write.mode("overwrite").parquet(str(target))
    written = spark.read.parquet(str(target))
    # The score rows get their case id; cut the lineage first, since the partition read is the one replaced.
    with_cases = cut_lineage(
        scores.drop("cluster_id")
        .join(membership.withColumnRenamed(CASE_ID, "cluster_id"), on=["entity_type", ENTITY], how="left")
        .select(*scores.columns)
    )
    write_partitions(with_cases.withColumn(DT, F.lit(day.isoformat())), lake.scores, days=[day.isoformat()])
    changes = {r["change"]: r["n"] for r in written.groupBy("change").agg(F.count(F.lit(1)).alias("n")).collect()}
    quiet = sorted(r[CASE_ID] for r in gone.collect())  # earlier cases: bounded by the flagged parties of a day
    diff = {"date": day.isoformat(), "cases": sum(changes.values()), "changes": changes, "gone_quiet": quiet}
    (target / DIFF_FILE).write_text(json.dumps(diff, indent=2) + "\n", encoding="utf-8")
    report = write_report(lake, day)
    log.info("cases of %s: %s", day, diff)
    return {"path": str(target), "report": str(report), **diff}
