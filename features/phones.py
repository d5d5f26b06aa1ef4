"""Per phone number features over a look-back window.

Input tables are the lake's clean feeds (tokens, not raw numbers):

- calls: ``caller, callee, start_time, duration_s, caller_imei``, already
  restricted to the window;
- sms: ``sender, receiver, send_time, has_url``, same window;
- subscribers: the snapshot for the window's last day.

How the calls are read, and why (bench/README.md has the measurements):

- Once for every call feature. Each call is first aggregated into its
  *unordered* pair of numbers, with one set of counts per direction; each
  pair row then becomes one row for each of its two numbers, aggregated per
  number. Reciprocity is a pair-level fact (both directions present), never a
  self-join of the call table.
- On two 64-bit hashes of each token, not on the 64-character token:
  grouping and shuffling longs costs a fraction of strings. With two
  independent hashes (128 bits) two numbers share a key with odds below
  1e-20 even among a billion numbers; the token comes back from the
  subscribers table in the last join.
- Shuffled once, raw, to the pair it belongs to: most pairs have one or two
  calls a day, so a map-side partial aggregation would shrink little and cost
  a second hash of every row.
- Without per-pair arrays (``collect_set``) or ``count_distinct``, which take
  Spark off its hash aggregation. Distinct peers are pair rows; handsets are
  distinct (caller, IMEI) rows, counted in a second, narrow pass over the
  caller and IMEI columns only.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.common import ENTITY, require_columns, safe_ratio

CALL_COLUMNS = ("caller", "callee", "start_time", "duration_s", "caller_imei")
SMS_COLUMNS = ("sender", "receiver", "send_time", "has_url")
SUBSCRIBER_COLUMNS = ("msisdn", "activation_date", "plan_type", "status")

SHORT_CALL_S = 30
LONG_CALL_S = 600
# Blocks of the hour of day, [start, end); morning (6-9) is what the others leave.
NIGHT_HOURS = (0, 6)
WORK_HOURS = (9, 18)
EVENING_HOURS = (18, 24)
# Days are tracked in a 64-bit mask; one count per day and direction is kept per pair.
MAX_WINDOW_DAYS = 62

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

_KEY = ("k1", "k2")
_SALT = "fraudgraph-phone-key"  # makes the second hash independent of the first


def _hash_key(token: Column, prefix: str = "") -> list[Column]:
    """Two independent 64-bit hashes of ``token`` as ``<prefix>k1, <prefix>k2``; null for a null token."""
    known = token.isNotNull()
    return [
        F.when(known, F.xxhash64(token)).alias(f"{prefix}k1"),
        F.when(known, F.xxhash64(F.lit(_SALT), token)).alias(f"{prefix}k2"),
    ]


def _count_if(cond: Column) -> Column:
    # count() of a nullable literal: a non-nullable buffer, cheaper than sum(when(..., 1).otherwise(0)).
    return F.count(F.when(cond, 1))


def _bit(column: str) -> Column:
    """The 64-bit mask with bit number ``column`` set."""
    return F.expr(f"shiftleft(CAST(1 AS BIGINT), {column})")


def _in_hours(hour: Column, hours: tuple[int, int]) -> Column:
    return (hour >= hours[0]) & (hour < hours[1])


def _sum(columns: list[Column]) -> Column:
    return reduce(lambda x, y: x + y, columns)


def _in_window(df: DataFrame, time_col: str, *, first: dt.date, as_of: dt.date) -> DataFrame:
    day = F.to_date(time_col)
    return df.where((day >= F.lit(first)) & (day <= F.lit(as_of)))


def _call_rows(calls_df: DataFrame, *, first: dt.date, as_of: dt.date) -> DataFrame:
    """One row per call between two known, different numbers, keyed by its unordered pair.

    ``a`` is the number with the smaller key, ``b`` the other; ``is_ab`` says
    the call went from ``a`` to ``b``.
    """
    calls = _in_window(calls_df, "start_time", first=first, as_of=as_of).where(
        F.col("caller").isNotNull() & F.col("callee").isNotNull() & (F.col("caller") != F.col("callee"))
    )
    day = F.to_date("start_time")
    keyed = calls.select(
        *_hash_key(F.col("caller"), "c_"),
        *_hash_key(F.col("callee"), "e_"),
        "duration_s",
        F.hour("start_time").alias("hour"),
        F.datediff(F.lit(as_of), day).alias("day_index"),
        F.dayofweek(day).isin(1, 7).alias("is_weekend"),
    )
    c1, c2, e1, e2 = (F.col(c) for c in ("c_k1", "c_k2", "e_k1", "e_k2"))
    is_ab = (c1 < e1) | ((c1 == e1) & (c2 < e2))
    return keyed.select(
        F.when(is_ab, c1).otherwise(e1).alias("a_k1"),
        F.when(is_ab, c2).otherwise(e2).alias("a_k2"),
        F.when(is_ab, e1).otherwise(c1).alias("b_k1"),
        F.when(is_ab, e2).otherwise(c2).alias("b_k2"),
        is_ab.alias("is_ab"),
        "duration_s",
        "hour",
        "day_index",
        "is_weekend",
    )


def _direction_stats(is_dir: Column, window_days: int) -> dict[str, Column]:
    """Aggregates over the calls of one direction of a pair (``is_dir`` picks them)."""
    dur = F.col("duration_s")
    answered = dur > 0
    hour = F.col("hour")
    stats = {
        "n": _count_if(is_dir),
        "answered": _count_if(is_dir & answered),
        "short": _count_if(is_dir & answered & (dur < SHORT_CALL_S)),
        "long": _count_if(is_dir & (dur >= LONG_CALL_S)),
        "duration": F.coalesce(F.sum(F.when(is_dir, dur)), F.lit(0).cast("long")),
        "night": _count_if(is_dir & _in_hours(hour, NIGHT_HOURS)),
        "work": _count_if(is_dir & _in_hours(hour, WORK_HOURS)),
        "evening": _count_if(is_dir & _in_hours(hour, EVENING_HOURS)),
        "weekend": _count_if(is_dir & F.col("is_weekend")),
        "hour_bits": F.bit_or(F.when(is_dir, _bit("hour")).otherwise(0)),
        "day_bits": F.bit_or(F.when(is_dir, _bit("day_index")).otherwise(0)),
    }
    for k in range(window_days):
        stats[f"day{k}"] = _count_if(is_dir & (F.col("day_index") == k))
    return stats


def _call_pairs(call_rows_df: DataFrame, *, window_days: int) -> DataFrame:
    """One row per unordered pair: keys ``a_k1, a_k2, b_k1, b_k2``, then ``ab_<stat>`` and ``ba_<stat>``."""
    pair = ["a_k1", "a_k2", "b_k1", "b_k2"]
    ab = _direction_stats(F.col("is_ab"), window_days)
    ba = _direction_stats(~F.col("is_ab"), window_days)
    return (
        call_rows_df.repartition(*pair)
        .groupBy(*pair)
        .agg(*[c.alias(f"ab_{s}") for s, c in ab.items()], *[c.alias(f"ba_{s}") for s, c in ba.items()])
    )


def _call_features(pairs_df: DataFrame, *, window_days: int) -> DataFrame:
    """Per number: its side of every pair it is in, summed. Keys ``k1, k2``, then the call features."""
    stats = [c[3:] for c in pairs_df.columns if c.startswith("ab_")]

    def side(me: str, out: str, inc: str) -> Column:
        return F.struct(
            F.col(f"{me}_k1").alias("k1"),
            F.col(f"{me}_k2").alias("k2"),
            *[F.col(f"{out}_{s}").alias(f"out_{s}") for s in stats],
            F.col(f"{inc}_n").alias("in_n"),
            F.col(f"{inc}_answered").alias("in_answered"),
            F.col(f"{inc}_day_bits").alias("in_day_bits"),
        )

    sides_df = pairs_df.select(F.inline(F.array(side("a", "ab", "ba"), side("b", "ba", "ab"))))
    has_out = F.col("out_n") > 0
    has_in = F.col("in_n") > 0
    days = [f"out_day{k}" for k in range(window_days)]
    sums = [
        "out_answered",
        "out_short",
        "out_long",
        "out_duration",
        "out_night",
        "out_work",
        "out_evening",
        "out_weekend",
        "in_answered",
        *days,
    ]
    agg_df = sides_df.groupBy(*_KEY).agg(
        F.sum("out_n").alias("out_calls"),
        _count_if(has_out).alias("out_distinct"),
        *[F.sum(c).alias(c) for c in sums],
        F.bit_or("out_hour_bits").alias("out_hour_bits"),
        F.bit_or("out_day_bits").alias("out_day_bits"),
        _count_if(F.col("out_day_bits").bitwiseAND(1) == 1).alias("out_last_day_distinct"),
        _count_if(F.col("out_day_bits") == 1).alias("out_new_contacts"),
        _count_if(has_out & has_in).alias("reciprocal_contacts"),
        F.sum("in_n").alias("in_calls"),
        _count_if(has_in).alias("in_distinct"),
        F.bit_or(F.col("out_day_bits").bitwiseOR(F.col("in_day_bits"))).alias("day_bits"),
    )
    out_calls = F.col("out_calls")
    out_days = F.bit_count("out_day_bits").cast("long")
    max_day = F.greatest(*[F.col(c) for c in days]) if window_days > 1 else F.col(days[0])
    blocks = [F.col("out_night"), F.col("out_work"), F.col("out_evening")]
    blocks.append(out_calls - _sum(blocks))  # morning
    entropy = _sum([F.when(b > 0, -(b / out_calls) * F.log2(b / out_calls)).otherwise(0.0) for b in blocks])
    return agg_df.select(
        *_KEY,
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


def _handsets(calls_df: DataFrame, *, first: dt.date, as_of: dt.date) -> DataFrame:
    """Per caller, distinct IMEIs of its calls in the window: keys ``k1, k2`` and ``imeis``."""
    return (
        _in_window(calls_df, "start_time", first=first, as_of=as_of)
        .where(F.col("caller").isNotNull() & F.col("caller_imei").isNotNull())
        .select(*_hash_key(F.col("caller")), *_hash_key(F.col("caller_imei"), "i_"))
        .distinct()
        .groupBy(*_KEY)
        .agg(F.count(F.lit(1)).alias("imeis"))
    )


def _sms_features(sms_df: DataFrame, *, first: dt.date, as_of: dt.date) -> DataFrame:
    """Per number, pair-level SMS counts summed: keys ``k1, k2`` and the ``sms_`` features."""
    pair = ["s_k1", "s_k2", "r_k1", "r_k2"]
    pairs_df = (
        _in_window(sms_df, "send_time", first=first, as_of=as_of)
        .where(F.col("sender").isNotNull() & F.col("receiver").isNotNull())
        .select(*_hash_key(F.col("sender"), "s_"), *_hash_key(F.col("receiver"), "r_"), "has_url")
        .repartition(*pair)
        .groupBy(*pair)
        .agg(F.count(F.lit(1)).alias("n"), _count_if(F.col("has_url")).alias("url"))
    )
    zero = F.lit(0).cast("long")
    sides_df = pairs_df.select(
        F.inline(
            F.array(
                F.struct(
                    F.col("s_k1").alias("k1"),
                    F.col("s_k2").alias("k2"),
                    F.col("n").alias("out_n"),
                    F.col("url").alias("url"),
                    zero.alias("in_n"),
                ),
                F.struct(
                    F.col("r_k1").alias("k1"),
                    F.col("r_k2").alias("k2"),
                    zero.alias("out_n"),
                    zero.alias("url"),
                    F.col("n").alias("in_n"),
                ),
            )
        )
    )
    return sides_df.groupBy(*_KEY).agg(
        F.sum("out_n").alias("sms_out"),
        _count_if(F.col("out_n") > 0).alias("sms_out_distinct"),
        safe_ratio(F.sum("url"), F.sum("out_n")).alias("sms_out_url_share"),
        F.sum("in_n").alias("sms_in"),
    )


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
    require_columns(subscribers_df, SUBSCRIBER_COLUMNS, "phone_features subscribers")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"window_days must be 1..{MAX_WINDOW_DAYS}, got {window_days}")
    first = as_of - dt.timedelta(days=window_days - 1)

    pairs_df = _call_pairs(_call_rows(calls_df, first=first, as_of=as_of), window_days=window_days)
    active_df = (
        _call_features(pairs_df, window_days=window_days)
        .join(_handsets(calls_df, first=first, as_of=as_of), on=list(_KEY), how="full")
        .join(_sms_features(sms_df, first=first, as_of=as_of), on=list(_KEY), how="full")
    )
    subscribers = subscribers_df.dropDuplicates(["msisdn"]).select(
        F.col("msisdn").alias(ENTITY),
        *_hash_key(F.col("msisdn")),
        F.datediff(F.lit(as_of), F.col("activation_date")).alias("sim_age_days"),
        (F.col("plan_type") == "prepaid").cast("int").alias("is_prepaid"),
        (F.col("status") == "active").cast("int").alias("is_active_status"),
    )
    return (
        subscribers.join(active_df, on=list(_KEY), how="inner")
        .fillna(0, subset=list(_COUNTS))
        .select(ENTITY, *PHONE_FEATURES)
    )
