"""Hand-made frames, expected rows written out by hand."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from features.accounts import ACCOUNT_FEATURES, account_features
from features.common import MissingColumns
from features.phones import PHONE_FEATURES, phone_features

AS_OF = dt.date(2026, 5, 3)  # a Sunday
T = dt.datetime
# Entropy in bits of a split of calls one third / two thirds.
ENTROPY_1_2 = -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))


def rows_by_token(df, columns):
    # null (no denominator) compared as NaN
    return {
        r["entity_token"]: tuple(float("nan") if r[c] is None else r[c] for c in columns)
        for r in df.collect()
    }


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
        [("A", "B", T(2026, 5, 3, 9), True)],
        "sender string, receiver string, send_time timestamp_ntz, has_url boolean",
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
    # fmt: off
    expected = {
        #     out calls, distinct, answer, short, long, mean s, night, work, evening, hours, entropy,
        #     out days, max day, burstiness, weekend, callback, per contact, last-day distinct, new share,
        #     in calls, in distinct, in answer, in/out, reciprocal, days, imeis,
        #     sms out, sms distinct, url share, sms in, sim age, prepaid, active
        "A": (3, 2, 2 / 3, 0.5, 0, 35.0, 1 / 3, 2 / 3, 0.0, 3, ENTROPY_1_2,
              2, 2, 4 / 3, 1.0, 0.5, 1.5, 1, 0.0,
              1, 1, 1.0, 1 / 3, 1, 2, 1,
              1, 1, 1.0, 0, 2, 1, 1),
        "B": (1, 1, 1.0, 0.0, 0, 30.0, 0.0, 1.0, 0.0, 1, 0.0,
              1, 1, 1.0, 1.0, 1.0, 1.0, 1, 1.0,
              2, 1, 0.5, 2.0, 1, 2, 1,
              0, 0, nan, 1, 365, 0, 1),
    }
    # fmt: on
    assert_rows_equal(rows_by_token(out, PHONE_FEATURES), expected)


def test_phone_features_name_missing_columns(phone_frames, spark):
    calls, sms, subscribers = phone_frames
    with pytest.raises(
        MissingColumns, match=r"missing columns \['duration_s'\]; present: \['callee', 'caller'"
    ):
        phone_features(calls.drop("duration_s"), sms, subscribers, as_of=AS_OF, window_days=3)


def test_phone_features_profile_hours_days_and_new_contacts(spark):
    # Window of 7 days: Monday 2026-04-27 to Sunday 2026-05-03.
    calls = spark.createDataFrame(
        [
            ("X", "P", T(2026, 4, 28, 9, 30), 700, "I1"),  # Tuesday, working hours, long
            ("X", "P", T(2026, 4, 28, 20), 0, "I1"),  # evening, not answered
            ("X", "P", T(2026, 4, 28, 23, 59), 20, "I1"),  # evening, short
            ("X", "Q", T(2026, 5, 2, 7), 45, "I2"),  # Saturday morning
            ("X", "R", T(2026, 5, 3, 2), None, "I1"),  # Sunday night, duration unknown: made, not answered
            ("X", "P", T(2026, 5, 3, 12), 100, "I1"),  # Sunday, working hours
            ("X", "X", T(2026, 5, 1, 15), 50, "I3"),  # to itself: not a call feature, still a handset
            (None, "X", T(2026, 5, 1, 10), 60, None),  # caller missing: ignored
            ("P", "X", T(2026, 4, 26, 10), 60, "I9"),  # the day before the window: ignored
        ],
        "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string",
    )
    sms = spark.createDataFrame(
        [
            ("X", "Y", T(2026, 5, 1, 9), True),
            ("X", "Y", T(2026, 5, 2, 9), None),
            (None, "Y", T(2026, 5, 2, 9), True),
        ],
        "sender string, receiver string, send_time timestamp_ntz, has_url boolean",
    )
    subscribers = spark.createDataFrame(
        [
            ("X", dt.date(2026, 4, 1), "prepaid", "active"),
            ("Y", dt.date(2025, 5, 3), "postpaid", "suspended"),
            (None, dt.date(2020, 1, 1), "postpaid", "active"),
        ],
        "msisdn string, activation_date date, plan_type string, status string",
    )
    out = phone_features(calls, sms, subscribers, as_of=AS_OF, window_days=7)
    nan = float("nan")
    # Night 1, morning 1, working hours 2, evening 2 of 6 calls.
    entropy = 2 * (1 / 6) * math.log2(6) + 2 * (1 / 3) * math.log2(3)
    # fmt: off
    expected = {
        #     out calls, distinct, answer, short, long, mean s, night, work, evening, hours, entropy,
        #     out days, max day, burstiness, weekend, callback, per contact, last-day distinct, new share,
        #     in calls, in distinct, in answer, in/out, reciprocal, days, imeis,
        #     sms out, sms distinct, url share, sms in, sim age, prepaid, active
        "X": (6, 3, 4 / 6, 1 / 4, 1, 865 / 4, 1 / 6, 2 / 6, 2 / 6, 6, entropy,
              3, 3, 1.5, 0.5, 0.0, 2.0, 2, 1 / 3,
              0, 0, nan, 0.0, 0, 3, 3,
              2, 1, 0.5, 0, 32, 1, 1),
        "Y": (0, 0, nan, nan, 0, nan, nan, nan, nan, 0, nan,
              0, 0, nan, nan, nan, nan, 0, nan,
              0, 0, nan, nan, 0, 0, 0,
              0, 0, nan, 2, 365, 0, 0),
    }
    # fmt: on
    assert_rows_equal(rows_by_token(out, PHONE_FEATURES), expected)


def test_phone_features_refuse_a_window_longer_than_the_day_mask(phone_frames):
    calls, sms, subscribers = phone_frames
    with pytest.raises(ValueError, match="window_days must be 1..62, got 63"):
        phone_features(calls, sms, subscribers, as_of=AS_OF, window_days=63)


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
        [
            ("M", None, None, dt.date(2026, 4, 30), "personal"),
            ("X", None, None, dt.date(2026, 1, 3), "corporate"),
            ("Q", None, None, dt.date(2020, 1, 1), "personal"),
        ],
        "account_id string, holder_id_number string, bound_msisdn string, open_date date, account_type string",
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
    # The flow aggregates; the network features have their own tests (test_account_network.py).
    assert_rows_equal(rows_by_token(out, ACCOUNT_FEATURES[:12]), expected)
