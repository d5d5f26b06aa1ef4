"""Broken rows go aside with a reason; good rows leave with tokens only."""

from __future__ import annotations

import datetime as dt

from fraudgraph.contract import CALLS, SUBSCRIBERS, spark_schema
from fraudgraph.pseudo import token
from ingestion.pseudonymise import pseudonymise
from ingestion.rules import with_reason

KEY = b"k"
T = dt.datetime


def clean_feed(raw, feed, *, key, amount_ceiling):
    """Rules then tokens, composed as the ingest job composes them."""
    return raw.transform(with_reason, feed, amount_ceiling=amount_ceiling).transform(pseudonymise, feed, key=key)


def test_calls_rules_give_one_reason_per_broken_row(spark):
    rows = [
        ("c1", "+86 138-0013-8000", "13900139000", T(2026, 5, 1, 9), 60, "35-209900-176148-1", "cell"),
        ("c2", "13800138000", None, T(2026, 5, 1, 9), 60, None, None),  # null callee
        ("c3", "13800138000", "13900139000", T(2026, 5, 1, 9), -5, None, None),
        ("c1", "+86 138-0013-8000", "13900139000", T(2026, 5, 1, 9), 60, "35-209900-176148-1", "cell"),  # delivered twice
        ("c1", "13800138000", "13900139000", T(2026, 5, 1, 9), 61, None, None),  # another event under the same id
        ("c4", "13800138000", "13900139000", T(2026, 5, 2, 0, 1), 10, None, None),  # next day's event
        ("c5", " - ", "13900139000", T(2026, 5, 1, 9), 10, None, None),  # caller with no digit
    ]
    raw = spark.createDataFrame(rows, spark_schema(CALLS)).selectExpr("*", "'2026-05-01' AS dt")
    out = sorted((r["call_id"], r["reason"] or "") for r in clean_feed(raw, CALLS, key=KEY, amount_ceiling=1e7).collect())
    assert out == [
        ("c1", ""),
        ("c1", "duplicate_call_id"),
        ("c1", "duplicate_delivery"),
        ("c2", "null_callee"),
        ("c3", "duration_out_of_range"),
        ("c4", "time_outside_partition"),
        ("c5", "null_caller"),
    ]


def test_identifiers_leave_as_tokens_and_numbers_keep_their_class(spark):
    rows = [("c1", "+86 138-0013-8000", "+855 12 345 678", T(2026, 5, 1, 9), 60, "35-209900-176148-1", None)]
    raw = spark.createDataFrame(rows, spark_schema(CALLS)).selectExpr("*", "'2026-05-01' AS dt")
    row = clean_feed(raw, CALLS, key=KEY, amount_ceiling=1e7).first()
    assert row["caller"] == token(KEY, "msisdn", "13800138000")
    assert row["callee"] == token(KEY, "msisdn", "85512345678")
    assert row["caller_imei"] == token(KEY, "imei", "352099001761481")
    assert (row["caller_class"], row["callee_class"]) == ("cn_mobile", "overseas")


def test_subscribers_keep_age_band_not_birth_date(spark):
    rows = [
        ("13800138000", "11010520100101002X", dt.date(2024, 1, 1), "Prepaid", "Chengdu", "active"),
        ("13800138001", "110105197001010011", dt.date(2024, 1, 1), "postpaid", None, "active"),
        ("13800138002", None, dt.date(2024, 1, 1), "postpaid", "Chengdu", "active"),
    ]
    raw = spark.createDataFrame(rows, spark_schema(SUBSCRIBERS)).selectExpr("*", "'2026-05-01' AS dt")
    out = clean_feed(raw, SUBSCRIBERS, key=KEY, amount_ceiling=1e7)
    got = sorted(((r["plan_type"], r["age_band"], r["is_minor"], r["reason"]) for r in out.collect()), key=str)
    assert got == [("postpaid", "45_59", False, None), ("postpaid", None, None, None), ("prepaid", "under_18", True, None)]
    assert sorted(r["msisdn_masked"] for r in out.collect()) == ["138****8000", "138****8001", "138****8002"]
    text = " ".join(str(v) for r in out.collect() for v in r)
    assert "20100101" not in text and "19700101" not in text and "13800138000" not in text
