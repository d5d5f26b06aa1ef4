"""Leak-exposure ablation on the simulated world (issue 5), logged to MLflow.

Run: .venv/bin/python bench/exposure_ablation.py [--people 20000 --days 28 --seed 1 --out DIR]

Simulates the demo's world, ingests every day, and picks the as-of day D a
victim horizon before the world's last day, so that who became a victim after
D is known. Then, on the production path:

1. ``fraud train`` as of D (every feature, exposure included), ``fraud score``
   for D, which writes the at-risk list, and ``fraud evaluate``, which measures
   the list's precision at k against the people who became victims in the
   ``exposure.victim_horizon_days`` days after D;
2. the ablation: on the training sample of step 1 (the same snapshots, labels
   and split), LightGBM per entity type with and without the exposure
   features, both scored on D's features against the simulator's truth.

Every model of step 2 is one run of the MLflow experiment
``<prefix>-exposure-ablation`` (in the lake's store), with its figures; the
at-risk precision is logged on the runs with exposure. Prints a Markdown table
for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import load_config
from fraudgraph.lake import Lake, Raw, partition_path
from fraudgraph.spark import build_session
from jobs.evaluate import run_evaluate, truth
from jobs.features import EXPOSURE_FEATURE_SETS, FEATURE_SET_VERSION, FEATURE_SETS
from jobs.ingest import run_ingest
from jobs.score import run_score
from jobs.train import run_train, snapshot_days, training_sample
from models.dataset import IS_VALIDATION, SNAPSHOT
from models.lgbm import train_lightgbm
from models.metrics import group_recall_at_k, ranking_metrics
from simulator.world import simulate_world

DEMO_KEY = "fraudgraph-demo-key-not-a-secret"
START = dt.date(2026, 3, 1)


def _features_of(spark, lake: Lake, entity_type: str, days: list[dt.date]):
    from functools import reduce

    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    parts = [
        spark.read.parquet(str(partition_path(lake.features(entity_type), d))).withColumn(SNAPSHOT, F.lit(d.isoformat()))
        for d in days
        if partition_path(lake.features(entity_type), d).is_dir()
    ]
    return reduce(DataFrame.unionByName, parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the world and the lake here")
    args = parser.parse_args()

    os.environ.setdefault("FRAUD_PSEUDO_KEY", DEMO_KEY)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    key = os.environ["FRAUD_PSEUDO_KEY"].encode()
    cfg = load_config()
    scratch = args.out or Path(tempfile.mkdtemp(prefix="fg-exposure-ablation-"))
    world, lake = scratch / "world", Lake(scratch / "lake")
    last = START + dt.timedelta(days=args.days - 1)
    day = last - dt.timedelta(days=cfg.exposure.victim_horizon_days)
    spark = build_session(cfg.spark)
    try:
        if not (world / "truth").is_dir():
            simulate_world(world, people=args.people, days=args.days, seed=args.seed, start=START)
        if set(lake.ingested_days(C.CALLS)) != {START + dt.timedelta(days=i) for i in range(args.days)}:
            run_ingest(spark, cfg, raw=Raw(world / "raw"), lake=lake, first=START, last=last, key=key)
        tracking.configure(lake)
        run_train(spark, cfg, lake=lake, as_of=day)
        scored = run_score(spark, cfg, lake=lake, day=day)
        evaluation = run_evaluate(spark, cfg, world=world, lake=lake, day=day, key=key)
        at_risk = evaluation["at_risk"]

        import mlflow

        mlflow.set_experiment(f"{cfg.mlflow.experiment_prefix}-exposure-ablation")
        labels = lake.read_clean_before(spark, C.LABELS, day)
        k = cfg.analyst.capacity_k
        rows = []
        for entity_type, all_features in FEATURE_SETS.items():
            sample = training_sample(
                cfg, _features_of(spark, lake, entity_type, snapshot_days(cfg, day)), labels,
                entity_type=entity_type, as_of=day,
            )
            test = (
                _features_of(spark, lake, entity_type, [day])
                .join(truth(spark, world, entity_type, key), on="entity_token", how="left")
                .fillna(0, subset=["is_positive"])
                .toPandas()
            )
            variants = {
                "with exposure": all_features,
                "without exposure": tuple(f for f in all_features if f not in EXPOSURE_FEATURE_SETS[entity_type]),
            }
            for variant, features in variants.items():
                trained = train_lightgbm(
                    sample[~sample[IS_VALIDATION]], sample[sample[IS_VALIDATION]], features=features,
                    params=cfg.train.lightgbm, seed=cfg.train.seed, k=k,
                )
                scores = trained.booster.predict(test[list(features)])
                figures = ranking_metrics(test["is_positive"].to_numpy(), scores, k)
                figures.update(group_recall_at_k(test["ring_id"].to_numpy(), scores, k))
                with mlflow.start_run(run_name=f"{entity_type} {variant} {day}"):
                    mlflow.log_params({
                        "entity_type": entity_type, "variant": variant, "as_of": day.isoformat(),
                        "features": len(features), "feature_set_version": FEATURE_SET_VERSION,
                        "snapshots": ",".join(sorted(sample[SNAPSHOT].unique())), "k": k,
                    })
                    mlflow.log_metrics({f"test_{m}": float(v) for m, v in figures.items() if v is not None and np.isfinite(v)})
                    mlflow.log_metrics({f"valid_{m}": float(v) for m, v in trained.validation.items() if np.isfinite(v)})
                    if variant == "with exposure" and entity_type == C.MSISDN:
                        mlflow.log_metrics({f"at_risk_{m}": float(v) for m, v in at_risk.items() if isinstance(v, (int, float))})
                rows.append({"entity_type": entity_type, "variant": variant, "features": len(features), **figures})
        print(json.dumps({"day": day.isoformat(), "at_risk": at_risk, "scored": scored["rows"], "rows": rows}, indent=2))
        print(f"\nAs of {day}, k = {k}, test = every scored party of {day} against the simulator's truth.\n")
        print("| entity | features | count | average precision | precision at k | recall at k | rings touched in top k |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['entity_type']} | {r['variant']} | {r['features']} | {r['average_precision']:.3f} | "
                f"{r['precision_at_k']:.2f} | {r['recall_at_k']:.2f} | {r['rings_in_top_k']}/{r['rings']} |"
            )
        print(
            f"\nAt-risk list of {day}: {at_risk['listed']} people; {at_risk['future_victims']} people became victims "
            f"in the {at_risk['horizon_days']} days after (base rate {at_risk['base_rate']:.4f}); the list holds "
            f"{at_risk['victims_listed']} of them (recall {at_risk['recall']:.2f}, precision {at_risk['precision']:.3f}); "
            + ", ".join(f"{m.replace('_', ' ')} {v:.3f}" for m, v in at_risk.items() if m.startswith("precision_at") and v is not None)
        )
    finally:
        spark.stop()
        if args.out is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
