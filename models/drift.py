"""Population stability between a model's training population and a scoring day.

At training, :func:`reference` takes a profile of the score and of the
model's top features by gain over a uniform sample of the latest training
snapshot (not the training rows, whose negatives are sampled down): the
decile edges, the share of rows in each bin, and the share missing. It is
logged with the run as :data:`REFERENCE_ARTEFACT`. On a scoring day,
:func:`day_shares` counts the day's rows in the same bins with Spark (one
aggregation per frame; only the counts reach the driver), and :func:`psi`
compares the two:

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with shares floored at 1e-4 so an empty bin does not divide by zero. The
usual reading: under 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a
major one (``score.drift_threshold`` sets where the job flags it).
"""

from __future__ import annotations

from functools import reduce
from operator import add
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SCORE = "score"
# The run artefact holding the reference profile; scoring reads it from the champion's run.
REFERENCE_ARTEFACT = "drift_reference.json"
FLOOR = 1e-4
QUANTILES = np.linspace(0.1, 0.9, 9)


def profile(values: np.ndarray) -> dict[str, list[float]]:
    """Decile ``edges`` of the non-missing values and the ``shares`` of all values per bin, the missing last.

    Bin ``i`` holds the values above exactly ``i`` edges (:func:`bin_of` computes the same on Spark), so a
    value equal to an edge falls in the bin below it. Repeated edges (a feature that is often 0) are merged.
    """
    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    present = values[~missing]
    edges = np.unique(np.quantile(present, QUANTILES)) if len(present) else np.array([])
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    total = max(len(values), 1)
    return {"edges": edges.tolist(), "shares": [*(counts / total).tolist(), float(missing.sum() / total)]}


def reference(booster, frame: pd.DataFrame, features: tuple[str, ...], *, top: int) -> dict[str, Any]:
    """The training profile logged with a model: its score on ``frame`` and its ``top`` features by gain."""
    values = frame[list(features)].astype("float64")
    gain = booster.feature_importance(importance_type="gain")
    order = [i for i in np.argsort(-gain, kind="stable")[:top] if gain[i] > 0]
    return {
        SCORE: profile(booster.predict(values)),
        "features": {features[i]: profile(values[features[i]].to_numpy()) for i in order},
    }


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype="float64"), FLOOR)
    a = np.maximum(np.asarray(actual, dtype="float64"), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def bin_of(column: Column, edges: list[float]) -> Column:
    """The bin of :func:`profile` for each row: the number of edges below the value; missing after the last."""
    value = column.cast("double")
    above = reduce(add, [(value > F.lit(float(e))).cast("int") for e in edges], F.lit(0))
    return F.when(value.isNull() | F.isnan(value), F.lit(len(edges) + 1)).otherwise(above)


def day_shares(df: DataFrame, columns: dict[str, tuple[str, list[float]]]) -> dict[str, list[float]]:
    """Per profile name, the share of ``df``'s rows in each bin; ``columns`` maps a name to (column, edges)."""
    names = list(columns)
    binned = df.select(*[bin_of(F.col(col), edges).alias(f"b{i}") for i, (col, edges) in enumerate(columns.values())])
    counts = [F.count(F.lit(1)).alias("rows")]
    for i, name in enumerate(names):
        counts += [F.count(F.when(F.col(f"b{i}") == k, 1)).alias(f"b{i}_{k}") for k in range(len(columns[name][1]) + 2)]
    row = binned.agg(*counts).first()
    rows = row["rows"]
    return {
        name: [row[f"b{i}_{k}"] / rows if rows else 0.0 for k in range(len(columns[name][1]) + 2)]
        for i, name in enumerate(names)
    }


def drift(ref: dict[str, Any], scores_df: DataFrame, features_df: DataFrame, *, threshold: float) -> dict[str, Any]:
    """PSI of the day's ``risk_score`` (``scores_df``) and top features (``features_df``) against ``ref``."""
    actual = day_shares(scores_df, {SCORE: ("risk_score", ref[SCORE]["edges"])})
    features = {f: (f, p["edges"]) for f, p in ref["features"].items() if f in features_df.columns}
    if features:
        actual.update(day_shares(features_df, features))
    expected = {SCORE: ref[SCORE]["shares"], **{f: p["shares"] for f, p in ref["features"].items()}}
    values = {name: round(psi(expected[name], shares), 6) for name, shares in actual.items()}
    return {
        "score_psi": values[SCORE],
        "feature_psi": {name: v for name, v in values.items() if name != SCORE},
        "threshold": threshold,
        "flagged": sorted(name for name, v in values.items() if v > threshold),
    }
