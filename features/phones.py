"""Per phone number features over a look-back window.

Input tables are the lake's clean feeds (tokens, not raw numbers):

- calls: ``caller, callee, start_time, duration_s, caller_imei``, already
  restricted to the window;
- sms: ``sender, receiver, send_time, has_url``, same window;
- subscribers: the snapshot for the window's last day.

Calls are read once: each call becomes an outgoing row for its caller and an
incoming row for its callee, aggregated first per (number, peer) pair and
then per number. Reciprocity is therefore a pair-level fact (did the peer
call back), never a self-join of the call table.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.common import ENTITY, count_if, require_columns, safe_ratio

CALL_COLUMNS = ("caller", "callee", "start_time", "duration_s", "caller_imei")
SMS_COLUMNS = ("sender", "receiver", "send_time", "has_url")
SUBSCRIBER_COLUMNS = ("msisdn", "activation_date", "plan_type", "status")

SHORT_CALL_S = 30
LONG_CALL_S = 600
NIGHT_HOURS = (0, 6)

PHONE_FEATURES = (
    "out_calls",
    "out_distinct",
    "out_answer_rate",
    "out_short_share",
    "out_long_calls",
    "out_mean_duration_s",
    "out_night_share",
    "out_callback_share",
    "out_calls_per_contact",
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


def _call_sides(calls_df: DataFrame, as_of: dt.date) -> DataFrame:
    day_index = F.datediff(F.lit(as_of), F.to_date("start_time"))
    hour = F.hour("start_time")
    is_night = (hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])

    def side(token: str, peer: str, is_out: bool) -> Column:
        return F.struct(
            F.col(token).alias(ENTITY),
            F.col(peer).alias("peer"),
            F.lit(is_out).alias("is_out"),
            F.col("duration_s").alias("duration_s"),
            is_night.alias("is_night"),
            day_index.alias("day_index"),
            (F.col("caller_imei") if is_out else F.lit(None).cast("string")).alias("imei"),
        )

    return calls_df.select(F.explode(F.array(side("caller", "callee", True), side("callee", "caller", False))).alias("s")).select(
        "s.*"
    )


def _call_pairs(sides_df: DataFrame) -> DataFrame:
    out = F.col("is_out")
    answered = F.col("duration_s") > 0
    return sides_df.groupBy(ENTITY, "peer").agg(
        count_if(out).alias("out_n"),
        count_if(out & answered).alias("out_answered"),
        count_if(out & answered & (F.col("duration_s") < SHORT_CALL_S)).alias("out_short"),
        count_if(out & (F.col("duration_s") >= LONG_CALL_S)).alias("out_long"),
        F.sum(F.when(out, F.col("duration_s")).otherwise(0)).alias("out_duration"),
        count_if(out & F.col("is_night")).alias("out_night"),
        count_if(~out).alias("in_n"),
        count_if(~out & answered).alias("in_answered"),
        F.bit_or(F.expr("shiftleft(CAST(1 AS BIGINT), day_index)")).alias("day_bits"),
        F.collect_set("imei").alias("imeis"),
    )


def _call_features(pairs_df: DataFrame) -> DataFrame:
    has_out = F.col("out_n") > 0
    has_in = F.col("in_n") > 0
    agg_df = pairs_df.groupBy(ENTITY).agg(
        F.sum("out_n").alias("out_calls"),
        count_if(has_out).alias("out_distinct"),
        F.sum("out_answered").alias("out_answered"),
        F.sum("out_short").alias("out_short"),
        F.sum("out_long").alias("out_long_calls"),
        F.sum("out_duration").alias("out_duration"),
        F.sum("out_night").alias("out_night"),
        count_if(has_out & has_in).alias("reciprocal_contacts"),
        F.sum("in_n").alias("in_calls"),
        count_if(has_in).alias("in_distinct"),
        F.sum("in_answered").alias("in_answered"),
        F.bit_or("day_bits").alias("day_bits"),
        F.size(F.array_distinct(F.flatten(F.collect_list("imeis")))).alias("imeis"),
    )
    return agg_df.select(
        ENTITY,
        "out_calls",
        "out_distinct",
        safe_ratio(F.col("out_answered"), F.col("out_calls")).alias("out_answer_rate"),
        safe_ratio(F.col("out_short"), F.col("out_answered")).alias("out_short_share"),
        "out_long_calls",
        safe_ratio(F.col("out_duration"), F.col("out_answered")).alias("out_mean_duration_s"),
        safe_ratio(F.col("out_night"), F.col("out_calls")).alias("out_night_share"),
        safe_ratio(F.col("reciprocal_contacts"), F.col("out_distinct")).alias("out_callback_share"),
        safe_ratio(F.col("out_calls"), F.col("out_distinct")).alias("out_calls_per_contact"),
        "in_calls",
        "in_distinct",
        safe_ratio(F.col("in_answered"), F.col("in_calls")).alias("in_answer_rate"),
        safe_ratio(F.col("in_calls"), F.col("out_calls")).alias("in_out_ratio"),
        "reciprocal_contacts",
        F.bit_count("day_bits").alias("active_days"),
        "imeis",
    )


def _sms_features(sms_df: DataFrame) -> DataFrame:
    sides_df = sms_df.select(
        F.explode(
            F.array(
                F.struct(F.col("sender").alias(ENTITY), F.col("receiver").alias("peer"), F.lit(True).alias("is_out"), "has_url"),
                F.struct(F.col("receiver").alias(ENTITY), F.col("sender").alias("peer"), F.lit(False).alias("is_out"), "has_url"),
            )
        ).alias("s")
    ).select("s.*")
    out = F.col("is_out")
    return sides_df.groupBy(ENTITY).agg(
        count_if(out).alias("sms_out"),
        F.count_distinct(F.when(out, F.col("peer"))).alias("sms_out_distinct"),
        safe_ratio(count_if(out & F.col("has_url")), count_if(out)).alias("sms_out_url_share"),
        count_if(~out).alias("sms_in"),
    )


def phone_features(
    calls_df: DataFrame, sms_df: DataFrame, subscribers_df: DataFrame, *, as_of: dt.date, window_days: int
) -> DataFrame:
    """One row per subscriber number active (a call or SMS, either way) in the window ending ``as_of``.

    Output: ``entity_token`` then :data:`PHONE_FEATURES`. Counts are 0 for a
    number with no activity of that kind; ratios are null when their
    denominator is 0 (LightGBM treats null as missing). Numbers that are not
    subscribers (other operators, overseas callers) are peers, never rows.
    Calls or SMS outside the window are ignored. ``window_days`` must be at
    most 62 (days are tracked in a 64-bit mask).
    """
    require_columns(calls_df, CALL_COLUMNS, "phone_features calls")
    require_columns(sms_df, SMS_COLUMNS, "phone_features sms")
    require_columns(subscribers_df, SUBSCRIBER_COLUMNS, "phone_features subscribers")
    if not 1 <= window_days <= 62:
        raise ValueError(f"window_days must be 1..62, got {window_days}")
    first = as_of - dt.timedelta(days=window_days - 1)

    def in_window(df: DataFrame, time_col: str) -> DataFrame:
        day = F.to_date(time_col)
        return df.where((day >= F.lit(first)) & (day <= F.lit(as_of)))

    calls_feat = _call_features(_call_pairs(_call_sides(in_window(calls_df, "start_time"), as_of)))
    sms_feat = _sms_features(in_window(sms_df, "send_time"))
    subs = subscribers_df.select(
        F.col("msisdn").alias(ENTITY),
        F.datediff(F.lit(as_of), F.col("activation_date")).alias("sim_age_days"),
        (F.col("plan_type") == "prepaid").cast("int").alias("is_prepaid"),
        (F.col("status") == "active").cast("int").alias("is_active_status"),
    ).dropDuplicates([ENTITY])
    active = calls_feat.join(sms_feat, on=ENTITY, how="full")
    counts = ["out_calls", "out_distinct", "out_long_calls", "in_calls", "in_distinct", "reciprocal_contacts",
              "active_days", "imeis", "sms_out", "sms_out_distinct", "sms_in"]
    return subs.join(active, on=ENTITY, how="inner").fillna(0, subset=counts).select(ENTITY, *PHONE_FEATURES)
