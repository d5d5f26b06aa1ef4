"""LightGBM training with early stopping on validation average precision.

Knows nothing of MLflow or Spark: pandas in, a booster and metrics out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.metrics import ranking_metrics

LABEL = "label"

# Keys of the configuration's lightgbm block that are training-loop settings, not booster params.
_LOOP_KEYS = ("num_boost_round", "early_stopping_rounds")


@dataclass(frozen=True)
class TrainedModel:
    booster: lgb.Booster
    features: tuple[str, ...]
    best_iteration: int
    validation: dict[str, float]
    params: dict[str, Any]


def train_lightgbm(
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    *,
    features: tuple[str, ...],
    params: dict[str, Any],
    seed: int,
    k: int,
) -> TrainedModel:
    """Fit on ``train_df``, stop early on ``valid_df``'s average precision.

    Both frames hold ``features`` and a 0/1 ``label``. Class imbalance is
    handled by ``scale_pos_weight`` (negatives / positives of the training
    set) unless ``params`` sets it. Raises ValueError when either frame has no
    positive: a model with nothing to learn from must not be registered.
    """
    for name, frame in (("training", train_df), ("validation", valid_df)):
        if int(frame[LABEL].sum()) == 0:
            raise ValueError(f"{name} set has no positive label ({len(frame)} rows)")
    booster_params = {k_: v for k_, v in params.items() if k_ not in _LOOP_KEYS}
    positives = float(train_df[LABEL].sum())
    booster_params.setdefault("scale_pos_weight", max(1.0, (len(train_df) - positives) / positives))
    booster_params.update({"seed": seed, "deterministic": True, "num_threads": booster_params.get("num_threads", 2)})
    booster_params.setdefault("metric", "average_precision")
    # One float64 matrix per frame, handed to LightGBM as it is (a frame would be copied twice more: its
    # columns, then their values) and dropped once LightGBM has binned it: the training sample is the
    # largest thing the driver holds.
    train_set = lgb.Dataset(
        _matrix(train_df, features), label=train_df[LABEL].to_numpy(), feature_name=list(features), free_raw_data=True
    )
    valid_set = lgb.Dataset(
        _matrix(valid_df, features), label=valid_df[LABEL].to_numpy(), feature_name=list(features), reference=train_set
    )
    booster = lgb.train(
        booster_params,
        train_set,
        num_boost_round=int(params.get("num_boost_round", 300)),
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(int(params.get("early_stopping_rounds", 30)), verbose=False)],
    )
    valid_scores = booster.predict(valid_df[list(features)], num_iteration=booster.best_iteration)
    return TrainedModel(
        booster=booster,
        features=tuple(features),
        best_iteration=int(booster.best_iteration or booster.current_iteration()),
        validation=ranking_metrics(valid_df[LABEL].to_numpy(), valid_scores, k),
        params=booster_params,
    )


def _matrix(frame: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    matrix = np.empty((len(frame), len(features)), dtype="float64", order="F")
    for i, feature in enumerate(features):  # column by column: no copy of the frame's columns on the way
        matrix[:, i] = frame[feature].to_numpy(dtype="float64", na_value=np.nan)
    return matrix


def predict(booster: lgb.Booster, frame: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    return booster.predict(frame[list(features)])
