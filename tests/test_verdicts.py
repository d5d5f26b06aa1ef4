"""Analysts' verdicts: an append-only log, and labels that change the next training set."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from cases.verdicts import log_path, record_verdict, verdict_labels, with_verdicts
from fraudgraph.cli import main
from fraudgraph.config import load_config
from fraudgraph.errors import MissingInput
from fraudgraph.lake import Lake, partition_path
from jobs.train import training_sample
from models.dataset import CONFIRMED_NEGATIVE, LABEL

DAY = dt.date(2026, 3, 21)


def member(role: str, entity_type: str | None, token: str | None) -> dict:
    return {"id": "1", "kind": 0, "role": role, "entity_type": entity_type, "entity_token": token, "risk_score": 0.5,
            "risk_rank": 1, "reasons": ["x"], "centrality": 0.5, "ties": 1}


@pytest.fixture()
def lake(tmp_path):
    lake = Lake(tmp_path / "lake")
    cases = pd.DataFrame(
        {
            "case_id": ["C-ring", "C-courier"],
            "case_rank": [1, 2],
            "members": [
                [member("flagged", "msisdn", "n1"), member("flagged", "account", "a1"), member("linked", "account", "a8"),
                 member("connector", None, None)],
                [member("flagged", "msisdn", "n2")],
            ],
        }
    )
    target = partition_path(lake.cases, DAY)
    target.mkdir(parents=True)
    cases.to_parquet(target / "part-0.parquet", index=False)
    return lake


def test_verdicts_are_appended_with_who_when_why_and_label_the_flagged_members(lake, spark):
    at = dt.datetime(2026, 3, 21, 10, 0, tzinfo=dt.UTC)
    confirmed = record_verdict(lake, case_id="C-ring", verdict="confirmed", note="victims called back", by="ana", at=at)
    assert confirmed["case_day"] == DAY.isoformat() and confirmed["by"] == "ana"
    assert {(x["entity_token"], x["label"]) for x in confirmed["labels"]} == {("n1", "fraud"), ("a1", "mule")}
    cleared = record_verdict(lake, case_id="C-courier", verdict="false_positive", note="a courier", by="bo", at=at)
    assert [(x["entity_token"], x["label"]) for x in cleared["labels"]] == [("n2", "legit")]
    asked = record_verdict(lake, case_id="C-ring", verdict="needs_info", member="a8", note="ask the bank", by="ana", at=at)
    assert asked["labels"] == []
    lines = log_path(lake).read_text().splitlines()
    assert [json.loads(line)["verdict_id"] for line in lines] == [r["verdict_id"] for r in (confirmed, cleared, asked)]

    with pytest.raises(MissingInput):
        record_verdict(lake, case_id="C-none", verdict="confirmed", note="x", by="ana")
    with pytest.raises(MissingInput):
        record_verdict(lake, case_id="C-ring", verdict="confirmed", member="n9", note="x", by="ana")
    assert len(log_path(lake).read_text().splitlines()) == 3  # a refused verdict writes nothing

    labels = {(r["entity_id"], r["label"], r["source"]) for r in verdict_labels(spark, lake).collect()}
    assert labels == {("n1", "fraud", "analyst"), ("a1", "mule", "analyst"), ("n2", "legit", "analyst")}
    # Reported at 10:00 UTC, 18:00 in the session's zone: still the 21st.
    assert {r["reported_time"].date() for r in verdict_labels(spark, lake).collect()} == {DAY}


def test_a_verdict_given_today_changes_the_next_training_set(lake, spark):
    cfg = load_config()
    features = spark.createDataFrame(
        [(t, "2026-03-21", float(i)) for i, t in enumerate(["n1", "n2", "n3", "n4", "n5"])],
        "entity_token string, snapshot string, calls double",
    )
    police = spark.createDataFrame(
        [("msisdn", "n5", "fraud", dt.datetime(2026, 3, 10), "police", None)],
        "entity_type string, entity_id string, label string, reported_time timestamp, source string, case_id string",
    )
    as_of = DAY + dt.timedelta(days=1)

    def sample():
        labels = with_verdicts(spark, lake, police)
        frame = training_sample(cfg, features, labels, entity_type="msisdn", as_of=as_of)
        return frame.set_index("entity_token")

    before = sample()
    assert before.loc["n1", LABEL] == 0 and not before.loc["n2", CONFIRMED_NEGATIVE]
    record_verdict(lake, case_id="C-ring", verdict="confirmed", note="victims called back", by="ana",
                   at=dt.datetime(2026, 3, 21, 9, 0, tzinfo=dt.UTC))
    record_verdict(lake, case_id="C-courier", verdict="false_positive", note="a courier", by="bo",
                   at=dt.datetime(2026, 3, 21, 9, 0, tzinfo=dt.UTC))
    after = sample()
    assert after.loc["n1", LABEL] == 1  # confirmed: a positive of the next training
    assert after.loc["n2", LABEL] == 0 and after.loc["n2", CONFIRMED_NEGATIVE]  # cleared: kept as a confirmed negative
    assert after.loc["n5", LABEL] == 1  # the police's label is still there
    # A verdict given on the as-of day itself waits for the next training.
    record_verdict(lake, case_id="C-courier", verdict="confirmed", note="it was a ring after all", by="bo",
                   at=dt.datetime(2026, 3, 22, 1, 0, tzinfo=dt.UTC))
    assert sample().loc["n2", LABEL] == 0


def test_fraud_review_fails_with_one_line_for_an_unknown_case(lake, capsys):
    code = main(["review", "--lake", str(lake.root), "--case", "C-none", "--verdict", "confirmed", "--note", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 4 and len(err) == 1 and "no case C-none" in err[0]
    assert main(["review", "--lake", str(lake.root), "--case", "C-ring", "--verdict", "false_positive", "--note", "ok"]) == 0
    assert json.loads(log_path(lake).read_text().splitlines()[-1])["verdict"] == "false_positive"
