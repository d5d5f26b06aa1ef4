"""A feed this project did not generate runs through ingest, train and score unchanged."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from features.common import ENTITY
from fraudgraph.config import load_config
from fraudgraph.contract import CALLS, FEEDS, LABELS
from fraudgraph.lake import DT, Lake, Raw, partition_path
from fraudgraph.pseudo import token
from fraudgraph.spark import persisted_rdd_ids
from jobs.features import FEATURE_SETS, materialise_features
from jobs.ingest import run_ingest
from jobs.score import run_score
from jobs.train import run_train, snapshot_days
from models.dataset import positives_before
from tests.conftest import TEST_KEY
from tests.contract_world import START, write_contract_world


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    return write_contract_world(spark, tmp_path_factory.mktemp("contract_world"))


@pytest.fixture(scope="module")
def cfg():
    base = load_config()
    return dataclasses.replace(
        base,
        window=dataclasses.replace(base.window, days=5),
        # One training snapshot (the day before the last): each window built costs a minute of Spark jobs.
        train=dataclasses.replace(base.train, snapshots=1, validation_share=0.3),
        analyst=dataclasses.replace(base.analyst, capacity_k=20),
    )


@pytest.fixture(scope="module")
def ingested(spark, world, cfg, tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("contract_lake"))
    summary = run_ingest(spark, cfg, raw=Raw(world.raw), lake=lake, first=START, last=world.last_day, key=TEST_KEY.encode())
    return lake, summary


@pytest.fixture(scope="module")
def trained(spark, world, cfg, ingested):
    """The models trained as of the world's last day (the lake then holds each snapshot's features)."""
    lake, _ = ingested
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return run_train(spark, cfg, lake=lake, as_of=world.last_day)


def test_contract_world_runs_through_ingest_train_score(spark, world, cfg, ingested, trained, monkeypatch, pseudo_key):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    lake, summary = ingested
    assert summary["feeds"]["calls"]["rows_quarantined"] == 0
    assert summary["feeds"]["calls"]["rows_clean"] == summary["feeds"]["calls"]["rows_in"] > 10_000
    assert {r["alias"] for r in trained.values()} == {"champion"}

    persisted = persisted_rdd_ids(spark)
    result = run_score(spark, cfg, lake=lake, day=world.last_day)
    # Nothing the day's features, scores and cases cached or checkpointed outlives the job.
    assert persisted_rdd_ids(spark) <= persisted
    scores = spark.read.parquet(result["scores"])
    assert scores.columns == [
        "entity_type", "entity_token", "risk_score", "risk_rank", "model_name", "model_version", "reasons", "cluster_id"
    ]
    scores_pd = scores.toPandas()
    numbers = scores_pd[scores_pd["entity_type"] == "msisdn"].copy()
    fraud_tokens = {token(pseudo_key, "msisdn", n) for n in world.fraud_numbers}
    numbers["is_fraud"] = numbers["entity_token"].isin(fraud_tokens)
    # The ring's live SIMs lead the ranking: far above the base rate in the top 10.
    base_rate = numbers["is_fraud"].mean()
    top = numbers.nsmallest(10, "risk_rank")
    assert 0 < base_rate < 0.1
    assert top["is_fraud"].mean() >= 0.7
    assert sorted(numbers["risk_rank"]) == list(range(1, len(numbers) + 1))
    assert all(len(r) >= 1 for r in top["reasons"])

    accounts = scores_pd[scores_pd["entity_type"] == "account"]
    mule_tokens = {token(pseudo_key, "account", m) for m in world.mule_accounts}
    top_accounts = accounts.nsmallest(5, "risk_rank")
    assert top_accounts["entity_token"].isin(mule_tokens).mean() >= 0.6

    # The notebook for the day runs as a script on this lake.
    notebook = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "notebooks" / "daily_scores.py")],
        env={**os.environ, "FRAUD_LAKE": str(lake.root), "FRAUD_DATE": world.last_day.isoformat()},
        capture_output=True, text=True, timeout=120,
    )
    assert notebook.returncode == 0, notebook.stderr
    assert f"{len(scores_pd)} scored parties" in notebook.stdout.replace(",", "")

    # The exposure outputs of the day: the sources' exploitation, the people to warn, the sources' page.
    sources = spark.read.parquet(str(lake.exposure_sources / f"{DT}={world.last_day}")).collect()
    assert [r["source_id"] for r in sources] == ["src-1"] and sources[0]["members"] > 0
    assert result["at_risk"]["people"] == spark.read.parquet(result["at_risk"]["path"]).count()
    assert "courier waybills" in Path(result["leak_sources_page"]).read_text(encoding="utf-8")

    # No raw identifier anywhere in the lake's tables or pages (every identifier column of every raw feed).
    raw_ids = _raw_identifiers(spark, world.raw)
    assert len(raw_ids) > 1000
    for table in ("clean/calls", "clean/subscribers", "clean/labels", "clean/exposures", "features/msisdn",
                  "features/account", "scores", "exposure_sources", "at_risk"):
        leaked = _identifiers_in(spark.read.parquet(str(lake.root / table)).collect(), raw_ids)
        assert not leaked, f"{table} holds raw identifiers, e.g. {sorted(leaked)[:1]}"
    for page in lake.reports.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not [i for i in raw_ids if i in text], page


def _raw_identifiers(spark, raw: Path) -> set[str]:
    """Every raw identifier of the raw feeds, as written and as digits only (labels' entity_id included)."""
    found: set[str] = set()
    for feed in FEEDS.values():
        columns = [c.name for c in feed.identifier_columns] + (["entity_id"] if feed is LABELS else [])
        if columns:
            for row in spark.read.parquet(str(raw / feed.name)).select(*columns).collect():
                found.update(str(v) for v in row if v)
    digits = {re.sub(r"\D", "", v) for v in found}
    return found | {d for d in digits if len(d) >= 7}


def _identifiers_in(rows, raw_ids: set[str]) -> set[str]:
    """Raw identifiers found among the rows' values: whole values, array items, or inside sentences."""
    leaked: set[str] = set()
    for row in rows:
        for value in row:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, str):
                    leaked |= {item} & raw_ids
                    if " " in item:  # a sentence (reasons): look inside it
                        leaked |= {i for i in raw_ids if i in item}
    return leaked


