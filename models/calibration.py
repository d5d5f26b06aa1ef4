"""Calibration: a ``risk_score`` that reads as the chance that the entity is a positive.

A booster trained with class weights on a sample whose negatives were thinned
out scores far above the true rate. :func:`fit_platt` fits Platt's sigmoid
``p = 1 / (1 + exp(-(slope * margin + intercept)))`` on the validation rows'
raw scores (log-odds), each row weighted by the inverse of its chance to be in
the sample (``sample_weight``), so the probabilities are those of the whole
population, with Platt's smoothed targets so that a handful of positives does
not give probabilities of 0 or 1. The slope is kept positive: the map is
strictly increasing, so ranks, precision at k and average precision do not
move.

:func:`calibrate_booster` writes the map into the booster itself: every leaf
value is multiplied by the slope and the intercept is added to the first
tree's leaves (each row reaches exactly one of them). The registered model
then predicts calibrated probabilities wherever it is loaded (scoring on
Spark, MLflow's pyfunc, the drift reference), and its TreeSHAP
contributions are the old ones times the slope, the intercept going to the
bias term: reasons keep their order.

:func:`cross_fitted` gives each validation row a probability from a sigmoid
fitted on the other folds, so that the Brier score and the reliability table
logged with a run are not measured on the rows the sigmoid was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

MIN_SLOPE = 1e-3
FOLDS = 5


@dataclass(frozen=True)
class Platt:
    slope: float
    intercept: float

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        return expit(self.slope * np.asarray(margin, dtype="float64") + self.intercept)


def fit_platt(margin: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Platt:
    """Weighted Platt scaling of raw scores ``margin`` to the 0/1 labels ``y``; the slope is at least
    :data:`MIN_SLOPE`."""
    margin = np.asarray(margin, dtype="float64")
    y = np.asarray(y, dtype="float64")
    weight = np.ones_like(margin) if weight is None else np.asarray(weight, dtype="float64")
    positives, negatives = weight[y == 1].sum(), weight[y == 0].sum()
    # Platt's targets: (N+ + 1) / (N+ + 2) for positives and 1 / (N- + 2) for negatives.
    target = np.where(y == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    total = weight.sum()

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * margin + ab[1]
        # Cross-entropy against the targets, written with logaddexp so large margins do not overflow.
        per_row = target * np.logaddexp(0.0, -z) + (1.0 - target) * np.logaddexp(0.0, z)
        residual = weight * (expit(z) - target)
        return float(np.dot(weight, per_row) / total), np.array([np.dot(residual, margin), residual.sum()]) / total

    prior = np.log((positives + 1.0) / (negatives + 1.0))
    found = minimize(loss, x0=np.array([1.0, prior]), jac=True, method="L-BFGS-B", bounds=[(MIN_SLOPE, None), (None, None)])
    return Platt(float(found.x[0]), float(found.x[1]))


def cross_fitted(margin: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, *, seed: int = 0) -> np.ndarray:
    """Each row's probability from a sigmoid fitted on the other folds (stratified by label)."""
    margin = np.asarray(margin, dtype="float64")
    y = np.asarray(y, dtype=int)
    weight = np.ones_like(margin) if weight is None else np.asarray(weight, dtype="float64")
    fold = np.empty(len(y), dtype=int)
    rng = np.random.default_rng(seed)
    for value in (0, 1):
        rows = np.flatnonzero(y == value)
        fold[rows] = rng.permutation(len(rows)) % FOLDS
    out = np.empty(len(y), dtype="float64")
    for k in range(FOLDS):
        held = fold == k
        if not held.any():
            continue
        out[held] = fit_platt(margin[~held], y[~held], weight[~held])(margin[held])
    return out


def calibrate_booster(booster: lgb.Booster, platt: Platt) -> lgb.Booster:
    """A copy of ``booster`` whose predictions are ``platt`` of the original raw scores (``booster`` unchanged)."""
    calibrated = lgb.Booster(model_str=booster.model_to_string())
    for tree in calibrated.dump_model()["tree_info"]:
        index = tree["tree_index"]
        for leaf in range(tree["num_leaves"]):
            value = calibrated.get_leaf_output(index, leaf) * platt.slope + (platt.intercept if index == 0 else 0.0)
            calibrated.set_leaf_output(index, leaf, value)
    return calibrated
