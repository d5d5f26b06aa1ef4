"""risk_score as a probability: Platt scaling weighted back to the population, written into the booster."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.artefacts import brier
from models.calibration import MIN_SLOPE, Platt, calibrate_booster, cross_fitted, fit_platt
from models.lgbm import LABEL, train_lightgbm
from models.reasons import top_reasons

FEATURES = ("calls", "contacts", "noise")
PARAMS = {"objective": "binary", "learning_rate": 0.1, "num_leaves": 7, "num_boost_round": 80, "early_stopping_rounds": 20,
          "verbose": -1, "num_threads": 1}


def _population(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """About 1 % positives, whose chance rises with calls and contacts."""
    df = pd.DataFrame({"calls": rng.poisson(4, n).astype(float), "contacts": rng.normal(size=n), "noise": rng.normal(size=n)})
    logit = -7.0 + 0.6 * df["calls"] + 1.2 * df["contacts"]
    df[LABEL] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def _sampled(df: pd.DataFrame, rng: np.random.Generator, keep: float) -> pd.DataFrame:
    """Every positive, a share ``keep`` of the negatives, weighted by the inverse of their chance."""
    kept = df[(df[LABEL] == 1) | (rng.uniform(size=len(df)) < keep)].copy()
    kept["weight"] = np.where(kept[LABEL] == 1, 1.0, 1.0 / keep)
    return kept.reset_index(drop=True)


def test_calibrated_booster_gives_population_probabilities_and_keeps_every_rank():
    rng = np.random.default_rng(3)
    train, valid = _sampled(_population(rng, 200_000), rng, 0.05), _sampled(_population(rng, 200_000), rng, 0.05)
    trained = train_lightgbm(train, valid, features=FEATURES, params=PARAMS, seed=1, k=100)  # class-weighted
    margin = trained.booster.predict(valid[list(FEATURES)], raw_score=True)
    platt = fit_platt(margin, valid[LABEL], valid["weight"])
    calibrated = calibrate_booster(trained.booster, platt)

    fresh = _population(rng, 200_000)  # the whole population, never sampled
    raw = trained.booster.predict(fresh[list(FEATURES)])
    probability = calibrated.predict(fresh[list(FEATURES)])
    np.testing.assert_allclose(probability, platt(trained.booster.predict(fresh[list(FEATURES)], raw_score=True)), rtol=1e-9)
    # Class weights and sampled negatives put the raw score far above the true rate; calibrated, it matches.
    rate = fresh[LABEL].mean()
    assert raw.mean() > 5 * rate
    assert probability.mean() == pytest.approx(rate, rel=0.15)
    assert brier(fresh[LABEL], probability) < brier(fresh[LABEL], raw)
    top = probability >= np.quantile(probability, 0.99)
    assert fresh.loc[top, LABEL].mean() == pytest.approx(probability[top].mean(), abs=0.05)
    # Strictly increasing: the same order, so the same ranks and the same precision at k.
    order = np.lexsort((np.arange(len(raw)), -raw))
    assert (np.lexsort((np.arange(len(raw)), -probability)) == order).all()
    # Contributions are scaled, not reordered: the reasons an analyst reads do not change.
    values = fresh[list(FEATURES)].head(200)
    before = top_reasons(trained.booster.predict(values, pred_contrib=True), values.to_numpy(), FEATURES, top=2,
                         window_days=7, entity_type="msisdn")
    after = top_reasons(calibrated.predict(values, pred_contrib=True), values.to_numpy(), FEATURES, top=2,
                        window_days=7, entity_type="msisdn")
    assert before == after
    # The original booster is left as it was, and the calibrated one survives its text form (what MLflow stores).
    np.testing.assert_allclose(trained.booster.predict(fresh[list(FEATURES)].head(50)), raw[:50])
    reloaded = lgb.Booster(model_str=calibrated.model_to_string())
    np.testing.assert_allclose(reloaded.predict(fresh[list(FEATURES)].head(50)), probability[:50], rtol=1e-12)


def test_the_map_stays_increasing_and_cross_fitting_is_honest():
    rng = np.random.default_rng(4)
    margin = rng.normal(size=2000)
    y = (rng.uniform(size=2000) < 0.1).astype(int)
    backwards = fit_platt(-margin + 0.0, (margin > 1).astype(int))  # a score that runs the wrong way
    assert backwards.slope >= MIN_SLOPE
    noise = fit_platt(margin, y)  # a score that says nothing: the slope goes to about 0, the rate to the base rate
    assert noise.slope < 0.2 and noise(np.array([0.0]))[0] == pytest.approx(0.1, abs=0.03)
    # A few positives do not give probabilities of exactly 0 or 1 (Platt's smoothed targets).
    separable = fit_platt(np.r_[np.full(5, 10.0), np.full(50, -10.0)], np.r_[np.ones(5), np.zeros(50)])
    assert 0.5 < separable(np.array([10.0]))[0] < 1 and 0 < separable(np.array([-10.0]))[0] < 0.5
    # Cross-fitted probabilities come from other folds: on pure noise they stay near the base rate for every row.
    held = cross_fitted(margin, y, seed=1)
    assert held.shape == margin.shape and np.abs(held - 0.1).max() < 0.06
    assert isinstance(Platt(1.0, 0.0)(np.array([0.0]))[0], float)
