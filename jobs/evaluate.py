"""fraud evaluate: a day's scores against the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.config import Config
from fraudgraph.errors import MissingInput
from fraudgraph.lake import Lake, partition_path
from fraudgraph.pseudo import token_col
from models.metrics import group_recall_at_k, ranking_metrics

# Roles in the simulator's truth that count as positives.
POSITIVE_ROLES = {C.MSISDN: ("fraud",), C.ACCOUNT: ("mule_l1", "mule_l2", "collector")}
TRUTH_TABLES = {C.MSISDN: ("numbers.parquet", "msisdn"), C.ACCOUNT: ("accounts.parquet", "account_id")}


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
    for entity_type, (table, id_column) in TRUTH_TABLES.items():
        truth_df = spark.read.parquet(str(world / "truth" / table)).select(
            token_col(key, entity_type, F.col(id_column)).alias("entity_token"),
            F.col("role").isin(list(POSITIVE_ROLES[entity_type])).cast("int").alias("is_positive"),
            F.when(F.col("role").isin(list(POSITIVE_ROLES[entity_type])), F.col("ring_id")).alias("ring_id"),
        )
        rows = (
            scores_df.where(F.col("entity_type") == entity_type)
            .join(truth_df, on="entity_token", how="left")
            .select("risk_score", F.coalesce("is_positive", F.lit(0)).alias("is_positive"), "ring_id")
            .toPandas()
        )
        metrics = ranking_metrics(rows["is_positive"].to_numpy(), rows["risk_score"].to_numpy(), k)
        metrics.update(group_recall_at_k(rows["ring_id"].to_numpy(), rows["risk_score"].to_numpy(), k))
        result[entity_type] = metrics
    out = partition_path(lake.evaluation, day) / "evaluation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    result["path"] = str(out)
    return result
