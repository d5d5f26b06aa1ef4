"""fraud run: the daily job — ingest what the window needs, train if no (current) champion exists, score."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import SparkSession

from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.config import Config
from fraudgraph.lake import Lake, Raw, days_between
from jobs.features import FEATURE_SETS
from jobs.ingest import run_ingest
from jobs.registry import model_name
from jobs.score import run_score
from jobs.train import run_train, snapshot_days

log = logging.getLogger(__name__)


def days_needed(cfg: Config, day: dt.date, *, with_training: bool) -> list[dt.date]:
    """Every day whose feeds the run reads: the scoring window, and the training windows when it trains."""
    ends = [day] + (snapshot_days(cfg, day) if with_training else [])
    first = min(ends) - dt.timedelta(days=cfg.window.days - 1)
    return days_between(first, day)


def _needs_training(cfg: Config, entity_type: str) -> bool:
    """No champion yet, or one trained on another feature set than this version computes."""
    champion = tracking.load_champion(model_name(cfg, entity_type))
    if champion is None:
        return True
    if tuple(champion.features) != FEATURE_SETS[entity_type]:
        log.warning("%s champion v%s uses another feature set: training a new model", entity_type, champion.version)
        return True
    return False


def run_daily(spark: SparkSession, cfg: Config, *, raw: Raw, lake: Lake, day: dt.date, key: bytes) -> dict:
    """Ingest the days not yet in the lake (and always ``day`` itself), train when needed, score.

    Exposures and labels are ingested with their whole past up to ``day``
    (what the lake lacks of it): a leak or a report from before the windows
    still counts.
    """
    tracking.configure(lake)
    needs_training = any(_needs_training(cfg, t) for t in FEATURE_SETS)
    needed = days_needed(cfg, day, with_training=needs_training)
    ingested = set(lake.ingested_days(C.CALLS))
    missing = [d for d in needed if d not in ingested] or [day]
    result: dict = {"ingest": run_ingest(
        spark, cfg, raw=raw, lake=lake, first=min(missing), last=day, key=key, history=True
    )}
    if needs_training:
        result["train"] = run_train(spark, cfg, lake=lake, as_of=day)
    result["score"] = run_score(spark, cfg, lake=lake, day=day)
    return result
