"""The daily job through the ``fraud`` command on a small simulated world, from an empty lake; then ``fraud
evaluate`` and ``fraud models``; then the same day re-run in place on a real Spark standalone cluster (a master
and two workers on 127.0.0.1, from the installed pyspark) that loses a worker mid-job.

One world and one local run serve both claims: the first run trains and scores (the quality a model owner and
an analyst look for); the re-run must give the same scores, features, cases and drift figures (an idempotent
re-run, on a cluster, through an executor's loss). A separate local re-run would add minutes to CI and no claim.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from fraudgraph.cli import main
from simulator import simulate_world
from tests.conftest import TEST_SPARK, answer, fraud, fraud_command, spark_conf_yaml
from tests.standalone import HOST, StandaloneCluster

DAY = "2026-03-12"
# A small world and short windows: one training snapshot, so the first run builds two windows' features.
JOB_CONF = (
    "window:\n  days: 5\n"
    "train:\n  snapshots: 1\n  snapshot_every_days: 4\n  lightgbm:\n    min_child_samples: 3\n"
)
TIMEOUT = 1800


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("daily")
    simulate_world(root / "world", people=1500, days=12, seed=3)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["FRAUD_PSEUDO_KEY"] = "daily-key"
    local_conf = root / "local.yaml"
    # Interpreted expressions, as in the other tests: on 1,500 people Spark's code generation compiles some
    # 4,000 classes for rows it runs once (a tenth of the run's time). The benchmark runs the jobs' defaults.
    local_conf.write_text(spark_conf_yaml() + JOB_CONF)
    return root, env, local_conf


def daily_job(root: Path, conf: Path) -> list[str]:
    return fraud_command("run", "--raw", str(root / "world" / "raw"), "--lake", str(root / "lake"), "--conf", str(conf),
                         "--date", DAY)


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


@pytest.fixture(scope="module")
def first_run(setting):
    """The daily job in local mode on an empty lake: it ingests the windows, trains the champions, scores the day.
    Its outputs are read at once (the re-run overwrites them in place)."""
    root, env, local_conf = setting
    done = subprocess.run(daily_job(root, local_conf), capture_output=True, text=True, env=env, timeout=TIMEOUT)
    result = answer(done.returncode, done.stdout, done.stderr)
    return result, outputs(result)


def test_the_first_run_trains_champions_that_rank_known_fraud_far_above_the_base_rate(setting, first_run, monkeypatch,
                                                                                     capsys):
    root, env, conf = setting
    first, _ = first_run
    assert {r["alias"] for r in first["train"].values()} == {"champion"}
    lake = str(root / "lake")
    # `fraud evaluate` through its entry point in this process: it starts the session that the later tests of this
    # worker use, one Spark JVM less than a subprocess of its own.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("FRAUD_PSEUDO_KEY", env["FRAUD_PSEUDO_KEY"])
    capsys.readouterr()
    assert main(["evaluate", "--world", str(root / "world"), "--lake", lake, "--conf", str(conf), "--date", DAY]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    for entity_type in ("msisdn", "account"):
        figures = evaluation[entity_type]
        assert figures["positives"] > 5
        assert figures["average_precision"] > 5 * figures["base_rate"]
        assert figures["ring_recall_at_k"] >= 0.5
    assert evaluation["cases"]["ring_recall_in_top_cases"] >= 0.5, evaluation["cases"]
    # Each scoring day's drift against the champion's training population is logged, one MLflow run per type.
    for entity_type in ("msisdn", "account"):
        found = first["score"]["drift"][entity_type]
        assert found["score_psi"] >= 0 and found["feature_psi"] and found["run_id"]
    models = fraud("models", "--lake", lake, "--conf", str(conf), env=env)
    assert [models[t]["versions"][0]["aliases"] for t in ("msisdn", "account")] == [["champion"], ["champion"]]


def test_the_first_runs_cases_group_the_flagged_parties_with_masked_numbers_and_their_leak_sources(first_run):
    """The flagged parties grouped, each score row of a member carrying its case id; the cases name the leak
    sources their numbers dial from. (A file of three tests: see SLOWEST_FIRST in conftest.py.)"""
    first, _ = first_run
    cases = first["score"]["cases"]
    assert cases["cases"] > 0 and cases["changes"] == {"new": cases["cases"]} and cases["gone_quiet"] == []
    case_rows = pd.read_parquet(cases["path"])
    assert case_rows["case_id"].is_unique and sorted(case_rows["case_rank"]) == list(range(1, len(case_rows) + 1))
    assert set(case_rows["typology"]) <= {"sim_farm", "mule_chain", "call_centre", "mixed", "single", "other"}
    flagged = {m["entity_token"] for members in case_rows["members"] for m in members if m["role"] == "flagged"}
    # Cases show masked numbers, never raw ones: the flagged numbers are subscribers, whose masks ingestion kept.
    numbers = [m for members in case_rows["members"] for m in members if m["role"] == "flagged" and m["entity_type"] == "msisdn"]
    assert numbers and all(re.fullmatch(r"1[3-9]\d\*{4}\d{4}", m["masked"]) for m in numbers)
    scored = pd.read_parquet(first["score"]["scores"])
    in_case = scored[scored["entity_token"].isin(flagged)]
    assert len(in_case) == len(flagged) and set(in_case["cluster_id"]) <= set(case_rows["case_id"])
    # The rings dial from the world's leaks: some case names the sources its numbers dial from, above chance.
    named = [source for sources in case_rows["leak_sources"] for source in sources]
    assert named and max(source["lift"] for source in named) > 1


def assert_same_outputs(got: dict, want: dict) -> None:
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


def test_a_rerun_on_a_standalone_cluster_that_loses_a_worker_gives_the_first_runs_output(setting, first_run):
    """The same day re-run in place on the cluster: the champions exist, so it ingests the day again (on both
    workers), rebuilds its features, scores and cases. Five seconds after its last feed is in, worker 0's JVM is
    SIGKILLed by its process id, so the features, scoring and cases run while the driver loses an executor.
    The scores, both feature tables, the cases and the drift figures equal the first run's."""
    root, env, _ = setting
    first, first_outputs = first_run
    # Two cores a worker: once worker 0 is gone, the other still runs a stage's two partitions side by side (with
    # one core it ran every task of the features, scoring and cases one after another).
    cluster = StandaloneCluster(root / "spark", workers=2, cores=2, memory="2g").start()
    try:
        conf = root / "cluster.yaml"
        conf.write_text(
            spark_conf_yaml(
                master=cluster.url,
                # Shared storage for the reliable checkpoints (one machine here: any folder is shared).
                checkpoint_dir=str(root / "checkpoints"),
                extra={**TEST_SPARK.extra, "spark.executor.memory": "1g", "spark.driver.host": HOST,
                       # The executors run a few small tasks each: the quick compiler only (measured on this re-run:
                       # their CPU time 125 s instead of 212 s; the driver's, where C2 pays off, the same), and the
                       # serial collector, as the driver (conftest.py).
                       "spark.executor.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"},
            )
            + JOB_CONF
        )
        process = subprocess.Popen(daily_job(root, conf), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env)
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
        again = answer(process.returncode, stdout, stderr)
        # The application ran on both workers' executors, which got the project's code from the driver.
        assert "Registered app " in cluster.master_log()
        for worker in ("worker0", "worker1"):
            assert list((root / "spark" / worker).glob("app-*/*/fraudgraph_code.zip")), worker
        # Worker 0's JVM is gone and the driver lost the executor on it mid-job and carried on with the other
        # worker; its reliable checkpoints (which outlive a lost executor) were removed at the end.
        assert cluster.workers[0].poll() is not None
        assert "Lost executor" in stderr, stderr[-3000:]
        assert not list((root / "checkpoints").glob("*"))
    finally:
        cluster.stop()
    assert "train" not in again and again["ingest"]  # a champion exists: the daily job only scores
    assert_same_outputs(outputs(again), first_outputs)
    for entity_type in ("msisdn", "account"):  # the same day and model: the same drift figures
        before, after = first["score"]["drift"][entity_type], again["score"]["drift"][entity_type]
        assert after["score_psi"] == pytest.approx(before["score_psi"], rel=1e-9)
        assert after["feature_psi"] == pytest.approx(before["feature_psi"], rel=1e-9)
