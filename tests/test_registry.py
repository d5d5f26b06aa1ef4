"""Champion and challenger in the MLflow registry: a worse model is not promoted, a better one is, and a
model owner can roll back by hand (``fraud promote``) and see it all (``fraud models``).

Real LightGBM and a real sqlite MLflow store under a temporary lake; no Spark. The three training sets share
one validation set, so each challenger meets the champion on the same ground; they differ in how many of the
training labels are noise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.common import ENTITY as ENTITY_TOKEN
from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.cli import main
from fraudgraph.config import load_config
from fraudgraph.lake import Lake
from jobs.features import FEATURE_SETS
from jobs.registry import model_name, run_models, run_promote
from jobs.train import _train_entity
from models.dataset import CONFIRMED_NEGATIVE, IS_VALIDATION, LABEL, SNAPSHOT, WEIGHT

ENTITY = C.ACCOUNT
AS_OF = dt.date(2026, 3, 28)
ROWS = 2000


def sample(noisy_share: float, seed: int) -> pd.DataFrame:
    """Rows whose label follows two features; ``noisy_share`` of the training labels are drawn at random."""
    rng = np.random.default_rng(0)  # the same features and validation rows for every sample
    features = FEATURE_SETS[ENTITY]
    df = pd.DataFrame(rng.normal(size=(ROWS, len(features))), columns=list(features))
    signal = df[features[0]] + df[features[1]] + rng.normal(scale=0.3, size=ROWS)
    df[LABEL] = (signal > 1.6).astype(int)
    df[IS_VALIDATION] = np.arange(ROWS) % 2 == 0
    df[SNAPSHOT] = "2026-03-27"
    df[WEIGHT] = 1.0
    df[CONFIRMED_NEGATIVE] = False
    df[ENTITY_TOKEN] = [f"token-{i:05d}" for i in range(ROWS)]
    noise = np.random.default_rng(seed)
    train = ~df[IS_VALIDATION]
    flip = train & (noise.random(ROWS) < noisy_share)
    df.loc[flip, LABEL] = noise.integers(0, 2, size=int(flip.sum()))
    return df


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Three trainings in a row: a fair model, a worse one, a better one."""
    cfg = load_config()
    lake = Lake(tmp_path_factory.mktemp("lake"))
    tracking.configure(lake)
    results = [_train_entity(cfg, lake, ENTITY, sample(share, seed), AS_OF) for share, seed in ((0.3, 1), (1.0, 2), (0.0, 3))]
    return cfg, lake, results


def test_a_worse_model_is_not_promoted_and_a_better_one_is(registry):
    cfg, lake, (fair, worse, better) = registry
    assert fair["alias"] == "champion" and fair["decision"] == "no champion yet"
    assert worse["validation"]["average_precision"] < fair["validation"]["average_precision"]
    assert worse["alias"] == "challenger"
    assert f"champion v{fair['version']}" in worse["decision"]
    assert better["validation"]["average_precision"] > fair["validation"]["average_precision"]
    assert better["alias"] == "champion"

    listed = run_models(cfg, lake=lake, entity_type=ENTITY)[ENTITY]
    assert listed["model"] == model_name(cfg, ENTITY)
    by_version = {v["version"]: v for v in listed["versions"]}
    assert [v["version"] for v in listed["versions"]] == ["3", "2", "1"]  # newest first
    assert by_version[better["version"]]["aliases"] == ["champion"]
    assert by_version[worse["version"]]["aliases"] == ["challenger"]
    assert by_version[fair["version"]]["aliases"] == []
    # The headline metrics are the run's own validation figures, and each version keeps its decision.
    for result in (fair, worse, better):
        row = by_version[result["version"]]
        assert row["valid_average_precision"] == pytest.approx(result["validation"]["average_precision"])
        assert row["decision"] == result["decision"]
        assert row["as_of"] == AS_OF.isoformat()
    assert tracking.load_champion(listed["model"]).version == better["version"]


def test_each_training_run_records_its_data_code_and_plots(registry, capsys):
    from mlflow.tracking import MlflowClient

    _cfg, _lake, (fair, worse, _better) = registry
    client = MlflowClient()
    runs = {r["version"]: client.get_run(r["run_id"]) for r in (fair, worse)}
    files = {a.path for a in client.list_artifacts(fair["run_id"])}
    assert {
        "precision_recall.png", "feature_importance.png", "feature_importance.csv", "shap_summary.png",
        "calibration.png", "calibration.csv", "drift_reference.json",
    } <= files
    fair_params, worse_params = runs[fair["version"]].data.params, runs[worse["version"]].data.params
    # Read back as scoring reads it, with no progress bar on stderr (a scheduler's log).
    capsys.readouterr()
    assert tracking.load_document(fair["run_id"], "drift_reference.json")
    assert "Downloading artifacts" not in capsys.readouterr().err
    assert fair_params["git_commit"] == worse_params["git_commit"] != ""
    # Different training labels, different fingerprint.
    assert fair_params["training_data_fingerprint"] != worse_params["training_data_fingerprint"]
    assert 0 <= runs[fair["version"]].data.metrics["valid_brier"] <= 1
    # The registered model is calibrated: on the validation rows its mean probability is their positive rate.
    assert float(fair_params["calibration_slope"]) > 0
    import mlflow

    model = mlflow.lightgbm.load_model(f"runs:/{fair['run_id']}/model")
    valid = sample(0.3, 1)
    valid = valid[valid[IS_VALIDATION]]
    assert model.predict(valid[list(FEATURE_SETS[ENTITY])]).mean() == pytest.approx(valid[LABEL].mean(), abs=0.02)


