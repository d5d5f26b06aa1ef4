"""fraud evaluate: a day's scores against the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.config import Config
from fraudgraph.errors import MissingInput
from fraudgraph.lake import Lake, partition_path
from fraudgraph.pseudo import token_col
from fraudgraph.spark import to_pandas
from models.metrics import group_recall_at_k, ranking_metrics

# Roles in the simulator's truth that count as positives.
POSITIVE_ROLES = {C.MSISDN: ("fraud",), C.ACCOUNT: ("mule_l1", "mule_l2", "collector")}
TRUTH_TABLES = {C.MSISDN: ("numbers.parquet", "msisdn"), C.ACCOUNT: ("accounts.parquet", "account_id")}


def truth(spark: SparkSession, world: Path, entity_type: str, key: bytes):
    """The world's truth for ``entity_type`` on tokens: ``entity_token``, ``is_positive`` (0/1), ``ring_id`` of positives."""
    table, id_column = TRUTH_TABLES[entity_type]
    positive = F.col("role").isin(list(POSITIVE_ROLES[entity_type]))
    return spark.read.parquet(str(world / "truth" / table)).select(
        token_col(key, entity_type, F.col(id_column)).alias("entity_token"),
        positive.cast("int").alias("is_positive"),
        F.when(positive, F.col("ring_id")).alias("ring_id"),
    )


def run_evaluate(spark: SparkSession, cfg: Config, *, world: Path, lake: Lake, day: dt.date, key: bytes) -> dict:
    """Average precision, ROC-AUC, precision and recall at k, and rings touched in the top k, per entity type.

    Truth identifiers are tokenised with the same key as the lake, so the
    comparison happens on tokens; a scored entity absent from the truth
    counts as a negative.
    """
    scores_dir = partition_path(lake.scores, day)
    if not scores_dir.is_dir():
        raise MissingInput(f"no scores for {day} in {lake.root}: run fraud score first")
    if not (world / "truth").is_dir():
        raise MissingInput(f"no ground truth under {world}/truth: is {world} a simulated world?")
    lake.check_key(key)  # tokens of the truth must be made with the lake's key
    scores_df = spark.read.parquet(str(scores_dir))
    k = cfg.analyst.capacity_k
    result: dict = {"date": day.isoformat(), "k": k}
    for entity_type in TRUTH_TABLES:
        truth_df = truth(spark, world, entity_type, key)
        rows = to_pandas(
            scores_df.where(F.col("entity_type") == entity_type)
            .join(truth_df, on="entity_token", how="left")
            .select("risk_score", F.coalesce("is_positive", F.lit(0)).alias("is_positive"), "ring_id")
        )
        metrics = ranking_metrics(rows["is_positive"].to_numpy(), rows["risk_score"].to_numpy(), k)
        metrics.update(group_recall_at_k(rows["ring_id"].to_numpy(), rows["risk_score"].to_numpy(), k))
        result[entity_type] = metrics
    cases_dir = partition_path(lake.cases, day)
    if cases_dir.is_dir():
        result["cases"] = case_ring_recall(
            spark.read.parquet(str(cases_dir)), scores_df, {t: truth(spark, world, t, key) for t in TRUTH_TABLES},
            top=cfg.cases.review_capacity,
        )
    at_risk_dir = partition_path(lake.at_risk, day)
    if at_risk_dir.is_dir():
        result["at_risk"] = at_risk_precision(
            spark, world=world, at_risk_df=spark.read.parquet(str(at_risk_dir)), day=day, key=key,
            horizon_days=cfg.exposure.victim_horizon_days, ks=(k, 10 * k),
        )
    out = partition_path(lake.evaluation, day) / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    result["path"] = str(out)
    return result


def case_ring_recall(cases_df: DataFrame, scores_df: DataFrame, truths: dict[str, DataFrame], *, top: int) -> dict:
    """Rings with a member among the parties of the ``top`` cases, out of the rings with a member scored today.

    Also the share of the top cases that hold at least one true fraud party (their precision).
    """
    members = cases_df.where(F.col("case_rank") <= top).select(F.col("case_id"), F.explode("members").alias("m")).select(
        "case_id", F.col("m.entity_type").alias("entity_type"), F.col("m.entity_token").alias("entity_token")
    )
    truth_all = reduce(
        DataFrame.unionByName,
        [df.where(F.col("is_positive") == 1).select(F.lit(t).alias("entity_type"), "entity_token", "ring_id") for t, df in truths.items()],
    )
    in_cases = members.join(truth_all, on=["entity_type", "entity_token"])
    scored_rings = scores_df.join(truth_all, on=["entity_type", "entity_token"]).select("ring_id").distinct().count()
    touched = in_cases.select("ring_id").distinct().count()
    reviewed = min(top, cases_df.count())
    with_fraud = in_cases.select("case_id").distinct().count()
    return {
        "top_cases": reviewed,
        "rings_scored": scored_rings,
        "rings_in_top_cases": touched,
        "ring_recall_in_top_cases": touched / scored_rings if scored_rings else None,
        "precision_of_top_cases": with_fraud / reviewed if reviewed else None,
    }


def at_risk_precision(
    spark: SparkSession, *, world: Path, at_risk_df, day: dt.date, key: bytes, horizon_days: int, ks: tuple[int, ...]
) -> dict:
    """Precision at k of the at-risk list for people who became victims in the ``horizon_days`` after ``day``.

    A victim "becomes" one on their first transfer to the ring (the call, when
    no transfer is recorded). ``base_rate`` is the share of the world's
    numbers that did: what a list drawn at random would score. Null
    precisions when the world ends before the horizon starts.
    """
    last = day + dt.timedelta(days=horizon_days)
    victims = spark.read.parquet(str(world / "truth" / "victims.parquet"))
    when = F.to_date(F.coalesce("first_transfer_time", "call_time"))
    future = victims.where((when > F.lit(day)) & (when <= F.lit(last))).select(
        token_col(key, C.MSISDN, F.col("msisdn")).alias("entity_token")
    ).distinct()
    numbers = spark.read.parquet(str(world / "truth" / "numbers.parquet")).count()
    listed = (
        at_risk_df.join(future.withColumn("hit", F.lit(1)), on="entity_token", how="left")
        .select("at_risk_rank", F.coalesce("hit", F.lit(0)).alias("hit"))
        .toPandas()  # at most at_risk_max_people rows
        .sort_values("at_risk_rank")
    )
    n_future = future.count()
    out: dict = {
        "horizon_days": horizon_days,
        "listed": len(listed),
        "future_victims": n_future,
        "base_rate": n_future / numbers if numbers else None,
        "victims_listed": int(listed["hit"].sum()),
        "recall": float(listed["hit"].sum()) / n_future if n_future else None,
        "precision": float(listed["hit"].mean()) if n_future and len(listed) else None,
    }
    for k in ks:
        top = listed.head(k)
        out[f"precision_at_{k}"] = float(top["hit"].mean()) if n_future and len(top) else None
    return out
