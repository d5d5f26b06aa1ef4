from __future__ import annotations

import re

import pytest

from fraudgraph.config import PROJECT_ROOT, load_config, pseudo_key
from fraudgraph.errors import FraudError
from fraudgraph.spark import EXECUTOR_PACKAGES, MALLOC_ARENAS, STALE_METRIC_UPDATE, build_session
from tests.conftest import TEST_SPARK


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


def test_a_feed_count_below_one_is_refused(tmp_path):
    override = tmp_path / "conf.yaml"
    override.write_text("ingest:\n  parallel_feeds: 0\n")
    with pytest.raises(FraudError, match=r"^config: ingest.parallel_feeds must be a whole number of 1 or more, not 0$"):
        load_config(override)
    assert load_config().ingest.parallel_feeds == 2


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
    """conf/cluster.yaml is a valid override, the executors get the driver's malloc arenas and each package
    pyproject installs (but the simulator, which runs on the driver only): a new package cannot be forgotten
    in the code archive."""
    cfg = load_config(PROJECT_ROOT / "conf" / "cluster.yaml")
    assert cfg.spark.master.startswith("spark://") and cfg.spark.checkpoint_dir
    assert cfg.spark.extra["spark.shuffle.compress"] == "true"
    # executors started by a cluster's workers get the driver's malloc arenas only from the configuration
    assert cfg.spark.extra["spark.executorEnv.MALLOC_ARENA_MAX"] == MALLOC_ARENAS
    assert cfg.window == load_config().window
    include = re.search(r"^include = \[(.*)\]$", (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)
    installed = {p.rstrip("*") for p in re.findall(r'"([^"]+)"', include.group(1))}
    assert set(EXECUTOR_PACKAGES) == installed - {"simulator"}


def test_the_session_drops_only_the_schedulers_stale_metric_errors(spark):
    """Spark's scheduler logs an ERROR per task that reports a metric already freed: those are dropped, any
    other scheduler error (a metric that failed to merge included) is still logged, and building a session
    again in the same JVM adds no second filter."""
    assert build_session(TEST_SPARK) is spark
    jvm = spark.sparkContext._jvm
    core = jvm.org.apache.logging.log4j.core
    context = jvm.org.apache.logging.log4j.LogManager.getContext(False)
    config = context.getConfiguration()
    # What the root logger's appenders receive, in a string (the JVM's own stderr is not this process's).
    written = jvm.java.io.StringWriter()
    layout = core.layout.PatternLayout.newBuilder().withPattern("%p %c{1}: %m%n").build()
    appender = core.appender.WriterAppender.createAppender(layout, None, written, "test-capture", False, True)
    appender.start()
    config.getRootLogger().addAppender(appender, None, None)
    context.updateLoggers()
    try:
        log = jvm.org.slf4j.LoggerFactory.getLogger("org.apache.spark.scheduler.DAGScheduler")
        error = jvm.java.lang.IllegalStateException("attempted to access non-existent accumulator")
        log.error("Failed to update accumulator 7370 (Unknown class) for task 0", error)
        log.error("Failed to update accumulator 7371 (SQLMetric) for task 3", error)
        log.error("Job 12 failed: a real error")
    finally:
        config.getRootLogger().removeAppender("test-capture")
        context.updateLoggers()
    logged = written.toString()
    assert "accumulator 7370" not in logged
    assert "ERROR DAGScheduler: Failed to update accumulator 7371 (SQLMetric) for task 3" in logged
    assert "ERROR DAGScheduler: Job 12 failed: a real error" in logged
    assert spark.sparkContext._gateway.fraudgraph_dropped_log_messages == {STALE_METRIC_UPDATE}
