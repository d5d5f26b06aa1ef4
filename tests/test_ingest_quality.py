"""Bad input gets a clear one-line error or a quarantine with its reason, and nothing is lost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.config import BASE_CONF, ExpectationConf, SuiteConf, load_config
from fraudgraph.errors import FraudError, UnreadableInput
from fraudgraph.lake import Lake, Raw, recover
from ingestion import quality
from ingestion.quality import run_suite
from jobs.ingest import QualityGateFailed, feeds_to_read, run_ingest
from tests.conftest import run_fraud, spark_conf_yaml
from tests.contract_world import SCHEMAS, START, mini_rows, write_feeds

KEY = b"quality-test-key"
# Each test writes only the feeds it looks at (a feed's ingest costs a few seconds of Spark jobs even when
# tiny); the contract-world tests ingest every feed.
CALLS = ("subscribers", "calls")
DAY = [START + dt.timedelta(days=i) for i in range(4)]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    """The base configuration, with a volume check that judges even these tiny feeds."""
    folder = tmp_path_factory.mktemp("conf")
    suites = (BASE_CONF.parent / "quality.yaml").read_text().replace("min_median_rows: 1000", "min_median_rows: 5")
    (folder / "quality.yaml").write_text(suites)
    base = load_config()
    return dataclasses.replace(base, ingest=dataclasses.replace(base.ingest, quality_suites=str(folder / "quality.yaml")))


def ingest(spark, cfg, raw: Path, lake: Path, first: dt.date, last: dt.date, key: bytes = KEY) -> dict:
    """Ingest the feeds written under ``raw``."""
    feeds = tuple(feed for feed in SCHEMAS if (raw / feed).is_dir())
    return run_ingest(spark, cfg, raw=Raw(raw), lake=Lake(lake), first=first, last=last, key=key, feeds=feeds)


def rows_of(spark, path: Path) -> list[tuple]:
    return sorted(tuple(r) for r in spark.read.parquet(str(path)).collect())


def test_an_empty_partition_stops_the_run_and_keeps_the_other_feeds(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    feeds = (*CALLS, "sms")
    write_feeds(spark, raw, mini_rows(3, feeds=feeds))
    ingest(spark, cfg, raw, lake, DAY[0], DAY[2])
    day4 = mini_rows(1, start=DAY[3], feeds=feeds)
    day4["calls"] = {}
    write_feeds(spark, raw / "day4", day4)
    for feed in feeds:
        if feed != "calls":
            shutil.copytree(raw / "day4" / feed / f"dt={DAY[3]}", raw / feed / f"dt={DAY[3]}")
    spark.createDataFrame([], SCHEMAS["calls"]).write.parquet(str(raw / "calls" / f"dt={DAY[3]}"))

    with pytest.raises(QualityGateFailed, match=r"^feed calls: daily_volume_vs_trailing_median failed: .*'rows': 0"):
        ingest(spark, cfg, raw, lake, DAY[3], DAY[3])
    report = json.loads((lake / "quality" / f"ingest_{DAY[3]}_{DAY[3]}.json").read_text())
    assert report["status"] == "blocked" and report["feeds"]["calls"]["status"] == "blocked"
    assert report["feeds"]["sms"]["status"] == "written"
    assert (lake / "clean" / "sms" / f"dt={DAY[3]}").is_dir()
    assert not (lake / "clean" / "calls" / f"dt={DAY[3]}").exists()
    assert (lake / "quality" / f"ingest_{DAY[3]}_{DAY[3]}.html").read_text().count("blocked") >= 2


def test_a_corrupted_parquet_file_is_named_in_one_line_before_anything_is_written(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write_feeds(spark, raw, mini_rows(2, feeds=CALLS))
    part = next((raw / "calls" / f"dt={DAY[1]}").glob("*.parquet"))
    part.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(UnreadableInput, match=r"^feed calls: cannot read 2 partition\(s\) under .*raw/calls: ") as err:
        ingest(spark, cfg, raw, lake, DAY[0], DAY[1])
    assert "\n" not in str(err.value)
    assert not (lake / "clean").exists()


def test_a_partition_where_every_row_is_bad_goes_to_quarantine_with_its_reason(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    rows = mini_rows(1, feeds=CALLS)
    rows["calls"][DAY[0]] = [(cid, caller, None, *rest) for cid, caller, _, *rest in rows["calls"][DAY[0]]]
    write_feeds(spark, raw, rows)
    with pytest.raises(QualityGateFailed, match=r"^feed calls: 30 of 30 rows broke row rules \(100.0% > 5.0% allowed; most: null_callee x30\)"):
        ingest(spark, cfg, raw, lake, DAY[0], DAY[0])
    quarantined = spark.read.parquet(str(lake / "quarantine" / "calls"))
    assert quarantined.count() == 30
    assert {r["reason"] for r in quarantined.select("reason").distinct().collect()} == {"null_callee"}
    assert quarantined.where(F.col("caller").rlike("^[0-9a-f]{64}$")).count() == 30  # tokens, never raw numbers
    assert not (lake / "clean" / "calls").exists()


def test_a_double_delivery_is_deduplicated_by_event_id_and_a_rerun_gives_the_same_lake(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write_feeds(spark, raw, mini_rows(1, feeds=CALLS))
    part = next((raw / "calls" / f"dt={DAY[0]}").glob("*.parquet"))
    shutil.copy(part, part.with_name("part-again.parquet"))
    summary = ingest(spark, cfg, raw, lake, DAY[0], DAY[0])
    assert summary["feeds"]["calls"]["rows_in"] == 60
    assert summary["feeds"]["calls"]["rows_clean"] == 30
    assert summary["feeds"]["calls"]["quarantine_reasons"] == {"duplicate_delivery": 30}
    before = {t: rows_of(spark, lake / t) for t in ("clean/calls", "quarantine/calls", "clean/subscribers")}
    ingest(spark, cfg, raw, lake, DAY[0], DAY[0])
    assert {t: rows_of(spark, lake / t) for t in before} == before


def test_feeds_ingested_side_by_side_give_the_lake_and_the_report_of_one_after_another(spark, cfg, tmp_path):
    """``ingest.parallel_feeds``: the same clean and quarantined rows, the same report in the same order."""
    feeds = (*CALLS, "sms", "accounts", "transactions")
    rows = mini_rows(2, feeds=feeds)
    rows["calls"][DAY[1]] += [("c-bad", rows["calls"][DAY[1]][0][1], None, *rows["calls"][DAY[1]][0][3:])]
    rows["calls"][DAY[1]] += rows["calls"][DAY[1]][:2]  # a double delivery
    rows["sms"][DAY[0]] += [("s-late", rows["sms"][DAY[0]][0][1], None, dt.datetime.combine(DAY[1], dt.time(1)), False)]
    write_feeds(spark, raw := tmp_path / "raw", rows)
    lakes, reports, errors = {}, {}, {}
    for parallel in (1, 4):
        lakes[parallel] = tmp_path / f"lake{parallel}"
        with pytest.raises(QualityGateFailed) as err:  # the SMS feed's one bad row of 7 blocks it, not the others
            ingest(spark, dataclasses.replace(cfg, ingest=dataclasses.replace(cfg.ingest, parallel_feeds=parallel)),
                   raw, lakes[parallel], DAY[0], DAY[1])
        errors[parallel] = str(err.value).replace(str(lakes[parallel]), "LAKE")
        text = (lakes[parallel] / "quality" / f"ingest_{DAY[0]}_{DAY[1]}.json").read_text()
        report = json.loads(text.replace(str(lakes[parallel]), "LAKE"))
        for summary in report["feeds"].values():
            del summary["seconds"], summary["seconds_suite"]
        reports[parallel] = {k: v for k, v in report.items() if k not in ("run_id", "generated_at", "lake")}
    assert errors[4] == errors[1] and errors[1].startswith("feed sms: 1 of 7 rows broke row rules")
    assert list(reports[4]["feeds"]) == list(feeds) and reports[4] == reports[1]
    assert reports[1]["feeds"]["calls"]["quarantine_reasons"] == {"duplicate_delivery": 2, "null_callee": 1}
    assert [f for f, summary in reports[1]["feeds"].items() if summary["status"] == "blocked"] == ["sms"]
    def rows(lake: Path, table: str) -> list[tuple]:
        return rows_of(spark, lake / table) if any((lake / table).rglob("*.parquet")) else []

    for table in [f"{kind}/{feed}" for kind in ("clean", "quarantine") for feed in feeds]:
        assert rows(lakes[4], table) == rows(lakes[1], table), table
    assert len(rows(lakes[1], "quarantine/calls")) == 3 and rows(lakes[1], "clean/sms") == []
    for feed in feeds:
        days = Lake(lakes[1]).ingested_days(C.FEEDS[feed])
        assert Lake(lakes[4]).ingested_days(C.FEEDS[feed]) == days == ([] if feed == "sms" else DAY[:2])


def test_a_snapshot_before_the_range_is_ingested_only_when_none_is_on_its_first_day(spark, cfg, tmp_path):
    """A copy on the first day is in force for the whole range: the one before it is not written again."""
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    rows = mini_rows(3, feeds=CALLS)
    del rows["subscribers"][DAY[1]]
    write_feeds(spark, raw, rows)
    subscribers = C.FEEDS["subscribers"]
    assert Raw(raw).days_to_read(subscribers, DAY[2], DAY[2]) == [DAY[2]]
    assert Raw(raw).days_to_read(subscribers, DAY[1], DAY[2]) == [DAY[0], DAY[2]]
    assert Raw(raw).days_to_read(subscribers, DAY[1], DAY[1]) == [DAY[0]]
    ingest(spark, cfg, raw, lake, DAY[2], DAY[2])
    assert Lake(lake).ingested_days(subscribers) == [DAY[2]]
    ingest(spark, cfg, raw, lake, DAY[1], DAY[1])  # no copy of its own: the one in force that day
    assert Lake(lake).ingested_days(subscribers) == [DAY[0], DAY[2]]
    assert Lake(lake).ingested_days(C.FEEDS["calls"]) == [DAY[1], DAY[2]]


def test_suites_run_from_several_threads_give_what_they_give_one_after_another(spark):
    """The ingest validates feeds from several threads; the process's one Great Expectations context is shared."""
    from concurrent.futures import ThreadPoolExecutor

    frames = [spark.createDataFrame([(i, None if i % (n + 2) == 0 else f"v{i % 3}") for i in range(40)],
                                    "id long, v string").cache() for n in range(4)]
    suite = SuiteConf((
        ExpectationConf("expect_column_values_to_not_be_null", "blocking", {"column": "v"}),
        ExpectationConf("expect_column_values_to_be_in_set", "warning", {"column": "v", "value_set": ["v0", "v1"]}),
    ))
    alone = [run_suite(frame, f"t{n}", suite, params={}) for n, frame in enumerate(frames)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda n: run_suite(frames[n], f"t{n}", suite, params={}), range(4)))
    assert together == alone
    assert [r[0].unexpected_count for r in alone] == [20, 14, 10, 8]


