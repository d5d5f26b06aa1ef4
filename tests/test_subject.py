"""A data subject's rights on a simulated world: access lists every table holding the person, deletion leaves no
trace that a re-ingest brings back, every request is audited; and the compliance audit's figures match the lake.

The lake is ingested and scored once for the module (400 people, one day ingested, a 1-day window); its
champions are small boosters fitted on random rows, enough to score, build cases and fill every table. What holds
the person is checked by reading every Parquet file with pyarrow, never with the code under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph import tracking
from fraudgraph.cli import main
from fraudgraph.config import Config, load_config
from fraudgraph.errors import FraudError
from fraudgraph.lake import DT, Lake, Raw
from fraudgraph.pseudo import normalise, token
from jobs.audit import run_audit
from jobs.features import FEATURE_SETS
from jobs.ingest import run_ingest
from jobs.registry import model_name
from jobs.score import run_score
from jobs.subject import run_access, run_delete
from privacy import auditlog
from privacy.erasure import digest, without_erased
from privacy.scan import rows_holding, without_values
from simulator import simulate_world
from tests.conftest import spark_conf_yaml

KEY = b"subject-test-key"
UNKNOWN = "+86 199 0000 0000"  # nobody in the world
START, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 2)  # the world's days; the lake holds the last one


# ---- the transforms, on hand-made frames ----

NESTED = "id string, n int, members array<struct<token:string,score:double>>, tags array<string>, info struct<who:string>"


def test_a_row_of_the_person_goes_and_a_list_naming_them_loses_only_them(spark):
    rows = [
        ("a", 1, [("t1", 0.5), ("x", 0.1)], ["t1", "y"], ("z",)),  # lists name t1: the row stays without it
        ("t1", 2, [], [], None),  # the row's own field: it goes
        ("b", 3, None, None, ("t2",)),  # a struct of its own: it goes
        (None, None, None, None, None),  # the null row: kept as it is
        ("c", 4, [("x", 0.2)], ["y"], ("w",)),  # nobody of theirs: kept as it is
    ]
    df = spark.createDataFrame(rows, NESTED)
    assert sorted(r["id"] for r in rows_holding(df, ["t1", "t2"]).collect()) == ["a", "b", "t1"]
    kept = [tuple(r) for r in without_values(df, ["t1", "t2"]).collect()]
    assert sorted(kept, key=str) == sorted([
        ("a", 1, [("x", 0.1)], ["y"], ("z",)),
        (None, None, None, None, None),
        ("c", 4, [("x", 0.2)], ["y"], ("w",)),
    ], key=str)
    assert without_values(df, []).count() == 5 and rows_holding(df, ["nobody"]).count() == 0


def test_erased_tokens_are_left_out_by_their_digest(spark):
    df = spark.createDataFrame([("t1",), (None,), ("t2",)], "entity_token string")
    assert [r[0] for r in without_erased(df, "entity_token", digests=frozenset({digest("t1")})).collect()] == [None, "t2"]
    assert without_erased(df, "entity_token", digests=frozenset()) is df


def test_working_days_count_monday_to_friday_after_the_day_received():
    friday, monday = dt.date(2026, 3, 6), dt.date(2026, 3, 9)
    assert auditlog.working_days(friday, friday) == 0
    assert auditlog.working_days(friday, monday) == 1
    assert auditlog.working_days(dt.date(2026, 3, 2), dt.date(2026, 4, 13)) == 30  # six weeks from a Monday
    assert auditlog.working_days(dt.date(2026, 3, 2), dt.date(2026, 4, 14)) == 31


# ---- on a simulated world ----


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Config:
    """A 1-day window, and quality suites with no expectation: these tests follow a person's rows, not the feeds'
    quality (tests/test_ingest_quality.py), and every expectation costs Spark jobs."""
    suites = tmp_path_factory.mktemp("conf") / "quality.yaml"
    suites.write_text(json.dumps({  # JSON is YAML
        "volume": {"feeds": [], "trailing_days": 7, "min_ratio": 0.5, "max_ratio": 3.0, "min_median_rows": 1000},
        "suites": {feed: {"expectations": []} for feed in C.FEEDS},
    }))
    base = load_config()
    return dataclasses.replace(base, window=dataclasses.replace(base.window, days=1),
                               ingest=dataclasses.replace(base.ingest, quality_suites=str(suites)))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("subject")
    simulate_world(root / "world", people=400, days=2, seed=11, start=START)
    return root


def register_champion(cfg: Config, lake: Lake, entity_type: str) -> None:
    """A small booster on random rows of the entity type's features, registered as its champion (trained as of the
    day after the lake's day, as the next daily training would be)."""
    features = list(FEATURE_SETS[entity_type])
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(rng.normal(size=(200, len(features))), columns=features)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1},
                        lgb.Dataset(rows, label=(rows[features[0]] > 1).astype(int)), num_boost_round=5)
    name = model_name(cfg, entity_type)
    registered = tracking.log_model_run(
        experiment=f"subject-{entity_type}", lake=lake, model_name=name, booster=booster, input_example=rows.head(2),
        params={}, metrics={}, tags={"entity_type": entity_type, "as_of": (LAST + dt.timedelta(days=1)).isoformat()},
    )
    tracking.set_alias(name, tracking.CHAMPION, registered.version, {})


