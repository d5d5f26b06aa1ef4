# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A day's scores
#
# What `fraud score` wrote for one day: the riskiest numbers and accounts with
# their reasons, how the scores are spread, and, when `fraud evaluate` has
# run, how they did against the simulated truth. Set `FRAUD_LAKE` and
# `FRAUD_DATE` (defaults: the demo's). Runs as a plain script too:
# `python notebooks/daily_scores.py`.

# %%
import json
import os
from pathlib import Path

import pandas as pd

LAKE = Path(os.environ.get("FRAUD_LAKE", "demo/lake"))
DATE = os.environ.get("FRAUD_DATE", "2026-03-28")
TOP = int(os.environ.get("FRAUD_TOP", "10"))

scores = pd.read_parquet(LAKE / "scores" / f"dt={DATE}")
print(f"{len(scores):,} scored parties on {DATE}")
print(scores.groupby("entity_type")["risk_score"].describe().round(3).to_string())

# %% [markdown]
# ## The top of each list, as an analyst sees it
# Tokens are shortened: the lake holds no raw identifier.

# %%
for entity_type, group in scores.groupby("entity_type"):
    top = group.nsmallest(TOP, "risk_rank")
    print(f"\n{entity_type}: top {len(top)}")
    for row in top.itertuples():
        print(f"  #{row.risk_rank:<3} {row.entity_token[:10]}…  {row.risk_score:.3f}  {'; '.join(row.reasons)}")

# %% [markdown]
# ## Against the truth (simulated worlds only)

# %%
evaluation_path = LAKE / "evaluation" / f"dt={DATE}" / "evaluation.json"
if evaluation_path.exists():
    evaluation = json.loads(evaluation_path.read_text())
    table = pd.DataFrame({k: v for k, v in evaluation.items() if isinstance(v, dict)}).T
    print(table[["n", "positives", "average_precision", "roc_auc", "precision_at_k", "recall_at_k", "ring_recall_at_k"]].to_string())
else:
    print(f"no evaluation for {DATE}: run fraud evaluate --world DIR --date {DATE}")
