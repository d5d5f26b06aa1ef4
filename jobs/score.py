"""fraud score: features over the window ending on a day, scored by each entity type's champion."""

from __future__ import annotations

import datetime as dt
import logging
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.errors import FraudError, MissingInput
from fraudgraph.lake import DT, Lake, write_partitions
from jobs.features import materialise_features
from jobs.train import model_name
from models.scoring import score_features

log = logging.getLogger(__name__)


def run_score(spark: SparkSession, cfg: Config, *, lake: Lake, day: dt.date) -> dict:
    """Write ``LAKE/scores/dt=D`` for every party active in the window ending ``day``."""
    tracking.configure(lake)
    champions = {}
    features_by_type = materialise_features(spark, lake, day, length=cfg.window.days, graph=cfg.graph)
    for entity_type in features_by_type:
        champion = tracking.load_champion(model_name(cfg, entity_type))
        if champion is None:
            raise MissingInput(f"no champion model for {entity_type}: run fraud train first")
        missing = [f for f in champion.features if f not in features_by_type[entity_type].columns]
        if missing:
            raise FraudError(
                f"champion {champion.name} v{champion.version} needs features this version does not compute "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): run fraud train first"
            )
        champions[entity_type] = champion
    scored = [
        score_features(
            features_by_type[entity_type],
            model_text=champion.booster.model_to_string(),
            features=champion.features,
            entity_type=entity_type,
            model_name=champion.name,
            model_version=champion.version,
            top_reasons=cfg.score.top_reasons,
            window_days=cfg.window.days,
        )
        for entity_type, champion in champions.items()
    ]
    scores_df = reduce(DataFrame.unionByName, scored).withColumn(DT, F.lit(day.isoformat()))
    write_partitions(scores_df, lake.scores)
    counts = {
        r["entity_type"]: r["n"]
        for r in spark.read.parquet(str(lake.scores / f"{DT}={day.isoformat()}")).groupBy("entity_type").agg(
            F.count(F.lit(1)).alias("n")
        ).collect()
    }
    log.info("scored %s: %s", day, counts)
    return {
        "scores": str(lake.scores / f"{DT}={day.isoformat()}"),
        "rows": counts,
        "models": {t: f"{c.name} v{c.version}" for t, c in champions.items()},
    }
