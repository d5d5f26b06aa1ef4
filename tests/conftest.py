"""One SparkSession for the whole test run, tuned for tiny data."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
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


def fraud_command(*args: str) -> list[str]:
    """``fraud ARGS`` as a subprocess command line, with this interpreter."""
    return [sys.executable, "-m", "fraudgraph.cli", *args]


def run_fraud(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``fraud ARGS`` in a subprocess, whatever its exit code."""
    return subprocess.run(fraud_command(*args), capture_output=True, text=True, env=env, timeout=timeout)


def answer(returncode: int, stdout: str, stderr: str) -> dict:
    """A finished ``fraud`` command's JSON answer; it must have succeeded."""
    assert returncode == 0, stderr[-3000:]
    return json.loads(stdout)


def fraud(*args: str, env: dict[str, str], timeout: float = 2700) -> dict:
    """``fraud ARGS`` in a subprocess, which must succeed; its JSON answer."""
    done = run_fraud(*args, env=env, timeout=timeout)
    return answer(done.returncode, done.stdout, done.stderr)

# Interpreted expressions instead of generated Java: a unit test's plans run once on a few rows, so
# compiling them costs more than it saves (about a fifth of those tests' time; a tenth of a daily run's on
# the daily-job test's 1,500 people). The jobs keep Spark's defaults; the benchmark runs them.
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}

# Every setting trades throughput for start-up time on 3-5 row frames.
TEST_SPARK = SparkConf(
    master="local[2]",  # two cores on CI; parallel enough to catch ordering bugs
    app_name="fraudgraph-tests",
    shuffle_partitions=2,  # tiny frames: more partitions only add task overhead
    driver_memory="2g",
    extra={
        "spark.ui.enabled": "false",  # no port, no UI threads
        "spark.sql.adaptive.enabled": "false",  # stable plans, no re-optimisation overhead
        # No -XX:TieredStopAtLevel=1 (C1 only): it starts a 20-test suite faster, but one JVM serves a whole
        # pytest worker here, for minutes of planning large plans. Measured: three feature-test files 194 s
        # with it, 142 s without; a daily `fraud run` subprocess 314 s with it, 238 s without.
        "spark.default.parallelism": "2",
        # The serial collector: a 2 GB heap on a machine whose two cores the two test workers keep busy. G1's
        # concurrent and parallel GC threads cost CPU the other worker needs. Measured on the daily-job test's
        # features (one window, three times in one JVM): 17 % less CPU in all, the same wall time alone.
        "spark.driver.extraJavaOptions": "-XX:+UseSerialGC",
        **INTERPRETED,
        # Tungsten pages default to 64 MB here (the pool over cores over 16). Account features run many
        # aggregations in one task, each holding a page, which ran out of a 2 GB driver's memory once
        # test_network had run first (UNABLE_TO_ACQUIRE_MEMORY); 3-5 row frames need no such pages.
        "spark.buffer.pageSize": "4m",
    },
)


def spark_conf_yaml(**changes) -> str:
    """:data:`TEST_SPARK` (with ``changes``) as the ``spark`` section of a ``--conf`` file, for tests that run
    ``fraud`` in a subprocess (JSON is YAML)."""
    conf = dataclasses.replace(TEST_SPARK, **changes)
    return "spark: " + json.dumps(dataclasses.asdict(conf)) + "\n"


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


# The slowest modules, slowest first. `make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`:
# xdist then hands whole files to its two workers in this collection order, so the long end-to-end runs
# start at once, one per worker, and the short files fill in around them. (By default xdist would order
# files by their number of tests, which sends these one-test files last and leaves one worker idle
# while the other runs them one after another.) xdist gives a worker its next file whenever two tests or
# fewer are left in what it holds, at the start too: a first file of two tests took the third file with
# it, and the daily job and the subject test then ran one after the other on one worker (1,870 of a CI
# run's 1,950 s). The daily-job and contract-world files have three tests each, so each worker starts
# with one file and takes the next big one when its first test is done.
SLOWEST_FIRST = (
    "test_daily_job.py",
    "test_pipeline_contract_world.py",
    "test_subject.py",
    "test_known_fraud.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FIRST)))
