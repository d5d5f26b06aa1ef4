"""A feed whose columns or types differ from CONTRACT.md stops the run with a one-line reason."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from pyspark.sql import functions as F

from fraudgraph.contract import CALLS
from fraudgraph.errors import SchemaMismatch
from fraudgraph.lake import Raw
from tests.conftest import run_fraud
from tests.contract_world import SCHEMAS

DAY = dt.date(2026, 5, 1)


def write_calls(spark, raw, ddl: str, row: tuple) -> None:
    spark.createDataFrame([row], ddl).write.mode("overwrite").parquet(str(raw / "calls" / "dt=2026-05-01"))


def test_wrong_type_names_feed_column_expected_and_found(spark, tmp_path):
    write_calls(
        spark,
        tmp_path,
        "call_id string, caller string, callee string, start_time timestamp, duration_s string, caller_imei string, cell_id string",
        ("c1", "13800138000", "13900139000", dt.datetime(2026, 5, 1, 9), "12", None, None),
    )
    with pytest.raises(SchemaMismatch) as err:
        Raw(tmp_path).read(spark, CALLS, [DAY])
    assert str(err.value) == "feed calls: column duration_s expected int, found string"


def test_missing_column_lists_what_was_found(spark, tmp_path):
    write_calls(
        spark,
        tmp_path,
        "call_id string, caller string, start_time timestamp, duration_s int",
        ("c1", "13800138000", dt.datetime(2026, 5, 1, 9), 12),
    )
    with pytest.raises(SchemaMismatch, match=r"^feed calls: column callee missing \(expected string; found columns: call_id, caller, duration_s, start_time\)$"):
        Raw(tmp_path).read(spark, CALLS, [DAY])


def test_long_durations_and_zone_free_timestamps_are_accepted(spark, tmp_path):
    write_calls(
        spark,
        tmp_path,
        "call_id string, caller string, callee string, start_time timestamp_ntz, duration_s bigint, caller_imei string, cell_id string, extra string",
        ("c1", "13800138000", "13900139000", dt.datetime(2026, 5, 1, 23, 59), 12, None, None, "ignored"),
    )
    df = Raw(tmp_path).read(spark, CALLS, [DAY])
    assert df.dtypes == [
        ("call_id", "string"), ("caller", "string"), ("callee", "string"), ("start_time", "timestamp"),
        ("duration_s", "int"), ("caller_imei", "string"), ("cell_id", "string"), ("dt", "string"),
    ]
    # Wall-clock time kept: 23:59 stays 23:59 on the partition's day.
    assert df.select(F.date_format("start_time", "yyyy-MM-dd HH:mm").alias("t")).first()["t"] == "2026-05-01 23:59"


def test_cli_reports_a_schema_mismatch_in_one_line_and_exits_non_zero(spark, tmp_path):
    raw = tmp_path / "raw"
    write_calls(
        spark,
        raw,
        "call_id string, caller string, callee string, start_time timestamp, duration_s double, caller_imei string, cell_id string",
        ("c1", "13800138000", "13900139000", dt.datetime(2026, 5, 1, 9), 12.0, None, None),
    )
    snapshots = {
        "subscribers": ("13800138000", None, dt.date(2020, 1, 1), "prepaid", "Chengdu", "active"),
        "accounts": ("6222000011112222", None, None, "B01", dt.date(2020, 1, 1), "personal"),
        "exposure_sources": ("src-1", "breach", "waybills", dt.date(2026, 1, 1)),
    }
    for feed, row in snapshots.items():
        spark.createDataFrame([row], SCHEMAS[feed]).write.parquet(str(raw / feed / "dt=2026-05-01"))
    for feed in ("sms", "transactions", "exposures", "labels"):
        (raw / feed).mkdir()
    env = {**os.environ, "FRAUD_PSEUDO_KEY": "k"}
    result = run_fraud("ingest", "--raw", str(raw), "--lake", str(tmp_path / "lake"), "--from", "2026-05-01", "--to", "2026-05-01", env=env)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1] == "fraud ingest: error: feed calls: column duration_s expected int, found double"


def test_cli_without_key_stops_before_spark_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FRAUD_PSEUDO_KEY"}
    result = run_fraud("ingest", "--raw", str(tmp_path), "--lake", str(tmp_path / "lake"), "--from", "2026-05-01", "--to", "2026-05-01", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "fraud ingest: error: FRAUD_PSEUDO_KEY is not set: export the pseudonymisation key before running"


def test_cli_names_a_missing_feed_folder(tmp_path):
    env = {**os.environ, "FRAUD_PSEUDO_KEY": "k"}
    result = run_fraud("ingest", "--raw", str(tmp_path), "--lake", str(tmp_path / "lake"), "--from", "2026-05-01", "--to", "2026-05-01", env=env)
    assert result.returncode == 4
    assert result.stderr.strip() == f"fraud ingest: error: feed subscribers: folder {tmp_path}/subscribers not found"