def test_training_uses_only_labels_reported_before_as_of(spark, world, ingested):
    lake, _ = ingested
    labels = lake.read_clean_before(spark, LABELS, world.last_day)
    as_of = START + dt.timedelta(days=6)
    before = positives_before(labels, entity_type="msisdn", as_of=as_of).collect()
    late = labels.where(F.to_date("reported_time") >= F.lit(as_of)).select("entity_id").collect()
    assert before and late
    assert {r["entity_token"] for r in before}.isdisjoint({r["entity_id"] for r in late})


def _lake_up_to(source: Lake, target: Path, last: dt.date) -> Lake:
    """A copy of ``source`` holding only the partitions (and ingest markers) of days up to ``last``."""

    def later_days(_dir: str, names: list[str]) -> list[str]:
        return [n for n in names if n.startswith(f"{DT}=") and dt.date.fromisoformat(n[len(DT) + 1 :]) > last]

    shutil.copytree(source.table("clean"), target / "clean", ignore=later_days)
    shutil.copytree(source.table("_meta"), target / "_meta", ignore=later_days)
    return Lake(target)


def test_features_of_a_day_use_nothing_from_after_it(spark, world, cfg, ingested, trained, tmp_path):
    """Features for D on the full lake equal those on a lake that ends on D: later events and labels never leak in.

    D is the training snapshot, so the full lake's features are those the training computed and wrote; the
    lake holds the day after D (its events and labels), which a leaky feature would pick up.
    """
    lake, _ = ingested
    day = min(snapshot_days(cfg, world.last_day))
    assert max(lake.ingested_days(CALLS)) > day  # the lake holds calls of a day after D
    labels = lake.read_clean_before(spark, LABELS, world.last_day + dt.timedelta(days=1))
    # The full lake does hold what a leaky feature would pick up: fraud labels reported on D or later.
    assert labels.where((F.col("label") == "fraud") & (F.to_date("reported_time") >= F.lit(day))).count() > 0
    assert labels.where((F.col("label") == "fraud") & (F.to_date("reported_time") < F.lit(day))).count() > 0
    truncated = _lake_up_to(lake, tmp_path / "lake_to_day", day)
    params = {"length": cfg.window.days, "graph": cfg.graph, "exposure": cfg.exposure}
    persisted = persisted_rdd_ids(spark)
    built = materialise_features(spark, truncated, day, **params)
    # The window's cached graphs and the lineage cuts of its iterations are gone from the block stores.
    assert persisted_rdd_ids(spark) <= persisted
    for entity_type, alone in built.items():
        full = spark.read.parquet(str(partition_path(lake.features(entity_type), day)))
        columns = [ENTITY, *FEATURE_SETS[entity_type]]
        assert full.columns == alone.columns and set(columns) <= set(full.columns)
        assert full.count() == alone.count() > 0
        assert full.select(columns).exceptAll(alone.select(columns)).count() == 0, entity_type
        # The seeds did reach the features: the propagated risk is not all zero.
        assert full.agg(F.max("risk_1hop")).first()[0] > 0
