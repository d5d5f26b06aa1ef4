"""Typed, frozen configuration loaded once from ``conf/``.

``conf/base/config.yaml`` is committed; ``conf/local/config.yaml`` (ignored by
git) or a file given with ``--conf`` overrides any of its keys. The
pseudonymisation key is read from the environment only (:func:`pseudo_key`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fraudgraph.errors import FraudError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BASE_CONF = PROJECT_ROOT / "conf" / "base" / "config.yaml"
LOCAL_CONF = PROJECT_ROOT / "conf" / "local" / "config.yaml"
PSEUDO_KEY_ENV = "FRAUD_PSEUDO_KEY"


@dataclass(frozen=True)
class PathsConf:
    raw: str
    lake: str


@dataclass(frozen=True)
class WindowConf:
    days: int


@dataclass(frozen=True)
class SparkConf:
    master: str
    app_name: str
    shuffle_partitions: int
    driver_memory: str
    # Reliable checkpoints under this folder (shared storage on a cluster: hdfs://, s3a://); empty: local
    # checkpoints in the executors' block stores, which a lost executor turns into a failed job.
    checkpoint_dir: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestConf:
    amount_ceiling: float
    max_bad_share: float
    # Great Expectations suites: a YAML file, relative to the project root unless absolute.
    quality_suites: str
    # Feeds ingested at the same time (threads of the driver sharing the Spark application); 1: one by one.
    parallel_feeds: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.parallel_feeds, int) or isinstance(self.parallel_feeds, bool) or self.parallel_feeds < 1:
            raise FraudError(f"config: ingest.parallel_feeds must be a whole number of 1 or more, not {self.parallel_feeds!r}")


SEVERITIES = ("blocking", "warning")


@dataclass(frozen=True)
class ExpectationConf:
    """One expectation of a suite: a Great Expectations type, its severity and its arguments."""

    type: str
    severity: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class SuiteConf:
    expectations: tuple[ExpectationConf, ...]
    max_bad_share: float | None = None


@dataclass(frozen=True)
class VolumeConf:
    feeds: tuple[str, ...]
    trailing_days: int
    min_ratio: float
    max_ratio: float
    min_median_rows: int


@dataclass(frozen=True)
class QualityConf:
    volume: VolumeConf
    suites: dict[str, SuiteConf]


@dataclass(frozen=True)
class TrainConf:
    snapshots: int
    snapshot_every_days: int
    validation_share: float
    max_negatives_per_positive: int
    promotion_margin: float
    seed: int
    lightgbm: dict[str, Any]


@dataclass(frozen=True)
class GraphConf:
    """Thresholds of the network features (features/network.py); defaults are the base configuration's."""

    # A call then a transfer by the called party within this many hours is a money bridge.
    bridge_hours: int = 24
    # Only answered calls at least this long can bridge (persuasion takes minutes).
    bridge_min_call_s: int = 60
    # A caller with at least this many distinct callees in the window is high-volume.
    high_volume_contacts: int = 20
    # Two high-volume callers sharing at least this many callees co-target.
    co_target_min_overlap: int = 3
    # Callees dialled by more high-volume callers than this are skipped for caller-caller overlaps (bounds the cost).
    co_target_max_callers: int = 50
    # A handset, ID number or bound number shared by more parties than this is a hub, not a strong tie.
    max_shared: int = 20
    # A money bridge is a strong tie when at least this many called people paid the account.
    min_bridge_payers: int = 2
    # Accounts opened within this many days of the as-of day are fresh.
    fresh_account_days: int = 90


@dataclass(frozen=True)
class ExposureConf:
    """Leak-source thresholds (features/exposure.py); defaults are the base configuration's."""

    # Prior strength, in contacts, of a source's share among one party's contacts: a party with few
    # contacts is pulled to the population's share, so three hits never outrank three hundred.
    prior_contacts: float = 20.0
    # A known fraud number whose shrunk lift towards a source is at least this is dialing from its list.
    exploit_lift: float = 2.0
    # A source whose exploitation score (0..1) is at least this is exploited: its members can be at risk.
    exploited_score: float = 0.5
    # Callers scored at least this (or known fraud) make the people they contacted at risk.
    at_risk_caller_score: float = 0.5
    # The at-risk list is cut to this many people, riskiest first.
    at_risk_max_people: int = 5000
    # Evaluation: a listed person counts as a hit when they became a victim within this many days after D.
    victim_horizon_days: int = 7


@dataclass(frozen=True)
class ScoreConf:
    top_reasons: int
    # Population stability against the champion's training rows: the score and this many top features.
    drift_features: int
    drift_threshold: float


