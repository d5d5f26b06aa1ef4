"""The calls and SMS of one look-back window, read and keyed once for every feature.

The phone features and the network features read the same calls: the
per-number counts, the directed call graph, the contacts and their degrees,
the handsets and the call-then-transfer bridges. Reading the window's
Parquet and hashing its 64-character tokens costs more than most of what
follows (bench/README.md), so :func:`event_window` does it once and keeps
the results, on 64-bit vertex ids (:func:`features.graphs.vertex`):

- ``calls``: one row per call in the window with a known caller,
  :data:`KEYED_CALL` (``dst`` and ``device`` may be null);
- ``pairs``: one row per *unordered* pair of different numbers that called
  each other either way, ``a < b``, then ``ab_<stat>`` for the calls from
  ``a`` to ``b`` and ``ba_<stat>`` for the other direction (:data:`PAIR_STATS`:
  calls, answered calls, a bit mask of the days, bit ``k`` for ``k`` days
  before the as-of day). Reciprocity is a pair-level fact (both directions
  present), never a self-join of the call table. The contacts (each pair
  from both ends) and the joint graph's call edges come from these rows;
- ``numbers``: one row per number in any pair (:data:`NUMBER_CALLS`, plus
  ``out_day<k>``, its calls ``k`` days before the as-of day): what its pairs
  say (contacts, distinct peers each way, reciprocal, new) and what its
  calls say (counts, answered, short and long, duration, hour blocks,
  weekends, bit masks of hours and days). The phone features and the
  contacts' degrees read it;
- ``handsets``: distinct (number, handset) pairs of the callers' IMEIs;
- ``sms``: the directed SMS graph (:data:`features.graphs.SMS_EDGE`).

The pairs carry only what needs the pair: a caller's counts, hours and days
are aggregated per number straight from the calls, where Spark's map-side
partial aggregation leaves a few rows per number and task to shuffle; the
pairs are shuffled once, raw, since most pairs have one or two calls a day
and a partial aggregation would shrink little. There are no per-pair arrays
(``collect_set``) or ``count_distinct``, which take Spark off its hash
aggregation: distinct peers are pair rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features import graphs as G
from features.common import require_columns

# Days are tracked in a 64-bit mask; one count per day and direction is kept per pair.
MAX_WINDOW_DAYS = 62
SHORT_CALL_S = 30
LONG_CALL_S = 600
# Blocks of the hour of day, [start, end); morning (6-9) is what the others leave.
NIGHT_HOURS = (0, 6)
WORK_HOURS = (9, 18)
EVENING_HOURS = (18, 24)

DEVICE = "device"
KEYED_CALL = (G.SRC, G.DST, DEVICE, "duration_s", "start_time", "hour", "day_index", "is_weekend")
PAIR = ("a", "b")
PAIR_STATS = ("n", "answered", "day_bits")
NUMBER = "id"
NUMBER_CALLS = (
    NUMBER, "contacts", "out_distinct", "out_answered_distinct", "out_last_day_distinct", "out_new_contacts",
    "reciprocal_contacts", "in_distinct", "out_calls", "out_answered", "out_short", "out_long", "out_duration",
    "out_night", "out_work", "out_evening", "out_weekend", "out_hour_bits", "out_day_bits", "in_calls",
    "in_answered", "in_day_bits", "day_bits",
)


@dataclass(frozen=True)
class EventWindow:
    """The window ending ``as_of`` of ``days`` days; see the module's docstring for the frames."""

    as_of: dt.date
    days: int
    calls: DataFrame
    pairs: DataFrame
    numbers: DataFrame
    handsets: DataFrame
    sms: DataFrame

    def contacts(self) -> DataFrame:
        """Each pair from both ends: ``id``, ``peer``; ``out_n``, ``out_answered``, ``out_day_bits`` (calls to
        the peer, answered ones, the days of them); ``in_n``, ``in_answered``, ``in_day_bits`` (from the peer)."""
        return self.pairs.select(
            F.inline(
                F.array(
                    F.struct(
                        F.col("a").alias(NUMBER), F.col("b").alias("peer"), F.col("ab_n").alias("out_n"),
                        F.col("ba_n").alias("in_n"), F.col("ab_answered").alias("out_answered"),
                        F.col("ab_day_bits").alias("out_day_bits"), F.col("ba_answered").alias("in_answered"),
                        F.col("ba_day_bits").alias("in_day_bits"),
                    ),
                    F.struct(
                        F.col("b").alias(NUMBER), F.col("a").alias("peer"), F.col("ba_n").alias("out_n"),
                        F.col("ab_n").alias("in_n"), F.col("ba_answered").alias("out_answered"),
                        F.col("ba_day_bits").alias("out_day_bits"), F.col("ab_answered").alias("in_answered"),
                        F.col("ab_day_bits").alias("in_day_bits"),
                    ),
                )
            )
        )


