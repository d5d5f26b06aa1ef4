"""fraud run: the daily job — ingest what the window needs, train if no champion exists, score."""

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
from jobs.score import run_score
from jobs.train import model_name, run_train, snapshot_days

log = logging.getLogger(__name__)


def days_needed(cfg: Config, day: dt.date, *, with_training: bool) -> list[dt.date]:
    """Every day whose feeds the run reads: the scoring window, and the training windows when it trains."""
    ends = [day] + (snapshot_days(cfg, day) if with_training else [])
    first = min(ends) - dt.timedelta(days=cfg.window.days - 1)
    return days_between(first, day)


def run_daily(spark: SparkSession, cfg: Config, *, raw: Raw, lake: Lake, day: dt.date, key: bytes) -> dict:
    """Ingest the days not yet in the lake (and always ``day`` itself), train when needed, score."""
    tracking.configure(lake)
    needs_training = any(tracking.load_champion(model_name(cfg, t)) is None for t in FEATURE_SETS)
    needed = days_needed(cfg, day, with_training=needs_training)
    ingested = set(lake.ingested_days(C.CALLS))
    missing = [d for d in needed if d not in ingested] or [day]
    result: dict = {"ingest": run_ingest(spark, cfg, raw=raw, lake=lake, first=min(missing), last=day, key=key)}
    if needs_training:
        result["train"] = run_train(spark, cfg, lake=lake, as_of=day)
    result["score"] = run_score(spark, cfg, lake=lake, day=day)
    return result