def test_a_manual_rollback_makes_an_older_version_champion_and_is_recorded(registry, capsys):
    cfg, lake, (fair, _worse, better) = registry
    done = run_promote(cfg, lake=lake, entity_type=ENTITY, version=fair["version"], reason="v3 flags couriers")
    assert done["changed"] and done["previous_champion"] == better["version"]
    champion = tracking.load_champion(model_name(cfg, ENTITY))
    assert champion.version == fair["version"]

    # The same through the command: listed with the decision on the version and a note on the one demoted.
    assert main(["models", "--lake", str(lake.root), "--entity", ENTITY]) == 0
    versions = {v["version"]: v for v in json.loads(capsys.readouterr().out)[ENTITY]["versions"]}
    assert versions[fair["version"]]["aliases"] == ["champion"]
    assert "set by hand" in versions[fair["version"]]["decision"]
    assert "v3 flags couriers" in versions[fair["version"]]["decision"]
    assert f"champion was v{better['version']}" in versions[fair["version"]]["decision"]
    assert versions[better["version"]]["aliases"] == []
    assert f"v{fair['version']} made champion by hand" in versions[better["version"]]["demoted"]

    # Promoting the champion again changes nothing; rolling forward works the same way.
    assert not run_promote(cfg, lake=lake, entity_type=ENTITY, version=fair["version"], reason="again")["changed"]
    assert main(["promote", "--lake", str(lake.root), "--entity", ENTITY, "--version", better["version"]]) == 0
    assert tracking.load_champion(model_name(cfg, ENTITY)).version == better["version"]


def test_promoting_a_version_that_does_not_exist_fails_with_one_line(registry, capsys):
    _cfg, lake, _ = registry
    before = tracking.load_champion(model_name(_cfg, ENTITY)).version
    assert main(["promote", "--lake", str(lake.root), "--entity", ENTITY, "--version", "42"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fraud promote: error: {model_name(_cfg, ENTITY)} has no registered version 42 (see fraud models)"]
    assert main(["promote", "--lake", str(lake.root), "--entity", ENTITY, "--version", "v2"]) == 2
    assert tracking.load_champion(model_name(_cfg, ENTITY)).version == before


def test_the_model_report_notebook_compares_champion_and_challenger(registry):
    _cfg, lake, (fair, worse, better) = registry
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"FRAUD_LAKE": str(lake.root), "FRAUD_ENTITY": ENTITY, "MLFLOW_DISABLE_TELEMETRY": "true"})
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "model_report.py"
    done = subprocess.run([sys.executable, str(notebook)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    champion = tracking.load_champion(model_name(_cfg, ENTITY)).version
    assert f"== {ENTITY}: champion v{champion} vs challenger v{worse['version']}" in out
    assert f"{worse['validation']['average_precision']:.6f}"[:5] in out  # the challenger's own AP
    assert "top features of v" in out and "no scoring run logged yet" in out


def test_each_lake_configured_in_one_process_gets_its_own_store_unless_the_user_chose_one(tmp_path, monkeypatch):
    """MLflow copies the tracking URI it is given into ``MLFLOW_TRACKING_URI``: a second lake configured in the
    same process must not take that copy for the user's choice (it logged into the first lake's store once)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = Lake(tmp_path / "first"), Lake(tmp_path / "second")
    assert tracking.configure(first) == first.mlflow_uri
    assert tracking.configure(second) == second.mlflow_uri != first.mlflow_uri
    # A caller that saved the variable around a configure puts an earlier lake's copy back (the subject test's
    # monkeypatch did, and the next file's lake logged into that store): still not the user's choice.
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI")
        third = Lake(tmp_path / "third")
        assert tracking.configure(third) == third.mlflow_uri
    assert os.environ["MLFLOW_TRACKING_URI"] == second.mlflow_uri
    assert tracking.configure(first) == first.mlflow_uri
    chosen = f"sqlite:///{tmp_path / 'chosen.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    assert tracking.configure(first) == chosen
    assert tracking.configure(second) == chosen
