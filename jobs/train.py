"""fraud train: LightGBM per entity type on what was knowable before the as-of day, in MLflow."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from functools import reduce
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from cases.verdicts import with_verdicts
from features.common import ENTITY
from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import PROJECT_ROOT, Config
from fraudgraph.errors import FraudError, MissingInput
from fraudgraph.lake import Lake
from fraudgraph.spark import release_driver_memory, to_pandas
from jobs.features import FEATURE_SET_VERSION, FEATURE_SETS, materialise_features
from jobs.registry import model_name
from models import artefacts, drift
from models.calibration import calibrate_booster, cross_fitted, fit_platt
from models.dataset import (
    CONFIRMED_NEGATIVE,
    IS_VALIDATION,
    LABEL,
    SNAPSHOT,
    WEIGHT,
    known_before,
    labelled_sample,
)
from models.lgbm import train_lightgbm
from models.metrics import ranking_metrics
from privacy.erasure import erased_digests, without_erased

log = logging.getLogger(__name__)

# The profile is taken over a uniform sample of this many rows of the latest snapshot, not over the training
# rows, whose negatives are sampled down: the scoring days are whole populations.
DRIFT_SAMPLE_ROWS = 20_000


def snapshot_days(cfg: Config, as_of: dt.date) -> list[dt.date]:
    """Ends of the training windows: the day before as-of, then every ``snapshot_every_days`` before it."""
    return [as_of - dt.timedelta(days=1 + i * cfg.train.snapshot_every_days) for i in range(cfg.train.snapshots)]


def _snapshot_features(spark: SparkSession, cfg: Config, lake: Lake, as_of: dt.date) -> dict[str, DataFrame]:
    per_type: dict[str, list[DataFrame]] = {t: [] for t in FEATURE_SETS}
    # Oldest first: a day's leak-source table carries the state of the day before it (trend, since when).
    for end in sorted(snapshot_days(cfg, as_of)):
        try:
            built = materialise_features(spark, lake, end, length=cfg.window.days, graph=cfg.graph, exposure=cfg.exposure)
        except MissingInput as exc:
            if end == as_of - dt.timedelta(days=1):
                raise
            log.warning("training snapshot %s skipped: %s", end, exc)
            continue
        for entity_type, df in built.items():
            per_type[entity_type].append(df.withColumn(SNAPSHOT, F.lit(end.isoformat())))
    return {t: reduce(DataFrame.unionByName, dfs) for t, dfs in per_type.items()}


def _champion_metrics(champion: tracking.Champion | None, valid: pd.DataFrame, k: int) -> dict[str, float] | None:
    if champion is None or not set(champion.features) <= set(valid.columns):
        return None
    scores = champion.booster.predict(valid[list(champion.features)])
    return ranking_metrics(valid[LABEL].to_numpy(), scores, k)


def _train_entity(
    cfg: Config, lake: Lake, entity_type: str, sample: pd.DataFrame, as_of: dt.date, population: pd.DataFrame | None = None
) -> dict:
    """Train, log and register one entity type's model; ``population`` (default: the training rows) is what the
    drift reference describes."""
    features = FEATURE_SETS[entity_type]
    train_df = sample[~sample[IS_VALIDATION]]
    valid_df = sample[sample[IS_VALIDATION]]
    try:
        trained = train_lightgbm(
            train_df, valid_df, features=features, params=cfg.train.lightgbm, seed=cfg.train.seed, k=cfg.analyst.capacity_k
        )
    except ValueError as exc:
        raise FraudError(f"cannot train the {entity_type} model for {as_of}: {exc}") from None
    # risk_score as a probability over the whole population: a sigmoid of the raw score, fitted on the
    # validation rows weighted back to the population, written into the booster (ranks unchanged).
    margin = trained.booster.predict(valid_df[list(features)].astype("float64"), raw_score=True)
    platt = fit_platt(margin, valid_df[LABEL].to_numpy(), valid_df[WEIGHT].to_numpy())
    booster = calibrate_booster(trained.booster, platt)
    name = model_name(cfg, entity_type)
    champion = tracking.load_champion(name)
    champion_metrics = _champion_metrics(champion, valid_df, cfg.analyst.capacity_k)
    metrics = {f"valid_{k}": v for k, v in trained.validation.items()}
    metrics.update(
        {
            "train_rows": len(train_df),
            "train_positives": int(train_df[LABEL].sum()),
            "train_confirmed_negatives": int(train_df[CONFIRMED_NEGATIVE].sum()),
            "valid_confirmed_negatives": int(valid_df[CONFIRMED_NEGATIVE].sum()),
            "best_iteration": trained.best_iteration,
        }
    )
    plots = Path(tempfile.mkdtemp(prefix="fraudgraph-artefacts-"))
    calibration = artefacts.write_artefacts(
        booster, valid_df, features, k=cfg.analyst.capacity_k, out=plots,
        probabilities=cross_fitted(margin, valid_df[LABEL].to_numpy(), valid_df[WEIGHT].to_numpy(), seed=cfg.train.seed),
        weight=valid_df[WEIGHT].to_numpy(),
    )
    metrics.update({f"valid_{figure}": value for figure, value in calibration.items()})
    if champion_metrics is not None:
        metrics["champion_valid_average_precision"] = champion_metrics["average_precision"]
    try:
        registered = tracking.log_model_run(
            experiment=f"{cfg.mlflow.experiment_prefix}-{entity_type}",
            lake=lake,
            model_name=name,
            booster=booster,
            input_example=train_df[list(features)].head(5).astype("float64"),
            params={
                **trained.params,
                "as_of": as_of.isoformat(),
                "window_days": cfg.window.days,
                "snapshots": ",".join(sorted(sample[SNAPSHOT].unique())),
                "feature_set_version": FEATURE_SET_VERSION,
                "features": ",".join(features),
                "training_data_fingerprint": artefacts.fingerprint(sample, list(sample.columns)),
                "git_commit": artefacts.git_commit(PROJECT_ROOT),
                "calibration_slope": platt.slope,
                "calibration_intercept": platt.intercept,
            },
            metrics=metrics,
            tags={"entity_type": entity_type, "as_of": as_of.isoformat()},
            documents={
                drift.REFERENCE_ARTEFACT: drift.reference(
                    booster,
                    train_df if population is None or population.empty else population,
                    features,
                    top=cfg.score.drift_features,
                )
            },
            artefacts=plots,
        )
    finally:
        shutil.rmtree(plots, ignore_errors=True)
    new_ap = trained.validation["average_precision"]
    old_ap = None if champion_metrics is None else champion_metrics["average_precision"]
    promote = old_ap is None or new_ap >= old_ap + cfg.train.promotion_margin
    decision = (
        "no champion yet" if champion is None and old_ap is None
        else f"challenger AP {new_ap:.4f} vs champion v{champion.version} AP "
        + ("n/a (other features)" if old_ap is None else f"{old_ap:.4f}")
        + f", margin {cfg.train.promotion_margin}"
    )
    alias = tracking.CHAMPION if promote else tracking.CHALLENGER
    tracking.set_alias(name, alias, registered.version, {"promotion_decision": decision, "promoted": str(promote).lower()})
    log.info("%s model v%s: %s -> %s", entity_type, registered.version, decision, alias)
    return {
        "model": name,
        "version": registered.version,
        "run_id": registered.run_id,
        "alias": alias,
        "decision": decision,
        "validation": trained.validation,
    }


def training_sample(
    cfg: Config, features_df: DataFrame, labels_df: DataFrame, *, entity_type: str, as_of: dt.date
) -> pd.DataFrame:
    """The snapshots' features with ``label``, ``confirmed_negative``, ``sample_weight`` and ``is_validation``,
    sampled, in a fixed order (a small frame)."""
    sample = labelled_sample(
        features_df,
        known_before(labels_df, entity_type=entity_type, as_of=as_of),
        max_negatives_per_positive=cfg.train.max_negatives_per_positive,
        validation_share=cfg.train.validation_share,
        seed=cfg.train.seed,
    )
    # A fixed order makes the booster reproducible; sorted by Spark, so the driver holds one copy of the rows.
    return to_pandas(sample.orderBy(SNAPSHOT, ENTITY))


def run_train(spark: SparkSession, cfg: Config, *, lake: Lake, as_of: dt.date) -> dict:
    """Train, log, register and (when better) promote one model per entity type; returns what happened."""
    tracking.configure(lake)
    # The police's, banks' and operators' labels, and the analysts' verdicts on cases (cases/verdicts.py).
    labels_df = with_verdicts(spark, lake, lake.read_clean_before(spark, C.LABELS, as_of))
    # People erased on request (fraud subject delete) are left out, should any row of theirs remain.
    erased = erased_digests(lake)
    labels_df = without_erased(labels_df, "entity_id", digests=erased)
    features_by_type = _snapshot_features(spark, cfg, lake, as_of)
    results = {}
    for entity_type, features_df in features_by_type.items():
        features_df = without_erased(features_df, ENTITY, digests=erased)
        sample = training_sample(cfg, features_df, labels_df, entity_type=entity_type, as_of=as_of)
        population = population_sample(cfg, features_df, entity_type=entity_type, day=as_of - dt.timedelta(days=1))
        results[entity_type] = _train_entity(cfg, lake, entity_type, sample, as_of, population)
        del sample, population
        release_driver_memory()
    return results


def population_sample(cfg: Config, features_df: DataFrame, *, entity_type: str, day: dt.date) -> pd.DataFrame:
    """A uniform sample of at most about :data:`DRIFT_SAMPLE_ROWS` rows of the snapshot ending ``day``."""
    snapshot = features_df.where(F.col(SNAPSHOT) == day.isoformat()).select(*FEATURE_SETS[entity_type])
    rows = snapshot.count()
    fraction = min(1.0, DRIFT_SAMPLE_ROWS / rows) if rows else 1.0
    return to_pandas(snapshot.sample(fraction=fraction, seed=cfg.train.seed))
