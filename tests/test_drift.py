"""Drift: the training profile (numpy) and the scoring day's bins (Spark) agree, and a moved feature is flagged."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.drift import SCORE, day_shares, drift, profile, psi, reference

FEATURES = ("calls", "contacts", "quiet")


def frame(rng: np.random.Generator, n: int, *, calls_shift: float = 0.0) -> pd.DataFrame:
    calls = rng.poisson(5, n).astype("float64") + calls_shift  # integers: many values sit on an edge
    contacts = rng.normal(size=n)
    contacts[rng.random(n) < 0.1] = np.nan  # missing values have their own bin
    return pd.DataFrame({"calls": calls, "contacts": contacts, "quiet": np.zeros(n)})


def to_spark(spark, df: pd.DataFrame):
    return spark.createDataFrame(df.astype(object).where(df.notna(), None))  # NaN arrives as null, as in the lake


def test_spark_bins_match_the_training_profile_exactly(spark):
    rng = np.random.default_rng(3)
    df = frame(rng, 500)
    profiles = {c: profile(df[c].to_numpy()) for c in df.columns}
    assert profiles["quiet"]["edges"] == [0.0]  # repeated edges merged
    assert profiles["contacts"]["shares"][-1] == pytest.approx(np.isnan(df["contacts"]).mean())
    assert sum(profiles["calls"]["shares"]) == pytest.approx(1.0)

    shares = day_shares(to_spark(spark, df), {c: (c, p["edges"]) for c, p in profiles.items()})
    for column, expected in profiles.items():
        assert shares[column] == pytest.approx(expected["shares"], abs=1e-12), column
        assert psi(expected["shares"], shares[column]) == pytest.approx(0.0, abs=1e-12)


def test_a_moved_feature_is_flagged_and_a_stable_one_is_not(spark):
    rng = np.random.default_rng(5)
    train = frame(rng, 3000)
    label = (train["calls"] + rng.normal(scale=1.0, size=len(train)) > 7).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1, "deterministic": True},
        lgb.Dataset(train[list(FEATURES)], label=label),
        num_boost_round=20,
    )
    ref = reference(booster, train, FEATURES, top=2)
    assert list(ref["features"])[0] == "calls"  # the label follows calls: the top feature by gain
    assert "quiet" not in ref["features"]  # no gain, no profile

    def day(df: pd.DataFrame):
        scores = pd.DataFrame({"risk_score": booster.predict(df[list(FEATURES)])})
        return spark.createDataFrame(scores), to_spark(spark, df)

    same = drift(ref, *day(frame(np.random.default_rng(6), 2000)), threshold=0.25)
    assert same["score_psi"] < 0.1 and max(same["feature_psi"].values()) < 0.1
    assert same["flagged"] == []

    moved = drift(ref, *day(frame(np.random.default_rng(7), 2000, calls_shift=4.0)), threshold=0.25)
    assert moved["feature_psi"]["calls"] > 0.25
    assert "calls" in moved["flagged"] and SCORE in moved["flagged"]  # more calls, higher scores