def test_a_lake_refuses_a_second_key(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write_feeds(spark, raw, mini_rows(1, feeds=("subscribers",)))
    ingest(spark, cfg, raw, lake, DAY[0], DAY[0])
    with pytest.raises(FraudError, match=r"was built with another FRAUD_PSEUDO_KEY .*tokens would not join"):
        ingest(spark, cfg, raw, lake, DAY[0], DAY[0], key=b"another key")


def test_a_run_killed_between_writes_leaves_every_partition_readable(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write_feeds(spark, raw, mini_rows(2, feeds=CALLS))
    ingest(spark, cfg, raw, lake, DAY[0], DAY[1])
    baseline = {t: rows_of(spark, lake / "clean" / t) for t in ("subscribers", "calls")}

    conf = tmp_path / "conf.yaml"
    conf.write_text(f"ingest:\n  quality_suites: {cfg.ingest.quality_suites}\n" + spark_conf_yaml(master="local[1]"))
    env = {**os.environ, "FRAUD_PSEUDO_KEY": KEY.decode(), "FRAUDGRAPH_CRASH_AT": "trash:1"}
    args = ["ingest", "--raw", str(raw), "--lake", str(lake), "--conf", str(conf), "--from", str(DAY[0]), "--to", str(DAY[1])]
    args += ["--feed", "subscribers", "--feed", "calls"]
    crashed = run_fraud(*args, env=env)
    assert crashed.returncode == 70, crashed.stderr[-2000:]
    # Killed right after the first old partition was moved aside: clean/subscribers lost its first day for now.
    trash = [p for p in (lake / "clean").iterdir() if p.name.startswith(".trash-subscribers")]
    assert len(trash) == 1 and not (lake / "clean" / "subscribers" / f"dt={DAY[0]}").exists()

    assert recover(lake) == [lake / "clean" / "subscribers" / f"dt={DAY[0]}"]
    assert {t: rows_of(spark, lake / "clean" / t) for t in baseline} == baseline
    ingest(spark, cfg, raw, lake, DAY[0], DAY[1])
    assert {t: rows_of(spark, lake / "clean" / t) for t in baseline} == baseline
    assert not [p for p in lake.rglob(".trash-*")] and not [p for p in lake.rglob(".staging-*")]


def test_the_report_opens_offline_and_shows_failures_with_masked_examples(spark, cfg, tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    rows = mini_rows(1, feeds=("subscribers",))
    subscribers = [(f"1390000{i:04d}", None, dt.date(2020, 1, 1), "postpaid", "Chengdu", "active") for i in range(60)]
    subscribers.append(("13900000007", None, dt.date(2021, 1, 1), "prepaid", "Chengdu", "active"))  # same number twice
    rows["subscribers"][DAY[0]] = subscribers
    write_feeds(spark, raw, rows)
    summary = ingest(spark, cfg, raw, lake, DAY[0], DAY[0])
    assert summary["feeds"]["subscribers"]["quarantine_reasons"] == {"duplicate_msisdn": 1}
    page = Path(summary["report_html"]).read_text()
    assert "expect_column_values_to_be_unique" in page and "warning" in page
    assert "<code>139****0007</code>" in page  # the failing value, masked
    assert "13900000007" not in page
    assert not any(marker in page for marker in ("http://", "https://", "<script", "<link"))


def test_ingesting_some_feeds_reads_the_snapshots_they_are_checked_against():
    assert feeds_to_read(("transactions", "calls")) == ("subscribers", "calls", "accounts", "transactions")
    assert feeds_to_read(None) == tuple(SCHEMAS)
    with pytest.raises(FraudError, match=r"^unknown feed\(s\) call; the feeds are subscribers, calls"):
        feeds_to_read(("call",))


def test_a_suite_gives_what_one_pass_asking_every_expectation_for_examples_gives_with_fewer_spark_jobs(spark):
    """The counts of every expectation first, then examples for the ones that found unexpected rows only."""
    rows = [(i, f"k{i % 3}", None if i % 10 == 0 else i) for i in range(60)] + [(7, "bad", 1)]
    frame = spark.createDataFrame(rows, "id long, k string, v long").cache()
    confs = (
        ExpectationConf("expect_column_values_to_be_in_set", "blocking", {"column": "k", "value_set": ["k0", "k1", "k2"]}),
        ExpectationConf("expect_column_values_to_not_be_null", "warning", {"column": "v", "mostly": 0.5}),  # passes, 6 null
        ExpectationConf("expect_column_values_to_not_be_null", "blocking", {"column": "k"}),
        ExpectationConf("expect_column_values_to_be_in_set", "warning", {"column": "k", "value_set": ["k0", "k1", "k2", "bad"]}),
        ExpectationConf("expect_column_values_to_be_between", "blocking", {"column": "id", "min_value": 0, "max_value": 99}),
        ExpectationConf("expect_column_values_to_be_between", "warning", {"column": "v", "min_value": 0, "max_value": 58}),
    )

    def jobs_of(run, group: str) -> tuple[object, int]:
        """What ``run`` returns, and the Spark jobs it started."""
        spark.sparkContext.setJobGroup(group, group)
        try:
            return run(), len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)

    got, got_jobs = jobs_of(lambda: run_suite(frame, "t", SuiteConf(confs), params={}), "two-passes")

    def one_pass():
        batch = (quality._context().data_sources.add_spark(name="one-pass").add_dataframe_asset(name="t")
                 .add_batch_definition_whole_dataframe("run").get_batch(batch_parameters={"dataframe": frame}))
        summary = {"result_format": "SUMMARY", "partial_unexpected_count": quality.EXAMPLES}
        return quality._validate(batch, "t", list(confs), {}, summary)

    want, want_jobs = jobs_of(one_pass, "one-pass")
    assert [(r.success, r.unexpected_count, r.unexpected_percent, r.examples) for r in got] == [
        (w["success"], w["unexpected_count"], w["unexpected_percent"], [str(v) for v in w["partial_unexpected_list"]])
        for w in want
    ]
    # Each result is its own expectation's (Great Expectations groups its results by column).
    assert [r.success for r in got] == [False, True, True, True, True, False]
    assert got[0].examples == ["bad"] and got[1].unexpected_count == 6 and got[1].examples == ["None"] * quality.EXAMPLES
    assert got[3].unexpected_count == 0 and got[3].examples == []
    assert got[5].examples == ["59"]
    assert got_jobs < want_jobs
