"""Hand-made frames, expected rows written out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from features.accounts import ACCOUNT_FEATURES, account_features
from features.common import MissingColumns
from features.phones import PHONE_FEATURES, phone_features

AS_OF = dt.date(2026, 5, 3)
T = dt.datetime


def rows_by_token(df, columns):
    # null (no denominator) compared as NaN
    return {r["entity_token"]: tuple(float("nan") if r[c] is None else r[c] for c in columns) for r in df.collect()}


def assert_rows_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for token, values in expected.items():
        assert actual[token] == pytest.approx(values, nan_ok=True), token


@pytest.fixture()
def phone_frames(spark):
    calls = spark.createDataFrame(
        [
            ("A", "B", T(2026, 5, 3, 10), 60, "I1"),
            ("B", "A", T(2026, 5, 3, 11), 30, "I2"),
            ("A", "B", T(2026, 5, 2, 3), 0, "I1"),
            ("A", "C", T(2026, 5, 2, 12), 10, None),
            ("A", "B", T(2026, 4, 20, 12), 700, "I9"),  # before the window: ignored
        ],
        "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string",
    )
    sms = spark.createDataFrame(
        [("A", "B", T(2026, 5, 3, 9), True)], "sender string, receiver string, send_time timestamp_ntz, has_url boolean"
    )
    subscribers = spark.createDataFrame(
        [
            ("A", dt.date(2026, 5, 1), "prepaid", "active"),
            ("B", dt.date(2025, 5, 3), "postpaid", "active"),
            ("D", dt.date(2020, 1, 1), "postpaid", None),  # no activity: no row
        ],
        "msisdn string, activation_date date, plan_type string, status string",
    )
    return calls, sms, subscribers


def test_phone_features_count_reciprocity_once_per_pair(phone_frames):
    calls, sms, subscribers = phone_frames
    out = phone_features(calls, sms, subscribers, as_of=AS_OF, window_days=3)
    assert out.columns == ["entity_token", *PHONE_FEATURES]
    nan = float("nan")
    expected = {
        #     out calls, distinct, answer, short, long, mean s, night, callback, per contact,
        #     in calls, in distinct, in answer, in/out, reciprocal, days, imeis,
        #     sms out, sms distinct, url share, sms in, sim age, prepaid, active
        "A": (3, 2, 2 / 3, 0.5, 0, 35.0, 1 / 3, 0.5, 1.5,
              1, 1, 1.0, 1 / 3, 1, 2, 1,
              1, 1, 1.0, 0, 2, 1, 1),
        "B": (1, 1, 1.0, 0.0, 0, 30.0, 0.0, 1.0, 1.0,
              2, 1, 0.5, 2.0, 1, 2, 1,
              0, 0, nan, 1, 365, 0, 1),
    }
    assert_rows_equal(rows_by_token(out, PHONE_FEATURES), expected)


def test_phone_features_name_missing_columns(phone_frames, spark):
    calls, sms, subscribers = phone_frames
    with pytest.raises(MissingColumns, match=r"missing columns \['duration_s'\]; present: \['callee', 'caller'"):
        phone_features(calls.drop("duration_s"), sms, subscribers, as_of=AS_OF, window_days=3)


def test_account_features_follow_money_through_a_mule(spark):
    txns = spark.createDataFrame(
        [
            ("X", "M", 1000.0, T(2026, 5, 3, 10), "mobile"),
            ("Y", "M", 500.0, T(2026, 5, 3, 10, 5), "mobile"),
            ("M", "Z", 1450.0, T(2026, 5, 3, 11), "atm"),
            ("X", "Y", 10.0, T(2026, 5, 1, 8), None),
        ],
        "src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string",
    )
    accounts = spark.createDataFrame(
        [("M", dt.date(2026, 4, 30), "personal"), ("X", dt.date(2026, 1, 3), "corporate"), ("Q", dt.date(2020, 1, 1), "personal")],
        "account_id string, open_date date, account_type string",
    )
    out = account_features(txns, accounts, as_of=AS_OF, window_days=3)
    assert out.columns == ["entity_token", *ACCOUNT_FEATURES]
    nan = float("nan")
    expected = {
        #     in n, in amount, in distinct, in max, out n, out amount, out distinct, atm share,
        #     pass-through, days, age, corporate
        "M": (2, 1500.0, 2, 1000.0, 1, 1450.0, 1, 1.0, 1450 / 1500, 1, 3, 0),
        "X": (0, 0.0, 0, nan, 2, 1010.0, 2, 0.0, nan, 2, 120, 1),
    }
    assert_rows_equal(rows_by_token(out, ACCOUNT_FEATURES), expected)