@pytest.fixture(scope="module")
def lake(spark, world, cfg) -> Lake:
    """Ingested, with champions, scored for the last day: clean, quarantine, features, scores, cases, at-risk."""
    lake = Lake(world / "lake")
    run_ingest(spark, cfg, raw=Raw(world / "world" / "raw"), lake=lake, first=LAST, last=LAST, key=KEY)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        tracking.configure(lake)
        for entity_type in FEATURE_SETS:
            register_champion(cfg, lake, entity_type)
        run_score(spark, cfg, lake=lake, day=LAST)
    return lake


def raw_feed(world: Path, feed: str) -> pd.DataFrame:
    return pd.read_parquet(world / "world" / "raw" / feed)


def _holds(value, values: set[str]) -> bool:
    if isinstance(value, str):
        return value in values
    if isinstance(value, dict):
        return any(_holds(v, values) for v in value.values())
    if isinstance(value, list):
        return any(_holds(v, values) for v in value)
    return False


def _textual(kind: pa.DataType) -> bool:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _textual(kind.value_type)
    if pa.types.is_struct(kind):
        return any(_textual(kind.field(i).type) for i in range(kind.num_fields))
    return pa.types.is_map(kind)


def tables_holding(root: Path, values: set[str]) -> dict[str, int]:
    """Per table (the folders above ``dt=``), the rows of its Parquet files holding a value at any depth."""
    found: Counter[str] = Counter()
    for file in root.rglob("*.parquet"):
        parts = file.relative_to(root).parts
        if any(p.startswith((".", "_")) for p in parts):
            continue
        table = "/".join(p for p in parts[:-1] if not p.startswith(f"{DT}="))
        columns = [f.name for f in pq.read_schema(file) if _textual(f.type)]
        found[table] += sum(1 for row in pq.read_table(file, columns=columns).to_pylist() if _holds(row, values))
    return {t: n for t, n in found.items() if n}


def the_person(world: Path, lake: Lake) -> tuple[str, dict[str, set[str]]]:
    """A flagged number of the day's cases whose ID number also holds an account: its raw value and the
    person's tokens by kind, found from the raw feeds (all snapshot days)."""
    subscribers, accounts = raw_feed(world, "subscribers"), raw_feed(world, "accounts")
    subscribers["id"] = subscribers["id_number"].map(lambda v: normalise("id_number", v) if v else None)
    accounts["holder"] = accounts["holder_id_number"].map(lambda v: normalise("id_number", v) if v else None)
    raw_of = {token(KEY, "msisdn", m): m for m in subscribers["msisdn"]}
    cases = pd.read_parquet(lake.cases / f"{DT}={LAST}")
    flagged = sorted({m["entity_token"] for ms in cases["members"] for m in ms
                      if m["role"] == "flagged" and m["entity_type"] == "msisdn"})
    for member in flagged:
        ids = set(subscribers.loc[subscribers["msisdn"] == raw_of.get(member), "id"].dropna())
        held = accounts[accounts["holder"].isin(ids)]
        if len(ids) == 1 and len(held):
            numbers = subscribers.loc[subscribers["id"].isin(ids), "msisdn"]
            return raw_of[member], {
                "msisdn": {token(KEY, "msisdn", n) for n in numbers},
                "id_number": {token(KEY, "id_number", i) for i in ids},
                "account": {token(KEY, "account", a) for a in held["account_id"]},
            }
    raise AssertionError("no flagged number with an ID number and an account in the world")


