"""The training run's artefacts: plots a model owner opens, and the figures behind them."""

from __future__ import annotations

import re

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from fraudgraph.config import PROJECT_ROOT
from models.artefacts import brier, fingerprint, git_commit, reliability, write_artefacts
from models.lgbm import LABEL

FEATURES = ("calls", "contacts", "noise")
PNG = b"\x89PNG\r\n\x1a\n"


def test_reliability_table_of_calibrated_scores_follows_the_diagonal():
    rng = np.random.default_rng(1)
    scores = rng.uniform(size=20_000)
    y = (rng.uniform(size=scores.size) < scores).astype(int)  # calibrated by construction
    table = reliability(y, scores)
    assert len(table) == 10 and table["rows"].sum() == scores.size
    assert (table["mean_score"] - table["observed"]).abs().max() < 0.03
    assert brier(y, scores) == pytest.approx(np.mean((scores - y) ** 2))
    # Scores that are all too high by 0.3 show the gap.
    shifted = reliability(y, np.clip(scores + 0.3, 0, 1))
    assert (shifted["mean_score"] - shifted["observed"]).max() > 0.2


def test_artefacts_of_a_trained_model(tmp_path):
    rng = np.random.default_rng(2)
    n = 3000
    df = pd.DataFrame({"calls": rng.poisson(5, n), "contacts": rng.normal(size=n), "noise": rng.normal(size=n)})
    df[LABEL] = (df["calls"] + rng.normal(size=n) > 8).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "seed": 1, "deterministic": True},
        lgb.Dataset(df[list(FEATURES)], label=df[LABEL]),
        num_boost_round=30,
    )
    figures = write_artefacts(booster, df, FEATURES, k=100, out=tmp_path)

    for name in ("precision_recall", "feature_importance", "shap_summary", "calibration"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG, name
    importance = pd.read_csv(tmp_path / "feature_importance.csv")
    assert importance["feature"].iloc[0] == "calls"  # the label follows calls
    assert list(importance["gain"]) == sorted(importance["gain"], reverse=True)
    calibration = pd.read_csv(tmp_path / "calibration.csv")
    assert calibration["rows"].sum() == n
    assert figures["brier"] == pytest.approx(brier(df[LABEL], booster.predict(df[list(FEATURES)])))
    assert 0 <= figures["calibration_max_gap"] <= 1


def test_the_fingerprint_follows_the_data_and_the_commit_is_recorded(tmp_path):
    df = pd.DataFrame({"entity_token": ["a", "b", "c"], LABEL: [0, 1, 0], "snapshot": ["d"] * 3})
    columns = ["entity_token", LABEL, "snapshot"]
    assert fingerprint(df, columns) == fingerprint(df.copy(), columns)
    changed = df.copy()
    changed.loc[2, LABEL] = 1
    assert fingerprint(changed, columns) != fingerprint(df, columns)
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", git_commit(PROJECT_ROOT))
    assert git_commit(tmp_path) == "unknown"
