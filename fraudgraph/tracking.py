"""MLflow wiring for the jobs: the store, experiments, the registry and its aliases.

``MLFLOW_TRACKING_URI`` wins when set; otherwise a sqlite store under the
lake (``LAKE/mlflow.db``, artefacts in ``LAKE/mlartifacts``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd

from fraudgraph.lake import Lake

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PIP_REQUIREMENTS = [f"lightgbm=={lgb.__version__}", f"pandas=={pd.__version__}"]


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    booster: lgb.Booster
    features: tuple[str, ...]
    run_id: str | None = None


# The lake URIs this process handed to MLflow. ``mlflow.set_tracking_uri`` also writes the URI into
# ``MLFLOW_TRACKING_URI`` (for subprocesses), so without this a second lake configured in the same
# process would take that value for the user's choice and log into the first lake's store. Any of them
# counts, not only the last: code that saved and restored the variable around a configure (a test's
# monkeypatch) puts an earlier lake's copy back.
_configured: set[str] = set()


def _chosen_uri() -> str | None:
    """``MLFLOW_TRACKING_URI`` when the user set it, not when MLflow copied one of our own choices into it."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    return None if not uri or uri in _configured else uri


def configure(lake: Lake) -> str:
    """Point MLflow at the store; returns its URI."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # A scheduler's log gets no progress bars: reading a champion's drift reference drew one on stderr.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    chosen = _chosen_uri()
    uri = chosen or lake.mlflow_uri
    if uri == lake.mlflow_uri:
        lake.root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if not chosen:
        _configured.add(uri)
    return uri


def experiment_id(name: str, lake: Lake) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = f"{lake.artifacts_uri}/{name}" if not _chosen_uri() else None
    return client.create_experiment(name, artifact_location=location)


def log_model_run(
    *,
    experiment: str,
    lake: Lake,
    model_name: str,
    booster: lgb.Booster,
    input_example: pd.DataFrame,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    documents: dict[str, dict[str, Any]] | None = None,
    artefacts: Path | None = None,
) -> Registered:
    """One MLflow run: params, metrics, JSON ``documents`` (artefact name -> content), the files of the folder
    ``artefacts``, the model (signature, input example), registered as a new version."""
    import math

    import mlflow
    from mlflow.models import infer_signature

    with mlflow.start_run(experiment_id=experiment_id(experiment, lake)) as run:
        mlflow.set_tags(tags)
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(float(v))})
        for artefact, content in (documents or {}).items():
            mlflow.log_dict(content, artefact)
        if artefacts is not None:
            mlflow.log_artifacts(str(artefacts))
        signature = infer_signature(input_example, booster.predict(input_example))
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=input_example,
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=model_name,
        )
    return Registered(model_name, str(info.registered_model_version), run.info.run_id)


def load_champion(model_name: str) -> Champion | None:
    """The version holding the ``champion`` alias, or None when there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        version = MlflowClient().get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    booster = mlflow.lightgbm.load_model(f"models:/{model_name}@{CHAMPION}")
    return Champion(model_name, str(version.version), booster, tuple(booster.feature_name()), version.run_id)


def load_document(run_id: str, artefact: str) -> dict[str, Any] | None:
    """A JSON artefact of a run, or None when the run has none by that name (a model trained before it existed)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{artefact}")
    except (MlflowException, OSError):
        return None


def log_scoring_run(*, experiment: str, lake: Lake, run_name: str, metrics: dict[str, float], tags: dict[str, str]) -> str:
    """One MLflow run for a scoring day (its drift figures), in the entity type's experiment; returns its id."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id(experiment, lake), run_name=run_name) as run:
        mlflow.set_tags(tags)
        mlflow.log_metrics(metrics)
    return run.info.run_id


def set_alias(model_name: str, alias: str, version: str, notes: dict[str, str]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(model_name, alias, version)
    for key, value in notes.items():
        client.set_model_version_tag(model_name, version, key, value)


# Validation metrics of a run shown by ``fraud models`` (logged by ``fraud train`` as ``valid_<name>``).
HEADLINE_METRICS = ("average_precision", "roc_auc", "precision_at_k", "recall_at_k")


def _iso(ms: int | None) -> str | None:
    import datetime as dt

    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="seconds")


def model_versions(model_name: str) -> list[dict[str, Any]]:
    """Every version of a registered model, newest first: its aliases, when it was trained and for which
    day, its run's validation metrics and the promotion decision recorded on it. Empty when the name is not
    registered."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        registered = client.get_registered_model(model_name)
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for version in sorted(client.search_model_versions(f"name='{model_name}'"), key=lambda v: -int(v.version)):
        run = client.get_run(version.run_id) if version.run_id else None
        metrics = run.data.metrics if run else {}
        rows.append(
            {
                "version": str(version.version),
                "aliases": sorted(aliases.get(str(version.version), [])),
                "registered": _iso(version.creation_timestamp),
                "as_of": run.data.tags.get("as_of") if run else None,
                **{f"valid_{m}": metrics.get(f"valid_{m}") for m in HEADLINE_METRICS},
                "decision": version.tags.get("promotion_decision"),
                "demoted": version.tags.get("demoted"),
                "run_id": version.run_id,
            }
        )
    return rows


def has_store(lake: Lake) -> bool:
    """Whether there is a store to read: ``MLFLOW_TRACKING_URI`` set, or the lake's sqlite store present (reading
    the registry of a lake that never trained would create an empty store)."""
    return bool(_chosen_uri()) or (lake.root / "mlflow.db").is_file()


def registered_versions(lake: Lake, model_names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`model_versions` of each name, from the lake's store; empty lists when there is no store."""
    if not has_store(lake):
        return {name: [] for name in model_names}
    configure(lake)
    return {name: model_versions(name) for name in model_names}


def promote(model_name: str, version: str, *, reason: str, by: str) -> dict[str, Any]:
    """Give ``version`` the champion alias by hand (a rollback or an override), recording who, when and why
    on it and on the version that held the alias. Raises :class:`~fraudgraph.errors.MissingInput` for a
    version that is not registered."""
    import datetime as dt

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from fraudgraph.errors import MissingInput

    client = MlflowClient()
    try:
        client.get_model_version(model_name, version)
    except MlflowException:
        raise MissingInput(f"{model_name} has no registered version {version} (see fraud models)") from None
    aliases = client.get_registered_model(model_name).aliases or {}
    previous = aliases.get(CHAMPION)
    previous = None if previous is None else str(previous)
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if previous == version:
        return {"model": model_name, "champion": version, "previous_champion": previous, "changed": False}
    was = "none" if previous is None else f"v{previous}"
    decision = f"set by hand by {by} at {when}: {reason} (champion was {was})"
    set_alias(model_name, CHAMPION, version, {"promotion_decision": decision, "promoted": "true"})
    if aliases.get(CHALLENGER) is not None and str(aliases[CHALLENGER]) == version:
        client.delete_registered_model_alias(model_name, CHALLENGER)
    if previous is not None:
        client.set_model_version_tag(model_name, previous, "demoted", f"{when} by {by}: v{version} made champion by hand")
    log.info("%s: v%s is champion by hand (was %s): %s", model_name, version, was, reason)
    return {"model": model_name, "champion": version, "previous_champion": previous, "changed": True, "reason": reason}
