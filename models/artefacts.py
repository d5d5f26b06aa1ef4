"""What a model owner opens in a training run: plots and tables beside the metrics.

:func:`write_artefacts` writes, for a booster and its validation rows:

- ``precision_recall.png``: the validation precision-recall curve, with the
  precision at the analysts' daily capacity k marked;
- ``feature_importance.png`` and ``feature_importance.csv``: gain and split
  counts per feature;
- ``shap_summary.png``: per top feature, each validation row's contribution
  (LightGBM's own TreeSHAP values, ``pred_contrib``) against the feature's
  value, the way SHAP summary plots show them;
- ``calibration.png`` and ``calibration.csv``: the reliability table (mean
  probability and observed positive rate per score decile) with the Brier score.

Validation rows carry the training sample's class balance (negatives are
sampled down); weighted by ``sample_weight`` (the inverse of each row's chance
to be sampled) the calibration figures are those of the whole population.
They are measured on cross-fitted probabilities (see ``models.calibration``)
when the caller passes them, so not on the rows the sigmoid was fitted on.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, precision_recall_curve

from models.lgbm import LABEL

SHAP_FEATURES = 12
CALIBRATION_BINS = 10


def reliability(
    y_true: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS, weight: np.ndarray | None = None
) -> pd.DataFrame:
    """Per score quantile bin (quantiles of the rows): rows, their weight, the weighted mean score and observed
    positive rate (empty bins dropped)."""
    frame = pd.DataFrame({"score": np.asarray(scores, dtype=float), "label": np.asarray(y_true, dtype=int)})
    frame["weight"] = 1.0 if weight is None else np.asarray(weight, dtype=float)
    edges = np.unique(np.quantile(frame["score"], np.linspace(0, 1, bins + 1)))
    frame["bin"] = np.clip(np.searchsorted(edges, frame["score"], side="right") - 1, 0, max(len(edges) - 2, 0))
    frame["w_score"] = frame["weight"] * frame["score"]
    frame["w_label"] = frame["weight"] * frame["label"]
    table = frame.groupby("bin").agg(rows=("label", "size"), weight=("weight", "sum"), w_score=("w_score", "sum"),
                                     w_label=("w_label", "sum"))
    table["mean_score"] = table["w_score"] / table["weight"]
    table["observed"] = table["w_label"] / table["weight"]
    return table[["rows", "weight", "mean_score", "observed"]].reset_index(drop=True)


def brier(y_true: np.ndarray, scores: np.ndarray, weight: np.ndarray | None = None) -> float:
    return float(
        brier_score_loss(np.asarray(y_true, dtype=int), np.clip(np.asarray(scores, dtype=float), 0, 1), sample_weight=weight)
    )


def fingerprint(sample: pd.DataFrame, columns: list[str]) -> str:
    """A short SHA-256 of the training rows (the given columns, in the sample's order): same data, same print."""
    rows = sample if list(sample.columns) == list(columns) else sample[columns]  # no copy when it is all of them
    digest = hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def git_commit(root: Path) -> str:
    """The code's commit, with ``+dirty`` when the work tree has changes; ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_artefacts(
    booster,
    valid_df: pd.DataFrame,
    features: tuple[str, ...],
    *,
    k: int,
    out: Path,
    probabilities: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> dict[str, float]:
    """Write the plots and tables above into ``out``; returns the calibration figures to log as metrics.

    The calibration figures use ``probabilities`` (default: the booster's predictions) weighted by ``weight``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    values = valid_df[list(features)].astype("float64")
    y = valid_df[LABEL].to_numpy(dtype=int)
    scores = booster.predict(values)

    precision, recall, _ = precision_recall_curve(y, scores)
    top = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(recall, precision, color="#1f4e79")
    ax.scatter([y[top].sum() / max(y.sum(), 1)], [y[top].mean() if len(top) else 0], color="#c00000", zorder=3,
               label=f"top {len(top)} (daily capacity)")
    ax.set(xlabel="recall", ylabel="precision", title="Validation precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "precision_recall.png", dpi=110)
    plt.close(fig)

    importance = pd.DataFrame(
        {
            "feature": list(features),
            "gain": booster.feature_importance(importance_type="gain"),
            "splits": booster.feature_importance(importance_type="split"),
        }
    ).sort_values("gain", ascending=False, ignore_index=True)
    importance.to_csv(out / "feature_importance.csv", index=False)
    shown = importance.head(20)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    ax.barh(shown["feature"], shown["gain"], color="#1f4e79")
    ax.set(xlabel="total gain", title="Feature importance (top 20 by gain)")
    fig.tight_layout()
    fig.savefig(out / "feature_importance.png", dpi=110)
    plt.close(fig)

    contributions = booster.predict(values, pred_contrib=True)[:, : len(features)]
    order = np.argsort(-np.abs(contributions).mean(axis=0), kind="stable")[:SHAP_FEATURES][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.4))
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        column = values.iloc[:, j].to_numpy()
        finite = np.isfinite(column)
        low, high = (np.nanpercentile(column, 5), np.nanpercentile(column, 95)) if finite.any() else (0.0, 1.0)
        colour = np.where(finite, np.clip((column - low) / ((high - low) or 1.0), 0, 1), 0.5)
        ax.scatter(contributions[:, j], row + rng.uniform(-0.3, 0.3, len(column)), c=colour, cmap="coolwarm", s=6)
    ax.set_yticks(range(len(order)), [features[j] for j in order])
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="contribution to the log-odds (TreeSHAP)", title="SHAP summary: blue low value, red high")
    fig.tight_layout()
    fig.savefig(out / "shap_summary.png", dpi=110)
    plt.close(fig)

    probabilities = scores if probabilities is None else np.asarray(probabilities, dtype=float)
    table = reliability(y, probabilities, weight=weight)
    table.to_csv(out / "calibration.csv", index=False)
    score_brier = brier(y, probabilities, weight)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    ax.plot(table["mean_score"], table["observed"], marker="o", color="#1f4e79")
    population = "population-weighted" if weight is not None else "unweighted sample"
    ax.set(xlabel="mean risk_score", ylabel="observed positive rate", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability on validation rows (Brier {score_brier:.4f})\n{population}")
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=110)
    plt.close(fig)
    return {"brier": score_brier, "calibration_max_gap": float((table["mean_score"] - table["observed"]).abs().max())}
