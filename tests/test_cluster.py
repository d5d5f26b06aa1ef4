"""The daily job on a real Spark standalone cluster (a master and two workers on 127.0.0.1, from the installed
pyspark): the same scores, features and cases as local mode, and again after a worker is killed mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator import simulate_world
from tests.conftest import TEST_SPARK, spark_conf_yaml
from tests.standalone import HOST, StandaloneCluster

DAY = "2026-03-12"
# A small world and short windows: one training snapshot, so the job builds two windows' features.
JOB_CONF = (
    "window:\n  days: 5\n"
    "train:\n  snapshots: 1\n  snapshot_every_days: 4\n  lightgbm:\n    min_child_samples: 3\n"
)
TIMEOUT = 1800


def fraud_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fraudgraph.cli", *args]


def finished(process: subprocess.Popen, stdout: str, stderr: str) -> dict:
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    simulate_world(root / "world", people=3000, days=12, seed=3)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["FRAUD_PSEUDO_KEY"] = "cluster-key"
    cluster = StandaloneCluster(root / "spark", workers=2, cores=1, memory="2g").start()
    local_conf = root / "local.yaml"
    local_conf.write_text(spark_conf_yaml() + JOB_CONF)
    cluster_conf = root / "cluster.yaml"
    cluster_conf.write_text(
        spark_conf_yaml(
            master=cluster.url,
            # Shared storage for the reliable checkpoints (one machine here: any folder is shared).
            checkpoint_dir=str(root / "checkpoints"),
            extra={**TEST_SPARK.extra, "spark.executor.memory": "1g", "spark.driver.host": HOST},
        )
        + JOB_CONF
    )
    yield root, env, cluster, local_conf, cluster_conf
    cluster.stop()


def run_daily(root, env, conf, lake: str) -> dict:
    process = subprocess.Popen(
        fraud_command("run", "--raw", str(root / "world" / "raw"), "--lake", str(root / lake), "--conf", str(conf),
                      "--date", DAY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    return finished(process, stdout, stderr)


@pytest.fixture(scope="module")
def local_run(setting):
    root, env, _, local_conf, _ = setting
    return run_daily(root, env, local_conf, "lake_local")


def outputs(result: dict) -> dict[str, pd.DataFrame]:
    """The day's scores, features and cases, in a stable row order."""
    scores = pd.read_parquet(result["score"]["scores"])
    lake = Path(result["score"]["scores"]).parent.parent
    frames = {
        "scores": scores.sort_values(["entity_type", "entity_token"], ignore_index=True),
        "cases": pd.read_parquet(result["score"]["cases"]["path"]).sort_values("case_id", ignore_index=True),
    }
    for entity_type in ("msisdn", "account"):
        features = pd.read_parquet(lake / "features" / entity_type / f"dt={DAY}")
        frames[f"features_{entity_type}"] = features.sort_values("entity_token", ignore_index=True)
    return frames


def assert_same_outputs(found: dict, expected: dict) -> None:
    got, want = outputs(found), outputs(expected)
    # The scores say something: the model separates parties (not one constant score).
    assert want["scores"]["risk_score"].nunique() > 10
    for name, frame in want.items():
        other = got[name]
        assert list(other.columns) == list(frame.columns), name
        assert len(other) == len(frame) > 0, name
        numeric = frame.select_dtypes("number").columns
        # Sums of doubles may add up in another order across executors: equal to 1e-9, not bit for bit.
        pd.testing.assert_frame_equal(other[numeric], frame[numeric], check_exact=False, rtol=1e-9, atol=1e-12)
        rest = [c for c in frame.columns if c not in numeric]
        assert other[rest].astype(str).equals(frame[rest].astype(str)), name


def test_daily_run_on_a_standalone_cluster_matches_local_mode(setting, local_run):
    root, env, cluster, _, cluster_conf = setting
    result = run_daily(root, env, cluster_conf, "lake_cluster")
    assert_same_outputs(result, local_run)
    assert result["train"]["msisdn"]["validation"] == local_run["train"]["msisdn"]["validation"]
    # The application ran on the cluster's executors, which got the project's code from the driver; its
    # reliable checkpoints were removed at the end.
    assert "Registered app " in cluster.master_log()
    for worker in ("worker0", "worker1"):
        assert list((root / "spark" / worker).glob("app-*/*/fraudgraph_code.zip")), worker
    assert not list((root / "checkpoints").glob("*"))


def test_losing_a_worker_mid_run_still_gives_the_same_output(setting, local_run):
    """The daily job re-run on the cluster's lake; one worker is SIGKILLed once its features are being built."""
    root, env, cluster, _, cluster_conf = setting
    process = subprocess.Popen(
        fraud_command("run", "--raw", str(root / "world" / "raw"), "--lake", str(root / "lake_cluster"), "--conf",
                      str(cluster_conf), "--date", DAY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    stderr_lines = []
    for line in process.stderr:  # the job logs each ingested feed; labels come last, then the features
        stderr_lines.append(line)
        if "jobs.ingest: labels:" in line:
            time.sleep(5)
            killed = cluster.kill_worker(0)
            break
    else:
        pytest.fail("the job ended before its features: " + "".join(stderr_lines)[-3000:])
    stdout, rest = process.communicate(timeout=TIMEOUT)
    stderr = "".join(stderr_lines) + rest
    result = finished(process, stdout, stderr)
    assert killed > 0 and cluster.workers[0].poll() is not None
    # The driver saw the executor go and carried on with the other worker.
    assert "Lost executor" in stderr or "Removing worker" in cluster.master_log(), stderr[-3000:]
    assert_same_outputs(result, local_run)
