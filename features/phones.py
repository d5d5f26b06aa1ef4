"""Per phone number features over a look-back window.

Input tables are the lake's clean feeds (tokens, not raw numbers):

- calls: ``caller, callee, start_time, duration_s, caller_imei``, already
  restricted to the window;
- sms: ``sender, receiver, send_time, has_url``, same window;
- subscribers: the snapshot for the window's last day.

How the events are read: once per window, by :func:`features.window.event_window`,
which keys them on 64-bit vertex ids and aggregates the calls per unordered
pair of numbers, then per number; the features here are ratios and bit counts
of those per-number sums, each joined to the subscriber snapshot
(bench/README.md has the measurements).
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features import graphs as G
from features.common import ENTITY, require_columns, safe_ratio
from features.window import NUMBER as ID
from features.window import EventWindow, event_window

CALL_COLUMNS = ("caller", "callee", "start_time", "duration_s", "caller_imei")
SMS_COLUMNS = ("sender", "receiver", "send_time", "has_url")
SUBSCRIBER_COLUMNS = ("msisdn", "activation_date", "plan_type", "status")


PHONE_FEATURES = (
    "out_calls",
    "out_distinct",
    "out_answer_rate",
    "out_short_share",
    "out_long_calls",
    "out_mean_duration_s",
    "out_night_share",
    "out_work_hours_share",
    "out_evening_share",
    "out_active_hours",
    "out_hour_block_entropy",
    "out_active_days",
    "out_max_day_calls",
    "out_day_burstiness",
    "out_weekend_share",
    "out_callback_share",
    "out_calls_per_contact",
    "out_last_day_distinct",
    "out_new_contact_share",
    "in_calls",
    "in_distinct",
    "in_answer_rate",
    "in_out_ratio",
    "reciprocal_contacts",
    "active_days",
    "imeis",
    "sms_out",
    "sms_out_distinct",
    "sms_out_url_share",
    "sms_in",
    "sim_age_days",
    "is_prepaid",
    "is_active_status",
)

# Counts that are 0, not null, for a number with no activity of their kind.
_COUNTS = (
    "out_calls",
    "out_distinct",
    "out_long_calls",
    "out_active_hours",
    "out_active_days",
    "out_max_day_calls",
    "out_last_day_distinct",
    "in_calls",
    "in_distinct",
    "reciprocal_contacts",
    "active_days",
    "imeis",
    "sms_out",
    "sms_out_distinct",
    "sms_in",
)

def _sum(columns: list[Column]) -> Column:
    return reduce(lambda x, y: x + y, columns)


def _call_features(numbers: DataFrame, *, window_days: int) -> DataFrame:
    """Per number (vertex ``id``): the call features, from the window's per-number sums."""
    out_calls = F.col("out_calls")
    out_days = F.bit_count("out_day_bits").cast("long")
    days = [F.col(f"out_day{k}") for k in range(window_days)]
    max_day = F.greatest(*days) if window_days > 1 else days[0]
    blocks = [F.col("out_night"), F.col("out_work"), F.col("out_evening")]
    blocks.append(out_calls - _sum(blocks))  # morning
    entropy = _sum([F.when(b > 0, -(b / out_calls) * F.log2(b / out_calls)).otherwise(0.0) for b in blocks])
    return numbers.select(
        ID,
        "out_calls",
        "out_distinct",
        safe_ratio(F.col("out_answered"), out_calls).alias("out_answer_rate"),
        safe_ratio(F.col("out_short"), F.col("out_answered")).alias("out_short_share"),
        F.col("out_long").alias("out_long_calls"),
        safe_ratio(F.col("out_duration"), F.col("out_answered")).alias("out_mean_duration_s"),
        safe_ratio(F.col("out_night"), out_calls).alias("out_night_share"),
        safe_ratio(F.col("out_work"), out_calls).alias("out_work_hours_share"),
        safe_ratio(F.col("out_evening"), out_calls).alias("out_evening_share"),
        F.bit_count("out_hour_bits").cast("long").alias("out_active_hours"),
        F.when(out_calls > 0, entropy).alias("out_hour_block_entropy"),
        out_days.alias("out_active_days"),
        max_day.alias("out_max_day_calls"),
        safe_ratio(max_day * out_days, out_calls).alias("out_day_burstiness"),
        safe_ratio(F.col("out_weekend"), out_calls).alias("out_weekend_share"),
        safe_ratio(F.col("reciprocal_contacts"), F.col("out_distinct")).alias("out_callback_share"),
        safe_ratio(out_calls, F.col("out_distinct")).alias("out_calls_per_contact"),
        "out_last_day_distinct",
        safe_ratio(F.col("out_new_contacts"), F.col("out_distinct")).alias("out_new_contact_share"),
        "in_calls",
        "in_distinct",
        safe_ratio(F.col("in_answered"), F.col("in_calls")).alias("in_answer_rate"),
        safe_ratio(F.col("in_calls"), out_calls).alias("in_out_ratio"),
        "reciprocal_contacts",
        F.bit_count("day_bits").cast("long").alias("active_days"),
    )


