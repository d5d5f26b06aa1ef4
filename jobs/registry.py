"""``fraud models`` and ``fraud promote``: what the model registry holds, and the champion set by hand.

Neither starts Spark: they read and write the MLflow store of the lake
(:func:`fraudgraph.tracking.configure`).
"""

from __future__ import annotations

import getpass

from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.lake import Lake

# One model per entity type that labels name.
ENTITY_TYPES = C.LABEL_ENTITY_TYPES


def model_name(cfg: Config, entity_type: str) -> str:
    """The registered model of an entity type, one per type."""
    return f"{cfg.mlflow.model_prefix}-{entity_type}"


def run_models(cfg: Config, *, lake: Lake, entity_type: str | None = None) -> dict:
    """Per entity type: the registered model's versions, newest first, with aliases and validation metrics."""
    tracking.configure(lake)
    wanted = (entity_type,) if entity_type else ENTITY_TYPES
    return {t: {"model": model_name(cfg, t), "versions": tracking.model_versions(model_name(cfg, t))} for t in wanted}


def run_promote(cfg: Config, *, lake: Lake, entity_type: str, version: str, reason: str) -> dict:
    """Make ``version`` of the entity type's model the champion (``fraud promote``); scoring uses it next."""
    tracking.configure(lake)
    return tracking.promote(model_name(cfg, entity_type), version, reason=reason, by=getpass.getuser())
