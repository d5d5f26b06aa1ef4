"""Ranking metrics that match analyst work: of the k they can review, how many are real."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    # Stable order on ties so a metric is reproducible.
    return np.argsort(-scores, kind="stable")[: min(k, len(scores))]


def ranking_metrics(y_true: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
    """Average precision, ROC-AUC, precision and recall at ``k``, and the base rate.

    With no positive (or no negative) AP/AUC are NaN rather than an error, so
    a quiet day still reports its precision at k.
    """
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    positives = int(y_true.sum())
    has_both = 0 < positives < len(y_true)
    top = _top_k(scores, k)
    hits = int(y_true[top].sum())
    return {
        "n": int(len(y_true)),
        "positives": positives,
        "base_rate": positives / len(y_true) if len(y_true) else float("nan"),
        "average_precision": float(average_precision_score(y_true, scores)) if has_both else float("nan"),
        "roc_auc": float(roc_auc_score(y_true, scores)) if has_both else float("nan"),
        "k": int(k),
        "precision_at_k": hits / len(top) if len(top) else float("nan"),
        "recall_at_k": hits / positives if positives else float("nan"),
    }


def group_recall_at_k(groups: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
    """How many groups (rings) have a member in the top ``k``; ``groups`` is None for non-members."""
    groups = np.asarray(groups, dtype=object)
    present = {g for g in groups if g is not None}
    found = {g for g in groups[_top_k(np.asarray(scores, dtype=float), k)] if g is not None}
    return {
        "rings": len(present),
        "rings_in_top_k": len(found),
        "ring_recall_at_k": len(found) / len(present) if present else float("nan"),
    }