@dataclass(frozen=True)
class AnalystConf:
    capacity_k: int


@dataclass(frozen=True)
class CasesConf:
    """Cases for analysts (cases/); defaults are the base configuration's."""

    # A party is flagged when it is in its type's top this many, or scored at least min_score.
    top_k: int = 100
    min_score: float = 0.5
    # A cluster with more core members (flagged parties, shared handsets and ID numbers) is split.
    max_members: int = 40
    # Unflagged parties tied to a cluster (victims, numbers on its handsets) kept per cluster, most tied first.
    max_linked: int = 25
    # Money paths kept as evidence per case, largest first.
    max_transfers: int = 50
    # The cases an analyst team reviews per day: ring recall is measured in the top this many.
    review_capacity: int = 20


@dataclass(frozen=True)
class RetentionConf:
    """How long the lake keeps each table (``fraud retention``); defaults are the base configuration's."""

    # Days a table's partitions are kept, by the table's path under the lake ("clean", "clean/labels",
    # "scores", ...): the longest key that is the path or a folder above it decides; 0 keeps the table for
    # ever, and a table no key names is kept.
    tables: dict[str, int] = field(default_factory=dict)
    # Registered model versions trained for a day older than this are reported, never deleted.
    model_days: int = 730


@dataclass(frozen=True)
class MlflowConf:
    experiment_prefix: str
    model_prefix: str


@dataclass(frozen=True)
class Config:
    paths: PathsConf
    window: WindowConf
    graph: GraphConf
    exposure: ExposureConf
    spark: SparkConf
    ingest: IngestConf
    train: TrainConf
    score: ScoreConf
    analyst: AnalystConf
    cases: CasesConf
    mlflow: MlflowConf
    retention: RetentionConf = field(default_factory=RetentionConf)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FraudError(f"config: unknown key {where}{unknown[0]} (known: {', '.join(sorted(fields))})")
    values = {}
    for name, fld in fields.items():
        if name not in data:
            if fld.default is not dataclasses.MISSING or fld.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                continue
            raise FraudError(f"config: missing key {where}{name}")
        value = data[name]
        nested = globals().get(str(fld.type))
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            if not isinstance(value, dict):
                raise FraudError(f"config: {where}{name} must be a mapping")
            value = _build(nested, value, f"{where}{name}.")
        values[name] = value
    return cls(**values)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FraudError(f"config: file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise FraudError(f"config: {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise FraudError(f"config: {path} must hold a mapping")
    return data


def load_config(path: str | Path | None = None) -> Config:
    """Base configuration overridden by ``path`` (or by the local file when it exists)."""
    data = _read_yaml(BASE_CONF)
    override = Path(path) if path is not None else LOCAL_CONF
    if path is not None or LOCAL_CONF.exists():
        data = _merge(data, _read_yaml(override))
    return _build(Config, data, "")


def load_quality(path: str | Path) -> QualityConf:
    """The suites file named by ``ingest.quality_suites``; each feed of the contract needs a suite."""
    from fraudgraph.contract import FEEDS

    file = Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
    data = _read_yaml(file)
    volume = _build(VolumeConf, data.get("volume", {}), "volume.")
    volume = dataclasses.replace(volume, feeds=tuple(volume.feeds))
    suites: dict[str, SuiteConf] = {}
    for feed, suite in (data.get("suites") or {}).items():
        if feed not in FEEDS:
            raise FraudError(f"quality suites: {file} names unknown feed {feed!r}")
        expectations = []
        for item in suite.get("expectations", []):
            item = dict(item)
            kind, severity = item.pop("type", None), item.pop("severity", None)
            if not kind or severity not in SEVERITIES:
                raise FraudError(f"quality suites: {feed}: each expectation needs a type and severity blocking|warning")
            expectations.append(ExpectationConf(kind, severity, item))
        suites[feed] = SuiteConf(tuple(expectations), suite.get("max_bad_share"))
    missing = sorted(set(FEEDS) - set(suites))
    if missing:
        raise FraudError(f"quality suites: {file} has no suite for {', '.join(missing)}")
    return QualityConf(volume, suites)


def pseudo_key() -> bytes:
    """The pseudonymisation key from ``FRAUD_PSEUDO_KEY``; a clear error when unset."""
    key = os.environ.get(PSEUDO_KEY_ENV, "")
    if not key:
        raise FraudError(f"{PSEUDO_KEY_ENV} is not set: export the pseudonymisation key before running")
    return key.encode("utf-8")
