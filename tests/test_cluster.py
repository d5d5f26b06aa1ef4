"""The daily job on a real Spark standalone cluster (a master and two workers on 127.0.0.1, from the installed
pyspark): the same scores, features and cases as local mode, with a worker killed mid-run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator import simulate_world
from tests.conftest import TEST_SPARK, answer, fraud_command, spark_conf_yaml
from tests.standalone import HOST, StandaloneCluster

DAY = "2026-03-12"
# A small world and short windows: one training snapshot, so the job builds two windows' features.
JOB_CONF = (
    "window:\n  days: 5\n"
    "train:\n  snapshots: 1\n  snapshot_every_days: 4\n  lightgbm:\n    min_child_samples: 3\n"
)
TIMEOUT = 1800


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


def daily_job(root: Path, conf: Path, lake: str) -> list[str]:
    return fraud_command("run", "--raw", str(root / "world" / "raw"), "--lake", str(root / lake), "--conf", str(conf),
                         "--date", DAY)


@pytest.fixture(scope="module")
def local_run(setting):
    """The daily job in local mode on a new lake: it ingests the windows, trains the champions and scores the day."""
    root, env, _, local_conf, _ = setting
    done = subprocess.run(daily_job(root, local_conf, "lake_local"), capture_output=True, text=True, env=env,
                          timeout=TIMEOUT)
    return answer(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def cluster_lake(setting, local_run):
    """The local lake without the day's outputs: the cluster's run ingests the day and scores it with the same
    champions (training is the driver's LightGBM; the Spark work is ingest, features, scoring and cases)."""
    root = setting[0]
    lake = root / "lake_cluster"
    shutil.copytree(root / "lake_local", lake)
    for table in ("scores", "cases", "features/msisdn", "features/account"):
        shutil.rmtree(lake / table / f"dt={DAY}")
    return lake


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


def test_the_daily_job_on_a_standalone_cluster_matches_local_mode_even_after_losing_a_worker(
    setting, local_run, cluster_lake
):
    """The daily job on the cluster: it ingests the day on both workers; five seconds after its last feed is in,
    worker 0's JVM is SIGKILLed by its process id, so the features, scoring and cases run while the driver loses
    an executor. The scores, both feature tables and the cases equal local mode's.

    One cluster run shows both (the cluster gives local mode's output, and keeps giving it when a worker dies
    mid-job): a second, undisturbed cluster run would add minutes to CI and no claim.
    """
    root, env, cluster, _, cluster_conf = setting
    process = subprocess.Popen(daily_job(root, cluster_conf, cluster_lake.name), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    stderr_lines = []
    for line in process.stderr:  # the job logs each ingested feed; labels come last, then the features
        stderr_lines.append(line)
        if "jobs.ingest: labels:" in line:
            time.sleep(5)
            cluster.kill_worker(0)
            break
    else:
        pytest.fail("the job ended before its features: " + "".join(stderr_lines)[-3000:])
    stdout, rest = process.communicate(timeout=TIMEOUT)
    stderr = "".join(stderr_lines) + rest
    result = answer(process.returncode, stdout, stderr)
    assert "train" not in result and result["ingest"]
    # The application ran on both workers' executors, which got the project's code from the driver.
    assert "Registered app " in cluster.master_log()
    for worker in ("worker0", "worker1"):
        assert list((root / "spark" / worker).glob("app-*/*/fraudgraph_code.zip")), worker
    # Worker 0's JVM is gone, the master noticed, and the driver lost the executor on it mid-job and carried on
    # with the other worker; its reliable checkpoints (which outlive a lost executor) were removed at the end.
    assert cluster.workers[0].poll() is not None and "Removing worker" in cluster.master_log()
    assert "Lost executor" in stderr, stderr[-3000:]
    assert not list((root / "checkpoints").glob("*"))
    assert_same_outputs(result, local_run)
