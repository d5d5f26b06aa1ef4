# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Champion and challenger
#
# For model owners: what the MLflow registry of a lake holds for each entity
# type, the champion next to the challenger (or, when there is none, next to
# the version before it), on the same validation rows where the challenger's
# run measured both, what each was trained on, which features carry them, and
# the drift that scoring logged since. Set `FRAUD_LAKE` (default: the demo's
# lake) and optionally `FRAUD_ENTITY` (`msisdn` or `account`). Runs as a plain
# script too: `python notebooks/model_report.py`. It reads the store and
# changes nothing; `fraud promote` is the command that changes the champion.

# %%
import os
from pathlib import Path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from fraudgraph import tracking
from fraudgraph.config import load_config
from fraudgraph.lake import Lake
from jobs.registry import ENTITY_TYPES, run_models

LAKE = Path(os.environ.get("FRAUD_LAKE", "demo/lake"))
ENTITIES = [os.environ["FRAUD_ENTITY"]] if os.environ.get("FRAUD_ENTITY") else list(ENTITY_TYPES)
pd.set_option("display.width", 160)

cfg = load_config()
tracking.configure(Lake(LAKE))
client = MlflowClient()
registry = run_models(cfg, lake=Lake(LAKE))
for entity in ENTITIES:
    versions = pd.DataFrame(registry[entity]["versions"])
    print(f"\n== {registry[entity]['model']}: {len(versions)} version(s)")
    if not versions.empty:
        shown = versions[["version", "aliases", "as_of", "valid_average_precision", "valid_precision_at_k", "decision"]]
        print(shown.to_string(index=False, max_colwidth=70))

# %% [markdown]
# ## Side by side
# The challenger's run scored the champion of its day on the challenger's own
# validation rows (`champion_valid_average_precision`): that is the fair
# comparison, and the promotion rule's. The other figures are each run's own.


# %%
def pair(versions: pd.DataFrame) -> tuple[pd.Series | None, pd.Series | None]:
    """The champion and the challenger, or the newest other version when no challenger is set."""
    champion = next((row for _, row in versions.iterrows() if "champion" in row["aliases"]), None)
    challenger = next((row for _, row in versions.iterrows() if "challenger" in row["aliases"]), None)
    if challenger is None and champion is not None:
        challenger = next((row for _, row in versions.iterrows() if row["version"] != champion["version"]), None)
    return champion, challenger


def describe(row: pd.Series) -> dict:
    run = client.get_run(row["run_id"])
    params, metrics = run.data.params, run.data.metrics
    keys = ("valid_average_precision", "valid_roc_auc", "valid_precision_at_k", "valid_recall_at_k", "valid_brier")
    return {
        "version": row["version"],
        "aliases": ",".join(row["aliases"]) or "-",
        **{k: metrics.get(k) for k in keys},
        "champion_of_its_day_AP_same_rows": metrics.get("champion_valid_average_precision"),
        "as_of": params.get("as_of"),
        "snapshots": params.get("snapshots"),
        "feature_set_version": params.get("feature_set_version"),
        "training_data_fingerprint": params.get("training_data_fingerprint"),
        "git_commit": (params.get("git_commit") or "")[:12],
        "train_rows": metrics.get("train_rows"),
    }


def top_features(run_id: str, n: int = 8) -> list[str]:
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="feature_importance.csv")
    except Exception:  # a run from before the artefact existed
        return []
    return pd.read_csv(path)["feature"].head(n).tolist()


for entity in ENTITIES:
    versions = pd.DataFrame(registry[entity]["versions"])
    champion, challenger = pair(versions) if not versions.empty else (None, None)
    if champion is None:
        print(f"\n{entity}: no champion yet (fraud train registers the first one)")
        continue
    rows = [describe(champion)] + ([describe(challenger)] if challenger is not None else [])
    table = pd.DataFrame(rows).set_index("version").T
    print(f"\n== {entity}: champion v{champion['version']}"
          + (f" vs {'challenger' if 'challenger' in challenger['aliases'] else 'previous'} v{challenger['version']}"
             if challenger is not None else " (no other version)"))
    print(table.to_string())
    for row in [champion] + ([challenger] if challenger is not None else []):
        print(f"top features of v{row['version']}: {', '.join(top_features(row['run_id'])) or 'n/a'}")
    print(f"decision recorded on v{champion['version']}: {champion['decision']}")

# %% [markdown]
# ## Drift since training
# Each `fraud score` logs the population stability of the day's scores and of
# the champion's top features against its training population (tag
# `kind=scoring`); above `score.drift_threshold` the day is flagged.

# %%
for entity in ENTITIES:
    experiment = client.get_experiment_by_name(f"{cfg.mlflow.experiment_prefix}-{entity}")
    runs = [] if experiment is None else client.search_runs(
        [experiment.experiment_id], filter_string="tags.kind = 'scoring'", order_by=["start_time DESC"], max_results=14
    )
    if not runs:
        print(f"\n{entity}: no scoring run logged yet")
        continue
    drift = pd.DataFrame(
        {
            "day": r.data.tags.get("day"),
            "model_version": r.data.tags.get("model_version"),
            "psi_score": r.data.metrics.get("psi_score"),
            "flagged": r.data.tags.get("drift_flagged"),
        }
        for r in runs
    )
    print(f"\n== {entity}: the last {len(drift)} scoring day(s)")
    print(drift.to_string(index=False))
