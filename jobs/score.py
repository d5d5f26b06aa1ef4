"""fraud score: features over the window ending on a day, scored by each entity type's champion."""

from __future__ import annotations

import datetime as dt
import logging
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.common import ENTITY
from features.exposure import at_risk, memberships
from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.errors import FraudError, MissingInput
from fraudgraph.lake import DT, Lake, partition_path, write_partitions
from jobs.cases import run_cases
from jobs.features import exposures_until, labels_before, materialise_features, window_days
from jobs.registry import model_name
from jobs.report import sources_page
from models import drift
from models.scoring import score_features
from privacy.erasure import erased_digests, without_erased

log = logging.getLogger(__name__)


def write_at_risk(spark: SparkSession, cfg: Config, *, lake: Lake, day: dt.date) -> dict:
    """``LAKE/at_risk/dt=D``: the people to warn, from the day's phone scores and exploited sources."""
    days = window_days(day, cfg.window.days)
    subscribers = lake.read_clean_snapshot(spark, C.SUBSCRIBERS, day)
    members = memberships(exposures_until(spark, lake, day), subscribers, as_of=day)
    people = at_risk(
        lake.read_clean(spark, C.CALLS, days),
        lake.read_clean(spark, C.SMS, days),
        scores_of(spark, lake, day, C.MSISDN),
        members,
        spark.read.parquet(str(partition_path(lake.exposure_sources, day))),
        subscribers,
        labels_before(spark, lake, day),
        as_of=day,
        window_days=cfg.window.days,
        params=cfg.exposure,
    )
    target = partition_path(lake.at_risk, day)
    write_partitions(people.withColumn(DT, F.lit(day.isoformat())), lake.at_risk, days=[day.isoformat()])
    if not target.is_dir():  # nobody to warn today: an empty partition that still has the columns
        people.limit(0).write.mode("overwrite").parquet(str(target))
    written = spark.read.parquet(str(target))
    return {"path": str(target), "people": written.count()}


def write_sources_page(spark: SparkSession, lake: Lake, day: dt.date) -> Path:
    """``LAKE/reports/dt=D/leak_sources.html``: the day's exploitation of every leak source, for analysts and regulators."""
    rows = spark.read.parquet(str(partition_path(lake.exposure_sources, day))).orderBy("exploitation_rank").collect()
    out = partition_path(lake.reports, day) / "leak_sources.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(sources_page([r.asDict() for r in rows], day), encoding="utf-8")
    return out


def run_score(spark: SparkSession, cfg: Config, *, lake: Lake, day: dt.date) -> dict:
    """Write ``LAKE/scores/dt=D`` for every party active in the window ending ``day``, then the day's cases."""
    features_by_type = materialise_features(spark, lake, day, length=cfg.window.days, graph=cfg.graph, exposure=cfg.exposure)
    scored = score_day(spark, cfg, lake=lake, day=day, features_by_type=features_by_type)
    return {**scored, "cases": run_cases(spark, cfg, lake=lake, day=day)}


def score_day(
    spark: SparkSession, cfg: Config, *, lake: Lake, day: dt.date, features_by_type: dict[str, DataFrame]
) -> dict:
    """The day's features scored by the champions: scores, drift, the at-risk list and the leak-source page.

    A step of :func:`run_score`, separate so that bench/scale.py times it apart from the features and cases.
    """
    tracking.configure(lake)
    erased = erased_digests(lake)  # people erased on request are never scored, should a row of theirs remain
    features_by_type = {t: without_erased(df, ENTITY, digests=erased) for t, df in features_by_type.items()}
    champions = {}
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
    drifts = {
        t: log_drift(cfg, lake, day, t, c, scores_of(spark, lake, day, t), features_by_type[t], rows=counts.get(t, 0))
        for t, c in champions.items()
    }
    warned = write_at_risk(spark, cfg, lake=lake, day=day)
    page = write_sources_page(spark, lake, day)
    return {
        "scores": str(lake.scores / f"{DT}={day.isoformat()}"),
        "rows": counts,
        "at_risk": warned,
        "leak_sources_page": str(page),
        "models": {t: f"{c.name} v{c.version}" for t, c in champions.items()},
        "drift": drifts,
    }


def scores_of(spark: SparkSession, lake: Lake, day: dt.date, entity_type: str) -> DataFrame:
    return spark.read.parquet(str(partition_path(lake.scores, day))).where(F.col("entity_type") == entity_type)


def log_drift(
    cfg: Config,
    lake: Lake,
    day: dt.date,
    entity_type: str,
    champion: tracking.Champion,
    scores_df: DataFrame,
    features_df: DataFrame,
    *,
    rows: int,
) -> dict:
    """The day's population stability against the champion's training population, logged as an MLflow run of the
    entity type's experiment (tags ``kind=scoring``, the day, the model version, what is flagged)."""
    ref = tracking.load_document(champion.run_id, drift.REFERENCE_ARTEFACT) if champion.run_id else None
    if ref is None or rows == 0:
        return {"skipped": "no rows scored" if rows == 0 else "the champion's run has no drift reference"}
    found = drift.drift(ref, scores_df, features_df, threshold=cfg.score.drift_threshold)
    if found["flagged"]:
        log.warning("%s drift on %s above PSI %s: %s", entity_type, day, found["threshold"], ", ".join(found["flagged"]))
    found["run_id"] = tracking.log_scoring_run(
        experiment=f"{cfg.mlflow.experiment_prefix}-{entity_type}",
        lake=lake,
        run_name=f"score {day.isoformat()}",
        metrics={"psi_score": found["score_psi"], **{f"psi_{f}": v for f, v in found["feature_psi"].items()}},
        tags={
            "kind": "scoring",
            "day": day.isoformat(),
            "model_version": champion.version,
            "drift_flagged": ",".join(found["flagged"]) or "none",
        },
    )
    return found
