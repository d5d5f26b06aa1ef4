"""Scoring a feature table on Spark with a LightGBM model.

The model travels to the executors as its text form; each partition builds a
booster once and scores its rows in Arrow batches (``mapInPandas``), so no
entity is collected to the driver.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features.common import ENTITY, require_columns

SCORE_COLUMNS = (
    "entity_type",
    "entity_token",
    "risk_score",
    "risk_rank",
    "model_name",
    "model_version",
    "reasons",
    "cluster_id",
)

_SCORED = T.StructType(
    [
        T.StructField(ENTITY, T.StringType()),
        T.StructField("risk_score", T.DoubleType()),
        T.StructField("reasons", T.ArrayType(T.StringType())),
    ]
)


def score_features(
    features_df: DataFrame,
    *,
    model_text: str,
    features: tuple[str, ...],
    entity_type: str,
    model_name: str,
    model_version: str,
    top_reasons: int,
    window_days: int,
) -> DataFrame:
    """The contract's score rows (:data:`SCORE_COLUMNS`) for every row of ``features_df``.

    ``risk_rank`` is 1 for the riskiest, ties broken by token so a re-run
    ranks identically. ``cluster_id`` is null (cases are assigned later).
    An empty input gives an empty output with the same columns.
    """
    require_columns(features_df, (ENTITY, *features), "score_features")

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import lightgbm as lgb

        from models.reasons import top_reasons as reasons_for

        booster = lgb.Booster(model_str=model_text)
        for batch in batches:
            if batch.empty:
                continue
            values = batch[list(features)].astype("float64")
            scores = booster.predict(values)
            contributions = booster.predict(values, pred_contrib=True)
            reasons = reasons_for(
                contributions, values.to_numpy(), features, top=top_reasons, window_days=window_days,
                entity_type=entity_type,
            )
            yield pd.DataFrame({ENTITY: batch[ENTITY].to_numpy(), "risk_score": scores, "reasons": reasons})

    scored = features_df.select(ENTITY, *[F.col(f).cast("double") for f in features]).mapInPandas(score_batches, _SCORED)
    rank = F.row_number().over(Window.orderBy(F.col("risk_score").desc(), F.col(ENTITY)))
    return scored.select(
        F.lit(entity_type).alias("entity_type"),
        ENTITY,
        "risk_score",
        rank.cast("int").alias("risk_rank"),
        F.lit(model_name).alias("model_name"),
        F.lit(str(model_version)).alias("model_version"),
        "reasons",
        F.lit(None).cast("string").alias("cluster_id"),
    )
