from __future__ import annotations

import re

import pytest

from fraudgraph.config import PROJECT_ROOT, load_config, pseudo_key
from fraudgraph.errors import FraudError
from fraudgraph.spark import EXECUTOR_PACKAGES


def test_override_file_changes_only_its_keys(tmp_path):
    override = tmp_path / "conf.yaml"
    override.write_text("window:\n  days: 14\ntrain:\n  lightgbm:\n    num_leaves: 63\n")
    base, cfg = load_config(), load_config(override)
    assert (base.window.days, cfg.window.days) == (7, 14)
    assert cfg.train.lightgbm["num_leaves"] == 63
    assert cfg.train.lightgbm["learning_rate"] == base.train.lightgbm["learning_rate"]
    assert cfg.analyst == base.analyst


def test_unknown_key_is_named(tmp_path):
    override = tmp_path / "conf.yaml"
    override.write_text("window:\n  dayz: 14\n")
    with pytest.raises(FraudError, match=r"^config: unknown key window.dayz \(known: days\)$"):
        load_config(override)


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(AttributeError):
        cfg.window.days = 3  # type: ignore[misc]


def test_key_comes_only_from_the_environment(monkeypatch):
    monkeypatch.delenv("FRAUD_PSEUDO_KEY", raising=False)
    with pytest.raises(FraudError, match="FRAUD_PSEUDO_KEY is not set"):
        pseudo_key()
    monkeypatch.setenv("FRAUD_PSEUDO_KEY", "s3cret")
    assert pseudo_key() == b"s3cret"


def test_cluster_configuration_loads_and_ships_every_package_but_the_simulator():
    """conf/cluster.yaml is a valid override, and the executors get each package pyproject installs (but the
    simulator, which runs on the driver only): a new package cannot be forgotten in the code archive."""
    cfg = load_config(PROJECT_ROOT / "conf" / "cluster.yaml")
    assert cfg.spark.master.startswith("spark://") and cfg.spark.checkpoint_dir
    assert cfg.spark.extra["spark.shuffle.compress"] == "true"
    assert cfg.window == load_config().window
    include = re.search(r"^include = \[(.*)\]$", (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)
    installed = {p.rstrip("*") for p in re.findall(r'"([^"]+)"', include.group(1))}
    assert set(EXECUTOR_PACKAGES) == installed - {"simulator"}
