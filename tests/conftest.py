"""One SparkSession for the whole test run, tuned for tiny data."""

from __future__ import annotations

import os
import sys

import pytest

from fraudgraph.config import SparkConf

# `make test` runs pytest-xdist workers under execnet, whose __main__ has neither __spec__ nor
# __file__. PySpark's Connect package then takes the process for a doctest run and exits when grpc
# is missing (pyspark/sql/connect/utils.py, check_dependencies); Great Expectations imports it.
_MAIN = sys.modules["__main__"]
if getattr(_MAIN, "__spec__", None) is None and not hasattr(_MAIN, "__file__"):
    _MAIN.__file__ = "<pytest-xdist worker>"

TEST_KEY = "test-key-not-a-secret"

# Every setting trades throughput for start-up time on 3-5 row frames.
TEST_SPARK = SparkConf(
    master="local[2]",  # two cores on CI; parallel enough to catch ordering bugs
    app_name="fraudgraph-tests",
    shuffle_partitions=2,  # tiny frames: more partitions only add task overhead
    driver_memory="2g",
    extra={
        "spark.ui.enabled": "false",  # no port, no UI threads
        "spark.sql.adaptive.enabled": "false",  # stable plans, no re-optimisation overhead
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",  # faster JIT warm-up for short runs
        "spark.default.parallelism": "2",
    },
)


@pytest.fixture(scope="session")
def spark():
    from fraudgraph.spark import build_session

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    session = build_session(TEST_SPARK)
    yield session
    session.stop()


@pytest.fixture()
def pseudo_key(monkeypatch) -> bytes:
    monkeypatch.setenv("FRAUD_PSEUDO_KEY", TEST_KEY)
    return TEST_KEY.encode()
