"""The daily job through the ``fraud`` command on a small simulated world, then ``fraud evaluate``."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest

from simulator import simulate_world
from tests.conftest import fraud, spark_conf_yaml

DAY = "2026-03-21"


@pytest.fixture(scope="module")
def run_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    simulate_world(root / "world", people=4000, days=21, seed=5)
    conf = root / "conf.yaml"
    conf.write_text(
        spark_conf_yaml(codegen=True)
        # Two training snapshots instead of three: one window fewer to build, the same path through the job.
        + "train:\n  snapshots: 2\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["FRAUD_PSEUDO_KEY"] = "e2e-key"
    return root, conf, env


def test_daily_run_scores_known_fraud_far_above_the_base_rate_and_reruns_identically(run_env):
    root, conf, env = run_env
    io = ["--raw", str(root / "world" / "raw"), "--lake", str(root / "lake"), "--conf", str(conf)]
    first = fraud("run", *io, "--date", DAY, env=env)
    assert {r["alias"] for r in first["train"].values()} == {"champion"}
    evaluation = fraud("evaluate", "--world", str(root / "world"), "--lake", str(root / "lake"), "--conf", str(conf), "--date", DAY, env=env)
    for entity_type in ("msisdn", "account"):
        figures = evaluation[entity_type]
        assert figures["positives"] > 5
        assert figures["average_precision"] > 5 * figures["base_rate"]
        assert figures["ring_recall_at_k"] >= 0.5
    # Cases: the flagged parties grouped, each score row of a member carrying its case id; the top cases
    # an analyst team reviews in a day cover most of the rings.
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
    assert evaluation["cases"]["ring_recall_in_top_cases"] >= 0.5, evaluation["cases"]
    # The rings dial from the world's leaks: some case names the sources its numbers dial from, above chance.
    named = [source for sources in case_rows["leak_sources"] for source in sources]
    assert named and max(source["lift"] for source in named) > 1
    # Each scoring day's drift against the champion's training population is logged, one MLflow run per type.
    for entity_type in ("msisdn", "account"):
        found = first["score"]["drift"][entity_type]
        assert found["score_psi"] >= 0 and found["feature_psi"] and found["run_id"]
    models = fraud("models", "--lake", str(root / "lake"), "--conf", str(conf), env=env)
    assert [models[t]["versions"][0]["aliases"] for t in ("msisdn", "account")] == [["champion"], ["champion"]]
    scores_before = pd.read_parquet(first["score"]["scores"]).sort_values(["entity_type", "entity_token"], ignore_index=True)

    again = fraud("run", *io, "--date", DAY, env=env)
    assert "train" not in again  # a champion exists: the daily job only scores
    scores_after = pd.read_parquet(again["score"]["scores"]).sort_values(["entity_type", "entity_token"], ignore_index=True)
    pd.testing.assert_frame_equal(scores_before, scores_after)
    for entity_type in ("msisdn", "account"):  # the same day and model: the same drift figures
        before, after = first["score"]["drift"][entity_type], again["score"]["drift"][entity_type]
        assert (after["score_psi"], after["feature_psi"]) == (before["score_psi"], before["feature_psi"])
