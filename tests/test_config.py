from __future__ import annotations

import pytest

from fraudgraph.config import load_config, pseudo_key
from fraudgraph.errors import FraudError


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