def _count_if(cond: Column) -> Column:
    # count() of a nullable literal: a non-nullable buffer, cheaper than sum(when(..., 1).otherwise(0)).
    return F.count(F.when(cond, 1))


def _bit(column: str) -> Column:
    """The 64-bit mask with bit number ``column`` set."""
    return F.expr(f"shiftleft(CAST(1 AS BIGINT), {column})")


def in_hours(hour: Column, hours: tuple[int, int]) -> Column:
    return (hour >= hours[0]) & (hour < hours[1])


def _in_window(df: DataFrame, time_col: str, *, first: dt.date, as_of: dt.date) -> DataFrame:
    day = F.to_date(time_col)
    return df.where((day >= F.lit(first)) & (day <= F.lit(as_of)))


def _keyed_calls(calls_df: DataFrame, *, first: dt.date, as_of: dt.date) -> DataFrame:
    day = F.to_date("start_time")
    return (
        _in_window(calls_df, "start_time", first=first, as_of=as_of)
        .where(F.col("caller").isNotNull())
        .select(
            G.vertex(G.NUMBER, "caller").alias(G.SRC),
            G.vertex(G.NUMBER, "callee").alias(G.DST),
            G.vertex(G.DEVICE, "caller_imei").alias(DEVICE),
            "duration_s",
            "start_time",
            F.hour("start_time").alias("hour"),
            F.datediff(F.lit(as_of), day).alias("day_index"),
            F.dayofweek(day).isin(1, 7).alias("is_weekend"),
        )
    )


def _between_numbers(calls: DataFrame) -> DataFrame:
    """Calls between two known, different numbers: the ones the call features and the pairs count."""
    return calls.where(F.col(G.DST).isNotNull() & (F.col(G.SRC) != F.col(G.DST)))


def _pairs(calls: DataFrame) -> DataFrame:
    """One row per unordered pair: ``a < b``, then per direction the calls, answered calls and days (a bit mask)."""
    src, dst = F.col(G.SRC), F.col(G.DST)
    # The 10M rows are shuffled raw: direction (bit 0), answer (bit 1) and day (bits 2..) travel as one
    # integer, a narrower shuffle row than three columns (480 MB -> 320 MB for 10M calls, bench/README.md).
    rows = _between_numbers(calls).select(
        F.least(src, dst).alias("a"),
        F.greatest(src, dst).alias("b"),
        (
            (src < dst).cast("int")
            + F.when(F.col("duration_s") > 0, 2).otherwise(0)
            + F.shiftleft(F.col("day_index"), 2)
        ).alias("call"),
    )
    call = F.col("call")
    answered = call.bitwiseAND(2) == 2

    def direction(is_dir: Column, d: str) -> list[Column]:
        return [
            _count_if(is_dir).alias(f"{d}_n"),
            _count_if(is_dir & answered).alias(f"{d}_answered"),
            F.bit_or(F.when(is_dir, _bit("shiftright(call, 2)")).otherwise(0)).alias(f"{d}_day_bits"),
        ]

    is_ab = call.bitwiseAND(1) == 1
    return rows.repartition(*PAIR).groupBy(*PAIR).agg(*direction(is_ab, "ab"), *direction(~is_ab, "ba"))