def _sms_features(sms_edges: DataFrame) -> DataFrame:
    """Per number (vertex ``id``), the directed SMS graph's edges summed: the ``sms_`` features."""
    zero = F.lit(0).cast("long")
    sides = sms_edges.select(
        F.inline(
            F.array(
                F.struct(
                    F.col(G.SRC).alias(ID), F.col("messages").alias("out_n"), F.col("with_url").cast("long").alias("url"),
                    zero.alias("in_n"),
                ),
                F.struct(F.col(G.DST).alias(ID), zero.alias("out_n"), zero.alias("url"), F.col("messages").alias("in_n")),
            )
        )
    )
    return sides.groupBy(ID).agg(
        F.sum("out_n").alias("sms_out"),
        F.count(F.when(F.col("out_n") > 0, 1)).alias("sms_out_distinct"),
        safe_ratio(F.sum("url"), F.sum("out_n")).alias("sms_out_url_share"),
        F.sum("in_n").alias("sms_in"),
    )


def phone_features_of(window: EventWindow, subscribers_df: DataFrame, *, with_id: bool = False) -> DataFrame:
    """:func:`phone_features` from an :class:`~features.window.EventWindow` already keyed.

    ``with_id``: the number's vertex ``id`` first (to join other parts by it).
    """
    require_columns(subscribers_df, SUBSCRIBER_COLUMNS, "phone_features subscribers")
    subscribers = subscribers_df.where(F.col("msisdn").isNotNull()).dropDuplicates(["msisdn"]).select(
        F.col("msisdn").alias(ENTITY),
        G.vertex(G.NUMBER, "msisdn").alias(ID),
        F.datediff(F.lit(window.as_of), F.col("activation_date")).alias("sim_age_days"),
        (F.col("plan_type") == "prepaid").cast("int").alias("is_prepaid"),
        (F.col("status") == "active").cast("int").alias("is_active_status"),
    )
    handsets = window.handsets.groupBy(F.col(G.SRC).alias(ID)).agg(F.count(F.lit(1)).alias("imeis"))
    parts = [_call_features(window.numbers, window_days=window.days), handsets, _sms_features(window.sms)]
    # Each part is grouped by the number already, and so is each left join of the subscribers to them:
    # only the subscribers are shuffled (full outer joins of the parts reshuffled every result on the
    # merged key). A subscriber is active when a part has its row; each part's first count is never null.
    rows = reduce(lambda df, part: df.join(part, on=ID, how="left"), parts, subscribers)
    active = F.col("out_calls").isNotNull() | F.col("imeis").isNotNull() | F.col("sms_out").isNotNull()
    key = [ID, ENTITY] if with_id else [ENTITY]
    return rows.where(active).fillna(0, subset=list(_COUNTS)).select(*key, *PHONE_FEATURES)


def phone_features(
    calls_df: DataFrame, sms_df: DataFrame, subscribers_df: DataFrame, *, as_of: dt.date, window_days: int
) -> DataFrame:
    """One row per subscriber number active (a call or SMS, either way) in the window ending ``as_of``.

    Output: ``entity_token`` then :data:`PHONE_FEATURES`:

    - ``out_*``: the number's outgoing calls. ``out_answer_rate`` and
      ``out_short_share`` (answered calls under 30 s, of answered calls);
      ``out_long_calls`` counts calls of 600 s or more, which are all
      answered (a duration of 0 means not answered); ``out_mean_duration_s``
      is over answered calls.
    - Hour of day (local time): shares of outgoing calls at night (0-6 h),
      in working hours (9-18 h) and in the evening (18-24 h);
      ``out_active_hours``, the distinct hours of the day with an outgoing
      call (0-24); ``out_hour_block_entropy``, the entropy in bits of the
      split over night, morning (6-9 h), working hours and evening (0 when
      all calls fall in one block, 2 at most).
    - Days: ``out_active_days`` (days with an outgoing call),
      ``out_max_day_calls`` (most outgoing calls on one day),
      ``out_day_burstiness`` (that maximum over the mean per active day: 1
      for an even spread, up to ``out_active_days``), ``out_weekend_share``
      (Saturday and Sunday; adjusted working days are not known).
    - Contacts: ``out_distinct``, ``in_distinct``; ``reciprocal_contacts``,
      peers called and calling back in the window (counted once per pair);
      ``out_callback_share`` (of distinct peers called);
      ``out_last_day_distinct``, distinct numbers called on ``as_of``;
      ``out_new_contact_share``, the share of distinct numbers called whose
      first call in the window is on ``as_of`` (with ``window_days=1``
      every contact is new).
    - ``active_days``: days with a call either way. ``imeis``: distinct
      handsets of the number's outgoing calls.
    - SMS: sent, distinct receivers, share with a link, received.
    - Subscription: SIM age in days, prepaid, status active.

    Counts are 0 for a number with no activity of that kind; ratios are null
    when their denominator is 0 (LightGBM treats null as missing). Numbers
    that are not subscribers (other operators, overseas callers) are peers,
    never rows. Calls or SMS outside the window are ignored; so are a call or
    an SMS missing either party, and calls to oneself (not a contact; their
    handset still counts in ``imeis``). A call with a null duration counts as
    made, not answered. Empty inputs give an empty frame with these columns.
    ``window_days`` is 1..62 (days are tracked in a 64-bit mask).
    """
    require_columns(calls_df, CALL_COLUMNS, "phone_features calls")
    require_columns(sms_df, SMS_COLUMNS, "phone_features sms")
    window = event_window(calls_df, sms_df, as_of=as_of, window_days=window_days)
    return phone_features_of(window, subscribers_df)