def test_access_lists_every_table_and_delete_leaves_nothing_that_a_rerun_brings_back(spark, cfg, world, lake, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    number, tokens = the_person(world, lake)
    everything = set().union(*tokens.values())
    before = tables_holding(lake.root, everything)
    assert {"clean/subscribers", "clean/accounts", "clean/calls", "features/msisdn", "scores", "cases"} <= set(before)

    out = tmp_path / "export" / "subject.json"
    access = run_access(spark, cfg, lake=lake, kind="msisdn", identifier=number, key=KEY, out=out, by="dpo")
    export = json.loads(out.read_text(encoding="utf-8"))
    assert {k: set(v) for k, v in export["identifiers"].items()} == tokens  # their numbers, ID number, accounts
    assert {t: found["rows"] for t, found in export["tables"].items()} == before  # every table, every row
    assert all(item["source"].startswith(f"{t}/{DT}=") for t, found in export["tables"].items() for item in found["items"])
    summary = out.with_suffix(".txt").read_text(encoding="utf-8")
    assert export["subject"]["masked"] in summary and "clean/calls" in summary and number not in summary
    assert access["outcome"] == "exported" and access["tables"] == before

    deleted = run_delete(spark, cfg, lake=lake, kind="msisdn", identifier=number, key=KEY,
                         reason="subject's request by letter, ref 2026-17", by="dpo", received=dt.date(2026, 11, 2))
    assert deleted["outcome"] == "deleted" and deleted["tables"] == before and deleted["remaining"] == 0
    assert tables_holding(lake.root, everything) == {}
    cases = pd.read_parquet(lake.cases / f"{DT}={LAST}")  # a case about them alone went with them
    assert all(any(m["role"] == "flagged" for m in members) for members in cases["members"])
    # Trained for a day after the person's first day in the lake: both champions may have learnt from them.
    assert {(m["model"], tuple(m["aliases"])) for m in deleted["models"]} == {
        ("fraudgraph-msisdn", ("champion",)), ("fraudgraph-account", ("champion",))
    }
    # Past the Parquet tables too: no file of the lake holds a token of theirs (pages and logs included).
    for file in lake.root.rglob("*"):
        if file.is_file() and file.suffix not in (".parquet", ".crc"):
            assert not any(t.encode() in file.read_bytes() for t in everything), file

    # The same days again, from raw feeds that still hold them: nothing of theirs comes back. Ingestion is the
    # only way into the lake (features, scores and cases are built from its clean tables), so it is where a
    # re-run must drop them; everybody else's rows come back.
    calls_before = pq.read_table(lake.clean(C.CALLS)).num_rows
    again = run_ingest(spark, cfg, raw=Raw(world / "world" / "raw"), lake=lake, first=LAST, last=LAST, key=KEY)
    assert again["feeds"]["calls"]["rows_erased"] > 0 and again["feeds"]["subscribers"]["rows_erased"] > 0
    assert "subject_erased" not in again["feeds"]["calls"]["quarantine_reasons"]  # dropped, not kept aside
    assert tables_holding(lake.root, everything) == {}
    assert pq.read_table(lake.clean(C.CALLS)).num_rows == again["feeds"]["calls"]["rows_clean"] == calls_before > 1000

    log = auditlog.log_path(lake, auditlog.SUBJECTS_LOG)
    mine = {r["request_id"]: r for r in auditlog.records(lake, auditlog.SUBJECTS_LOG)}
    record = mine[deleted["request_id"]]
    assert (record["kind"], record["by"], record["reason"]) == ("delete", "dpo", "subject's request by letter, ref 2026-17")
    assert record["received"] == "2026-11-02" and record["limit_working_days"] == 30
    assert record["working_days"] == auditlog.working_days(dt.date(2026, 11, 2), auditlog.local_day(record["at"]))
    assert record["subject"]["digests"] == sorted(digest(t) for t in everything)
    assert mine[access["request_id"]]["kind"] == "access"
    text = log.read_text(encoding="utf-8")
    assert number not in text and not any(t in text for t in everything)  # never a raw value, never a token


def test_fraud_subject_access_on_an_empty_lake_answers_nothing_held_and_audits_it(spark, tmp_path, monkeypatch, capsys):
    """Through the command's entry point, in this process: its JSON answer on stdout, exit code 0."""
    conf = tmp_path / "conf.yaml"
    conf.write_text(spark_conf_yaml())
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("FRAUD_PSEUDO_KEY", KEY.decode())
    out, empty = tmp_path / "nobody.json", Lake(tmp_path / "empty-lake")
    capsys.readouterr()
    code = main(["subject", "access", UNKNOWN, "--kind", "msisdn", "--out", str(out), "--lake", str(empty.root),
                 "--conf", str(conf)])
    assert code == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["outcome"] == "nothing held" and answer["tables"] == {} and answer["subject"]["masked"] == "199****0000"
    assert json.loads(out.read_text())["tables"] == {}
    assert "Nothing in the lake holds them." in out.with_suffix(".txt").read_text()
    assert [r["request_id"] for r in auditlog.records(empty, auditlog.SUBJECTS_LOG)] == [answer["request_id"]]


def test_a_person_the_lake_does_not_hold_is_deleted_from_nothing_and_audited(spark, cfg, tmp_path):
    lake = Lake(tmp_path / "lake")
    lines = len(auditlog.records(lake, auditlog.SUBJECTS_LOG))
    with pytest.raises(FraudError, match="needs a --reason"):
        run_delete(spark, cfg, lake=lake, kind="msisdn", identifier=UNKNOWN, key=KEY, reason="  ", by="dpo")
    with pytest.raises(SystemExit) as refused:  # no --reason: refused before anything starts
        main(["subject", "delete", UNKNOWN, "--kind", "msisdn", "--lake", str(lake.root)])
    assert refused.value.code == 2
    assert len(auditlog.records(lake, auditlog.SUBJECTS_LOG)) == lines  # a refused request writes nothing
    nothing = run_delete(spark, cfg, lake=lake, kind="msisdn", identifier=UNKNOWN, key=KEY, reason="request", by="dpo")
    assert (nothing["outcome"], nothing["tables"], nothing["rows"]) == ("nothing held", {}, 0)
    assert auditlog.records(lake, auditlog.SUBJECTS_LOG)[-1]["request_id"] == nothing["request_id"]


def _expected(spark, lake: Lake, feed: str, first: dt.date, last: dt.date):
    df = spark.read.parquet(str(lake.clean(C.FEEDS[feed])))
    if C.FEEDS[feed].kind == "snapshot":
        return df.where(F.col(DT) == df.where(F.col(DT) <= last.isoformat()).agg(F.max(DT)).first()[0])
    return df.where(F.col(DT).between(first.isoformat(), last.isoformat()))


def test_the_audit_report_counts_what_the_lake_holds_and_opens_offline(spark, cfg, lake, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    last = auditlog.local_day(auditlog.now().isoformat())  # the period reaches today: subjects' requests count
    reveals = [("2026-02-27T02:00:00+00:00", "ana", "before the period"), ("2026-03-02T02:00:00+00:00", "ana", "case C1"),
               ("2026-03-02T09:00:00+08:00", "bo", "case C2")]
    for at, by, reason in reveals:
        auditlog.append(lake, auditlog.REVEAL_LOG, {"at": at, "by": by, "token": "0" * 64, "reason": reason, "found_in": None})
    result = run_audit(cfg, lake=lake, first=START, last=last)
    report = json.loads(Path(result["json"]).read_text())

    counted = {c["feed"]: c for c in report["categories"]}
    sensitive = {"subscribers": F.col("id_number").isNotNull(), "calls": F.col("cell_id").isNotNull(),
                 "accounts": F.lit(True), "transactions": F.lit(True), "exposures": F.lit(True)}
    for feed in ("subscribers", "calls", "sms", "accounts", "transactions", "exposures", "labels"):
        rows = _expected(spark, lake, feed, START, last)
        assert counted[feed]["rows"] == rows.count(), feed
        assert counted[feed]["sensitive_rows"] == (rows.where(sensitive[feed]).count() if feed in sensitive else 0), feed
    assert counted["calls"]["rows"] > 1000
    for feed in ("subscribers", "accounts"):
        rows = _expected(spark, lake, feed, last, last)
        assert report["minors"][feed] == {"under_18": rows.where("is_minor").count(),
                                          "under_14": rows.where("is_under_14").count()}
    assert report["reidentifications"] == {"count": 2, "by": {"ana": 1, "bo": 1}, "reasons": {"case C1": 1, "case C2": 1},
                                           "not_found": 2}
    requests = auditlog.records(lake, auditlog.SUBJECTS_LOG)
    assert report["subject_requests"]["count"] == len(requests)
    assert report["subject_requests"]["all_within_limit"]
    assert report["quality_gates"]["runs"] == 1 and report["quality_gates"]["outcomes"] == {"passed": 1}
    assert {name: [v["aliases"] for v in m["in_use"]] for name, m in report["models"].items()} == {
        "fraudgraph-msisdn": [["champion"]], "fraudgraph-account": [["champion"]]
    }

    page = Path(result["html"]).read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page and " src=" not in page
    assert f"{counted['calls']['rows']:,}" in page and f"{report['totals']['sensitive_rows']:,}" in page
    assert "Subjects' requests" in page and "Minors" in page