def _caller_stats(calls: DataFrame, *, window_days: int) -> DataFrame:
    """Per calling number, over its calls (aggregated map-side first: a few rows per number leave each task)."""
    dur = F.col("duration_s")
    answered = dur > 0
    hour = F.col("hour")
    return (
        _between_numbers(calls)
        .groupBy(F.col(G.SRC).alias(NUMBER))
        .agg(
            F.count(F.lit(1)).alias("out_calls"),
            _count_if(answered).alias("out_answered"),
            _count_if(answered & (dur < SHORT_CALL_S)).alias("out_short"),
            _count_if(dur >= LONG_CALL_S).alias("out_long"),
            F.coalesce(F.sum(dur), F.lit(0).cast("long")).alias("out_duration"),
            _count_if(in_hours(hour, NIGHT_HOURS)).alias("out_night"),
            _count_if(in_hours(hour, WORK_HOURS)).alias("out_work"),
            _count_if(in_hours(hour, EVENING_HOURS)).alias("out_evening"),
            _count_if(F.col("is_weekend")).alias("out_weekend"),
            F.bit_or(_bit("hour")).alias("out_hour_bits"),
            F.bit_or(_bit("day_index")).alias("out_day_bits"),
            *[_count_if(F.col("day_index") == k).alias(f"out_day{k}") for k in range(window_days)],
        )
    )


def _contact_stats(contacts: DataFrame) -> DataFrame:
    """Per number, over its pairs: contacts, distinct peers each way, reciprocal, new and last-day peers,
    and the calls it got (counted by the pairs: no second pass over the calls)."""
    has_out = F.col("out_n") > 0
    has_in = F.col("in_n") > 0
    return contacts.groupBy(NUMBER).agg(
        F.count(F.lit(1)).alias("contacts"),
        _count_if(has_out).alias("out_distinct"),
        _count_if(F.col("out_answered") > 0).alias("out_answered_distinct"),
        _count_if(F.col("out_day_bits").bitwiseAND(1) == 1).alias("out_last_day_distinct"),
        _count_if(F.col("out_day_bits") == 1).alias("out_new_contacts"),
        _count_if(has_out & has_in).alias("reciprocal_contacts"),
        _count_if(has_in).alias("in_distinct"),
        F.sum("in_n").alias("in_calls"),
        F.sum("in_answered").alias("in_answered"),
        F.bit_or("in_day_bits").alias("in_day_bits"),
    )


def event_window(
    calls_df: DataFrame, sms_df: DataFrame, *, as_of: dt.date, window_days: int, keep: bool = True
) -> EventWindow:
    """Key the window's calls and SMS once; with ``keep``, the frames are cached for their several readers.

    Calls and SMS outside the ``window_days`` days ending ``as_of`` are
    ignored, so are a call without a caller and an SMS missing either party.
    A call to oneself is not a pair (its handset still counts); a call with
    a null duration counts as made, not answered. The caller frees the cache
    once the window's outputs are written (:func:`fraudgraph.spark.released_at_end`).
    """
    require_columns(calls_df, G.CALLS, "event_window calls")
    require_columns(sms_df, G.SMS, "event_window sms")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"window_days must be 1..{MAX_WINDOW_DAYS}, got {window_days}")
    first = as_of - dt.timedelta(days=window_days - 1)

    def kept(df: DataFrame) -> DataFrame:
        return df.cache() if keep else df

    calls = kept(_keyed_calls(calls_df, first=first, as_of=as_of))
    pairs = kept(_pairs(calls))
    handsets = kept(
        calls.where(F.col(DEVICE).isNotNull()).select(G.SRC, F.col(DEVICE).alias(G.DST)).distinct()
    )
    sms = kept(G.sms_graph(_in_window(sms_df, "send_time", first=first, as_of=as_of)))
    window = EventWindow(
        as_of=as_of, days=window_days, calls=calls, pairs=pairs, numbers=pairs, handsets=handsets, sms=sms
    )
    numbers = (
        _contact_stats(window.contacts())
        .join(_caller_stats(calls, window_days=window_days), on=NUMBER, how="left")
        .fillna(0)
        .withColumn("day_bits", F.col("out_day_bits").bitwiseOR(F.col("in_day_bits")))
    )
    return dataclasses.replace(window, numbers=kept(numbers))
