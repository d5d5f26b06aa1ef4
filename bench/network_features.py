"""Network-feature stage on Spark against DuckDB computing the same per-number aggregates (issue 4).

Run: .venv/bin/python bench/network_features.py [--calls N --sms N --transactions N --out DIR --stage NAME]
(default: 10 million calls, 5 million SMS and 1 million transfers over 7 days, in a scratch folder
that is removed afterwards; give --out to keep the data and reuse it on the next run).

The dataset is shaped like the clean lake (``LAKE/clean/<feed>/dt=D``, tokens of 64 hex characters,
event times as Spark writes them: INT96 instants read in the Asia/Shanghai session zone) and is drawn
with numpy: a heavy-tailed number of calls per caller (log-normal activity plus a few dialers that
call thousands of fresh numbers), repeated calls to a small set of contacts that call back, several
handsets for a few numbers, and the subscribers and accounts snapshots of the window's last day.

A stage is a function ``(spark, lake, day, window_days, out) -> {part: rows written}``, listed in
:data:`STAGES`; ``--stage`` picks one. DuckDB computes the same features from the same files with
SQL that follows the definitions of ``features.phones`` and ``features.accounts``; the script then
compares every row and column of the two outputs and prints the table for bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from features.phones import EVENING_HOURS, LONG_CALL_S, NIGHT_HOURS, SHORT_CALL_S, WORK_HOURS
from fraudgraph import contract as C
from fraudgraph.config import SparkConf, load_config
from fraudgraph.lake import DT, Lake, days_between, partition_path, write_partitions
from simulator.ids import fixed_strings
from simulator.population import NORMAL_HOURS
from simulator.population import WORK_HOURS as WORKDAY_HOURS_P
from simulator.writer import cents_to_decimal

DATA_VERSION = 1
AS_OF = dt.date(2026, 3, 28)
WINDOW_DAYS = 7
SEED = 4
# Spark writes event times as INT96 instants; the session zone (Asia/Shanghai, UTC+8 all year) reads them back.
UTC_OFFSET_S = 8 * 3600
SECONDS_PER_DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- data


def hex_tokens(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 64-character lowercase hex strings, shaped like HMAC-SHA256 tokens."""
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    chars = np.empty((n, 64), dtype=np.uint8)
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 15]
    offsets = (np.arange(n + 1, dtype=np.int64) * 64).tobytes()
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())]
    )


def heavy_tailed_counts(
    rng: np.random.Generator, total: int, n: int, heavy: np.ndarray, factor: float
) -> np.ndarray:
    """Events per entity summing to ``total``: log-normal activity, ``factor`` times more for the heavy ones."""
    weight = rng.lognormal(0.0, 1.1, n)
    weight[heavy] *= factor
    return rng.multinomial(total, weight / weight.sum())


def contact_of(
    rng: np.random.Generator, who: np.ndarray, contacts: np.ndarray, offsets: np.ndarray, n: int
) -> np.ndarray:
    """A peer of each ``who`` among its ``contacts[who]`` contacts, favourite ones far more often.

    Contact ``2k`` of ``i`` is ``i + offsets[k]`` and contact ``2k + 1`` is ``i - offsets[k]``, so
    ``i`` is in the contact list of each of its contacts and calls can be returned.
    """
    rank = np.minimum((contacts[who] * rng.random(len(who)) ** 3).astype(np.int64), len(offsets) * 2 - 1)
    sign = np.where(rank % 2 == 0, 1, -1)
    return (who + sign * offsets[rank // 2]) % n


def local_times(rng: np.random.Generator, days: np.ndarray, hours_p: np.ndarray) -> np.ndarray:
    """Seconds since the epoch in local time on day numbers ``days`` at hours drawn from ``hours_p``."""
    return (
        days * SECONDS_PER_DAY
        + rng.choice(24, len(days), p=hours_p) * 3600
        + rng.integers(0, 3600, len(days))
    )


def int96_times(local_seconds: np.ndarray) -> pa.Array:
    """Local seconds as the instants Spark stores (written as INT96, read back in the session zone)."""
    return pa.array((local_seconds - UTC_OFFSET_S) * 1_000_000, type=pa.timestamp("us"))


def write_day(table: pa.Table, table_dir: Path, day: dt.date) -> None:
    folder = partition_path(table_dir, day)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table, folder / "part-00000.parquet", compression="zstd", use_deprecated_int96_timestamps=True
    )


def generate_lake(lake: Lake, *, calls: int, sms: int, transactions: int, seed: int) -> None:
    """Write the clean feeds of a 7-day window ending :data:`AS_OF` under ``lake``."""
    rng = np.random.default_rng(seed)
    days = days_between(AS_OF - dt.timedelta(days=WINDOW_DAYS - 1), AS_OF)
    day_numbers = np.array([(d - EPOCH).days for d in days], dtype=np.int64)

    # Numbers: 25 calls each a week on average; 85 % are subscribers, plus 5 % silent subscribers.
    numbers = max(1_000, calls // 25)
    silent = numbers // 20
    number_tokens = hex_tokens(rng, numbers + silent)
    extra_imeis = numbers // 5
    imei_tokens = hex_tokens(rng, numbers + extra_imeis)
    contacts = 2 + rng.poisson(12, numbers)
    offsets = rng.choice(np.arange(1, numbers), size=int(contacts.max()) // 2 + 1, replace=False)
    dialer = rng.random(numbers) < 0.001
    handsets = np.where(rng.random(numbers) < 0.05, rng.integers(2, 5, numbers), 1)

    per_caller = heavy_tailed_counts(rng, calls, numbers, dialer, 150.0)
    caller = rng.permutation(np.repeat(np.arange(numbers), per_caller))
    is_dialer = dialer[caller]
    callee = np.where(
        is_dialer, rng.integers(0, numbers, calls), contact_of(rng, caller, contacts, offsets, numbers)
    )
    day = rng.integers(0, WINDOW_DAYS, calls)
    t = np.where(
        is_dialer,
        local_times(rng, day_numbers[day], WORKDAY_HOURS_P),
        local_times(rng, day_numbers[day], NORMAL_HOURS),
    )
    answered = rng.random(calls) < np.where(is_dialer, 0.35, 0.75)
    median = np.where(is_dialer, 25.0, 75.0)
    duration = np.where(
        answered, np.clip(np.round(median * np.exp(1.2 * rng.standard_normal(calls))), 1, 7200), 0
    )
    handset = (rng.random(calls) * handsets[caller]).astype(np.int64)
    imei = np.where(handset == 0, caller, numbers + (caller * 7 + handset) % extra_imeis)
    imei_null = rng.random(calls) < 0.02
    cell = rng.integers(0, 5_000, calls)
    cells = pa.array([f"460-00-{c // 100:05d}-{c:05d}" for c in range(5_000)])
    classes = pa.array(["cn_mobile"])

    calls_dir = lake.clean(C.CALLS)
    for k, d in enumerate(days):
        rows = np.flatnonzero(day == k)
        rows = rows[np.argsort(t[rows], kind="stable")]
        n = len(rows)
        zeros = pa.array(np.zeros(n, dtype=np.int32))
        imei_col = imei_tokens.take(pa.array(imei[rows])).cast(pa.string())
        imei_col = pc.if_else(pa.array(imei_null[rows]), pa.nulls(n, pa.string()), imei_col)
        table = pa.table(
            {
                "call_id": fixed_strings(f"C{d:%Y%m%d}", np.arange(n), 8),
                "caller": number_tokens.take(pa.array(caller[rows])).cast(pa.string()),
                "caller_class": classes.take(zeros),
                "callee": number_tokens.take(pa.array(callee[rows])).cast(pa.string()),
                "callee_class": classes.take(zeros),
                "start_time": int96_times(t[rows]),
                "duration_s": pa.array(duration[rows].astype(np.int32)),
                "caller_imei": imei_col,
                "cell_id": cells.take(pa.array(cell[rows])),
            }
        )
        write_day(table, calls_dir, d)
    lake.mark_ingested(C.CALLS, days)
    del caller, callee, t, duration, imei, imei_null, cell, handset, answered, median, is_dialer

    # SMS: the same people texting their contacts, plus a few senders of links to fresh numbers.
    spammer = rng.random(numbers) < 0.0005
    sender = rng.permutation(
        np.repeat(np.arange(numbers), heavy_tailed_counts(rng, sms, numbers, spammer, 200.0))
    )
    is_spam = spammer[sender]
    receiver = np.where(
        is_spam, rng.integers(0, numbers, sms), contact_of(rng, sender, contacts, offsets, numbers)
    )
    day = rng.integers(0, WINDOW_DAYS, sms)
    t = local_times(rng, day_numbers[day], NORMAL_HOURS)
    has_url = rng.random(sms) < np.where(is_spam, 0.7, 0.03)
    sms_dir = lake.clean(C.SMS)
    for k, d in enumerate(days):
        rows = np.flatnonzero(day == k)
        rows = rows[np.argsort(t[rows], kind="stable")]
        zeros = pa.array(np.zeros(len(rows), dtype=np.int32))
        table = pa.table(
            {
                "sms_id": fixed_strings(f"S{d:%Y%m%d}", np.arange(len(rows)), 8),
                "sender": number_tokens.take(pa.array(sender[rows])).cast(pa.string()),
                "sender_class": classes.take(zeros),
                "receiver": number_tokens.take(pa.array(receiver[rows])).cast(pa.string()),
                "receiver_class": classes.take(zeros),
                "send_time": int96_times(t[rows]),
                "has_url": pa.array(has_url[rows]),
            }
        )
        write_day(table, sms_dir, d)
    lake.mark_ingested(C.SMS, days)
    del sender, receiver, t, has_url, is_spam

    # Subscribers snapshot of the last day: 85 % of the numbers seen, and the silent ones.
    is_subscriber = np.concatenate([rng.random(numbers) < 0.85, np.ones(silent, dtype=bool)])
    subs = np.flatnonzero(is_subscriber)
    m = len(subs)
    activation = (AS_OF - EPOCH).days - np.where(
        rng.random(m) < 0.03, rng.integers(0, 30, m), rng.integers(30, 3650, m)
    )
    person_tokens = hex_tokens(rng, m)
    table = pa.table(
        {
            "msisdn": number_tokens.take(pa.array(subs)).cast(pa.string()),
            "msisdn_class": classes.take(pa.array(np.zeros(m, dtype=np.int32))),
            "id_number": pc.if_else(
                pa.array(rng.random(m) < 0.05), pa.nulls(m, pa.large_string()), person_tokens
            ).cast(pa.string()),
            "activation_date": pa.array(activation.astype("datetime64[D]")),
            "plan_type": pa.array(["prepaid", "postpaid", "iot"]).take(
                pa.array(rng.choice(3, m, p=[0.4, 0.55, 0.05]))
            ),
            "home_city": pa.array([f"city-{c:02d}" for c in range(40)]).take(
                pa.array(rng.integers(0, 40, m))
            ),
            "status": pa.array(["active", "suspended", "cancelled"]).take(
                pa.array(rng.choice(3, m, p=[0.95, 0.04, 0.01]))
            ),
        }
    )
    write_day(table, lake.clean(C.SUBSCRIBERS), AS_OF)
    lake.mark_ingested(C.SUBSCRIBERS, [AS_OF])

    # Transfers: 4 a week per account on average, a few busy mule accounts, 90 % of accounts are the bank's.
    accounts = max(1_000, transactions // 4)
    account_tokens = hex_tokens(rng, accounts)
    payees = 2 + rng.poisson(6, accounts)
    payee_offsets = rng.choice(np.arange(1, accounts), size=int(payees.max()) // 2 + 1, replace=False)
    busy = rng.random(accounts) < 0.002
    src = rng.permutation(
        np.repeat(np.arange(accounts), heavy_tailed_counts(rng, transactions, accounts, busy, 50.0))
    )
    dst = contact_of(rng, src, payees, payee_offsets, accounts)
    day = rng.integers(0, WINDOW_DAYS, transactions)
    t = local_times(rng, day_numbers[day], NORMAL_HOURS)
    cents = np.round(rng.lognormal(np.log(300), 1.2, transactions) * 100).astype(np.int64)
    channel = rng.choice(4, transactions, p=[0.7, 0.2, 0.07, 0.03])
    txn_dir = lake.clean(C.TRANSACTIONS)
    for k, d in enumerate(days):
        rows = np.flatnonzero(day == k)
        rows = rows[np.argsort(t[rows], kind="stable")]
        table = pa.table(
            {
                "txn_id": fixed_strings(f"T{d:%Y%m%d}", np.arange(len(rows)), 8),
                "src_account": account_tokens.take(pa.array(src[rows])).cast(pa.string()),
                "dst_account": account_tokens.take(pa.array(dst[rows])).cast(pa.string()),
                "amount": cents_to_decimal(cents[rows]),
                "txn_time": int96_times(t[rows]),
                "channel": pa.array(list(C.CHANNELS)).take(pa.array(channel[rows])),
            }
        )
        write_day(table, txn_dir, d)
    lake.mark_ingested(C.TRANSACTIONS, days)

    ours = np.flatnonzero(rng.random(accounts) < 0.9)
    a = len(ours)
    table = pa.table(
        {
            "account_id": account_tokens.take(pa.array(ours)).cast(pa.string()),
            "holder_id_number": person_tokens.take(pa.array(rng.integers(0, m, a))).cast(pa.string()),
            "bound_msisdn": number_tokens.take(pa.array(subs[rng.integers(0, m, a)])).cast(pa.string()),
            "bank_code": pa.array(["308"]).take(pa.array(np.zeros(a, dtype=np.int32))),
            "open_date": pa.array(((AS_OF - EPOCH).days - rng.integers(0, 5000, a)).astype("datetime64[D]")),
            "account_type": pa.array(["personal", "corporate"]).take(
                pa.array((rng.random(a) < 0.08).astype(np.int32))
            ),
        }
    )
    write_day(table, lake.clean(C.ACCOUNTS), AS_OF)
    lake.mark_ingested(C.ACCOUNTS, [AS_OF])


def ensure_lake(lake: Lake, *, calls: int, sms: int, transactions: int) -> bool:
    """Generate the dataset unless ``lake`` already holds one with these sizes; True when generated.

    Generation runs in a child process, so the peak memory of this one is the stage's.
    """
    meta_file = lake.root / "_bench.json"
    wanted = {"version": DATA_VERSION, "calls": calls, "sms": sms, "transactions": transactions, "seed": SEED}
    if meta_file.exists() and json.loads(meta_file.read_text()) == wanted:
        return False
    shutil.rmtree(lake.root, ignore_errors=True)
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_generate, args=(str(lake.root), calls, sms, transactions))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"data generation failed (exit {child.exitcode})")
    meta_file.write_text(json.dumps(wanted) + "\n")
    return True


def _generate(root: str, calls: int, sms: int, transactions: int) -> None:
    generate_lake(Lake(root), calls=calls, sms=sms, transactions=transactions, seed=SEED)


# ---------------------------------------------------------------------------------------------- stages

# A part computes and writes features for the window ending ``day`` and returns
# (rows read, rows written, seconds); a stage is a sequence of named parts, each timed on its own.
Part = Callable[[SparkSession, Lake, dt.date, int, Path], tuple[int, int, float]]


def _window(day: dt.date, window_days: int) -> list[dt.date]:
    return days_between(day - dt.timedelta(days=window_days - 1), day)


def _write(df: DataFrame, table: Path, day: dt.date) -> int:
    """Write like the pipeline (``write_partitions`` under ``dt=``); rows written from the Parquet footers."""
    write_partitions(df.withColumn(DT, F.lit(day.isoformat())), table)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in partition_path(table, day).glob("*.parquet"))


def part_phones(
    spark: SparkSession, lake: Lake, day: dt.date, window_days: int, out: Path
) -> tuple[int, int, float]:
    """features.phones.phone_features: the part DuckDB is compared with."""
    from features.phones import phone_features

    days = _window(day, window_days)
    started = time.perf_counter()
    df = phone_features(
        lake.read_clean(spark, C.CALLS, days),
        lake.read_clean(spark, C.SMS, days),
        lake.read_clean_snapshot(spark, C.SUBSCRIBERS, day),
        as_of=day,
        window_days=window_days,
    )
    written = _write(df, out / C.MSISDN, day)
    return _rows(lake, C.CALLS, days) + _rows(lake, C.SMS, days), written, time.perf_counter() - started


def part_accounts(
    spark: SparkSession, lake: Lake, day: dt.date, window_days: int, out: Path
) -> tuple[int, int, float]:
    """features.accounts.account_features."""
    from features.accounts import account_features

    days = _window(day, window_days)
    started = time.perf_counter()
    df = account_features(
        lake.read_clean(spark, C.TRANSACTIONS, days),
        lake.read_clean_snapshot(spark, C.ACCOUNTS, day),
        as_of=day,
        window_days=window_days,
    )
    written = _write(df, out / C.ACCOUNT, day)
    return _rows(lake, C.TRANSACTIONS, days), written, time.perf_counter() - started


def part_job(
    spark: SparkSession, lake: Lake, day: dt.date, window_days: int, out: Path
) -> tuple[int, int, float]:
    """jobs.features.materialise_features as the pipeline runs it (it writes under the bench lake's features/)."""
    from jobs.features import materialise_features

    days = _window(day, window_days)
    kwargs = {}
    if "graph" in inspect.signature(materialise_features).parameters:  # network features, when present
        kwargs["graph"] = load_config().graph
    started = time.perf_counter()
    built = materialise_features(spark, lake, day, length=window_days, **kwargs)
    seconds = time.perf_counter() - started
    written = sum(
        pq.ParquetFile(f).metadata.num_rows
        for entity in built
        for f in partition_path(lake.features(entity), day).glob("*.parquet")
    )
    return sum(_rows(lake, feed, days) for feed in (C.CALLS, C.SMS, C.TRANSACTIONS)), written, seconds


STAGES: dict[str, tuple[tuple[str, Part], ...]] = {
    # The per-number feature stage: phone then account features, each written.
    "features": (("phone_features", part_phones), ("account_features", part_accounts)),
    "phones": (("phone_features", part_phones),),
    # The pipeline's own feature step (jobs/features.py), network features included when it has them.
    "job": (("materialise_features", part_job),),
}


def _rows(lake: Lake, feed: C.Feed, days: list[dt.date]) -> int:
    table = lake.clean(feed)
    return sum(
        pq.ParquetFile(f).metadata.num_rows for d in days for f in partition_path(table, d).glob("*.parquet")
    )


# ---------------------------------------------------------------------------------------------- DuckDB


def duckdb_phone_features_sql(lake: Lake, day: dt.date, window_days: int, out_file: Path) -> str:
    """The phone features of ``features.phones``, written as one DuckDB query to ``out_file``.

    Plain SQL as a DuckDB user would write it: one aggregation of calls per caller, one per
    (caller, callee) pair, reciprocity as a join of the pair table with itself, distinct IMEIs.
    INT96 times are instants; with the connection in UTC, ``timezone('Asia/Shanghai', ...)``
    gives the local time Spark's session zone gives.
    """
    first = day - dt.timedelta(days=window_days - 1)
    days = _window(day, window_days)

    def files(feed: C.Feed, ds: list[dt.date]) -> str:
        paths = [str(p) for d in ds for p in sorted(partition_path(lake.clean(feed), d).glob("*.parquet"))]
        return "[" + ", ".join(f"'{p}'" for p in paths) + "]"

    snapshot = max(
        d
        for d in days_between(first - dt.timedelta(days=366), day)
        if partition_path(lake.clean(C.SUBSCRIBERS), d).is_dir()
    )
    per_day = ",\n    ".join(f"count(*) FILTER (WHERE day_index = {k}) AS day{k}" for k in range(window_days))
    max_day = f"greatest({', '.join(f'day{k}' for k in range(window_days))})" if window_days > 1 else "day0"

    def ratio(num: str, den: str) -> str:
        return f"CASE WHEN {den} > 0 THEN ({num})::DOUBLE / {den} END"

    blocks = ["out_night", "out_work", "out_evening", "(out_calls - out_night - out_work - out_evening)"]
    entropy = " + ".join(
        f"CASE WHEN {b} > 0 THEN -({b}::DOUBLE / out_calls) * log2({b}::DOUBLE / out_calls) ELSE 0 END"
        for b in blocks
    )
    return f"""
COPY (
WITH calls AS (
  SELECT caller, callee, duration_s, caller_imei, timezone('Asia/Shanghai', start_time::TIMESTAMPTZ) AS t
  FROM read_parquet({files(C.CALLS, days)})
), win AS (
  SELECT *, t::DATE AS d FROM calls WHERE t::DATE BETWEEN DATE '{first}' AND DATE '{day}'
), c AS (
  SELECT caller, callee, duration_s, hour(t) AS hour, DATE '{day}' - d AS day_index, dayofweek(d) IN (0, 6) AS is_weekend
  FROM win WHERE caller IS NOT NULL AND callee IS NOT NULL AND caller <> callee
), pairs AS (
  SELECT caller, callee, count(*) AS n, count(*) FILTER (WHERE duration_s > 0) AS answered,
         bit_or(1::BIGINT << day_index) AS day_bits
  FROM c GROUP BY caller, callee
), out_calls AS (
  SELECT caller AS token, count(*) AS out_calls,
    count(*) FILTER (WHERE duration_s > 0) AS out_answered,
    count(*) FILTER (WHERE duration_s > 0 AND duration_s < {SHORT_CALL_S}) AS out_short,
    count(*) FILTER (WHERE duration_s >= {LONG_CALL_S}) AS out_long_calls,
    coalesce(sum(duration_s), 0) AS out_duration,
    count(*) FILTER (WHERE hour >= {NIGHT_HOURS[0]} AND hour < {NIGHT_HOURS[1]}) AS out_night,
    count(*) FILTER (WHERE hour >= {WORK_HOURS[0]} AND hour < {WORK_HOURS[1]}) AS out_work,
    count(*) FILTER (WHERE hour >= {EVENING_HOURS[0]} AND hour < {EVENING_HOURS[1]}) AS out_evening,
    count(*) FILTER (WHERE is_weekend) AS out_weekend,
    bit_count(bit_or(1::BIGINT << hour)) AS out_active_hours,
    {per_day}
  FROM c GROUP BY caller
), out_pairs AS (
  SELECT p.caller AS token, count(*) AS out_distinct, count(q.caller) AS reciprocal_contacts,
    count(*) FILTER (WHERE p.day_bits & 1 = 1) AS out_last_day_distinct,
    count(*) FILTER (WHERE p.day_bits = 1) AS out_new_contacts,
    bit_or(p.day_bits) AS out_day_bits
  FROM pairs p LEFT JOIN pairs q ON q.caller = p.callee AND q.callee = p.caller
  GROUP BY p.caller
), in_pairs AS (
  SELECT callee AS token, sum(n) AS in_calls, count(*) AS in_distinct, sum(answered) AS in_answered,
         bit_or(day_bits) AS in_day_bits
  FROM pairs GROUP BY callee
), handsets AS (
  SELECT caller AS token, count(DISTINCT caller_imei) AS imeis
  FROM win WHERE caller IS NOT NULL AND caller_imei IS NOT NULL GROUP BY caller
), sms_pairs AS (
  SELECT sender, receiver, count(*) AS n, count(*) FILTER (WHERE has_url) AS url
  FROM read_parquet({files(C.SMS, days)})
  WHERE timezone('Asia/Shanghai', send_time::TIMESTAMPTZ)::DATE BETWEEN DATE '{first}' AND DATE '{day}'
    AND sender IS NOT NULL AND receiver IS NOT NULL
  GROUP BY sender, receiver
), sms_out AS (
  SELECT sender AS token, sum(n) AS sms_out, count(*) AS sms_out_distinct, sum(url) AS sms_url
  FROM sms_pairs GROUP BY sender
), sms_in AS (
  SELECT receiver AS token, sum(n) AS sms_in FROM sms_pairs GROUP BY receiver
), subs AS (
  SELECT DISTINCT ON (msisdn) msisdn, activation_date, plan_type, status
  FROM read_parquet({files(C.SUBSCRIBERS, [snapshot])}) WHERE msisdn IS NOT NULL
), active AS (
  SELECT token FROM out_calls UNION SELECT token FROM in_pairs UNION SELECT token FROM handsets
  UNION SELECT token FROM sms_out UNION SELECT token FROM sms_in
), f AS (
  SELECT s.msisdn AS entity_token, s.activation_date, s.plan_type, s.status,
    coalesce(o.out_calls, 0) AS out_calls, coalesce(p.out_distinct, 0) AS out_distinct,
    coalesce(o.out_answered, 0) AS out_answered, coalesce(o.out_short, 0) AS out_short,
    coalesce(o.out_long_calls, 0) AS out_long_calls, coalesce(o.out_duration, 0) AS out_duration,
    coalesce(o.out_night, 0) AS out_night, coalesce(o.out_work, 0) AS out_work,
    coalesce(o.out_evening, 0) AS out_evening, coalesce(o.out_weekend, 0) AS out_weekend,
    coalesce(o.out_active_hours, 0) AS out_active_hours,
    coalesce(bit_count(p.out_day_bits), 0) AS out_active_days,
    coalesce({max_day.replace("day", "o.day")}, 0) AS out_max_day_calls,
    coalesce(p.reciprocal_contacts, 0) AS reciprocal_contacts,
    coalesce(p.out_last_day_distinct, 0) AS out_last_day_distinct,
    coalesce(p.out_new_contacts, 0) AS out_new_contacts,
    coalesce(i.in_calls, 0) AS in_calls, coalesce(i.in_distinct, 0) AS in_distinct,
    coalesce(i.in_answered, 0) AS in_answered,
    bit_count(coalesce(p.out_day_bits, 0) | coalesce(i.in_day_bits, 0)) AS active_days,
    coalesce(h.imeis, 0) AS imeis,
    coalesce(so.sms_out, 0) AS sms_out, coalesce(so.sms_out_distinct, 0) AS sms_out_distinct,
    coalesce(so.sms_url, 0) AS sms_url, coalesce(si.sms_in, 0) AS sms_in
  FROM subs s
  JOIN active a ON a.token = s.msisdn
  LEFT JOIN out_calls o ON o.token = s.msisdn
  LEFT JOIN out_pairs p ON p.token = s.msisdn
  LEFT JOIN in_pairs i ON i.token = s.msisdn
  LEFT JOIN handsets h ON h.token = s.msisdn
  LEFT JOIN sms_out so ON so.token = s.msisdn
  LEFT JOIN sms_in si ON si.token = s.msisdn
)
SELECT entity_token,
  out_calls, out_distinct,
  {ratio("out_answered", "out_calls")} AS out_answer_rate,
  {ratio("out_short", "out_answered")} AS out_short_share,
  out_long_calls,
  {ratio("out_duration", "out_answered")} AS out_mean_duration_s,
  {ratio("out_night", "out_calls")} AS out_night_share,
  {ratio("out_work", "out_calls")} AS out_work_hours_share,
  {ratio("out_evening", "out_calls")} AS out_evening_share,
  out_active_hours,
  CASE WHEN out_calls > 0 THEN {entropy} END AS out_hour_block_entropy,
  out_active_days, out_max_day_calls,
  {ratio("out_max_day_calls * out_active_days", "out_calls")} AS out_day_burstiness,
  {ratio("out_weekend", "out_calls")} AS out_weekend_share,
  {ratio("reciprocal_contacts", "out_distinct")} AS out_callback_share,
  {ratio("out_calls", "out_distinct")} AS out_calls_per_contact,
  out_last_day_distinct,
  {ratio("out_new_contacts", "out_distinct")} AS out_new_contact_share,
  in_calls, in_distinct,
  {ratio("in_answered", "in_calls")} AS in_answer_rate,
  {ratio("in_calls", "out_calls")} AS in_out_ratio,
  reciprocal_contacts, active_days, imeis,
  sms_out, sms_out_distinct,
  {ratio("sms_url", "sms_out")} AS sms_out_url_share,
  sms_in,
  DATE '{day}' - activation_date AS sim_age_days,
  (plan_type = 'prepaid')::INT AS is_prepaid,
  (status = 'active')::INT AS is_active_status
FROM f
) TO '{out_file}' (FORMAT parquet, COMPRESSION zstd)
"""


def run_duckdb(
    lake: Lake, day: dt.date, window_days: int, out_file: Path, *, threads: int
) -> tuple[int, float]:
    """Run the DuckDB phone features; (rows written, seconds)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    sql = duckdb_phone_features_sql(lake, day, window_days, out_file)
    started = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - started
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out_file}')").fetchall()[0][0]
    con.close()
    return rows, seconds


def compare_outputs(spark_dir: Path, duckdb_file: Path, columns: tuple[str, ...], *, sample: int = 3) -> dict:
    """Every row and column of the two phone-feature outputs, compared in DuckDB.

    Equal means both null, or both equal within 1e-9 relative. Returns the row counts, the
    mismatches per column and a few rows side by side.
    """
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{spark_dir}/**/*.parquet')")
    con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{duckdb_file}')")
    counts = con.execute(
        "SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM d), "
        "(SELECT count(*) FROM s JOIN d USING (entity_token))"
    ).fetchall()[0]

    def differs(c: str) -> str:
        x, y = f"s.{c}::DOUBLE", f"d.{c}::DOUBLE"
        return f"count(*) FILTER (WHERE ({x} IS NULL) <> ({y} IS NULL) OR abs({x} - {y}) > 1e-9 * greatest(1, abs({x})))"

    mismatches = con.execute(
        "SELECT " + ", ".join(differs(c) for c in columns) + " FROM s JOIN d USING (entity_token)"
    ).fetchall()[0]
    shown = (
        "out_calls",
        "out_distinct",
        "reciprocal_contacts",
        "out_max_day_calls",
        "out_new_contact_share",
        "imeis",
    )
    rows = con.execute(
        "SELECT entity_token, "
        + ", ".join(f"s.{c}, d.{c}" for c in shown)
        + f" FROM s JOIN d USING (entity_token) ORDER BY s.out_calls DESC, entity_token LIMIT {sample}"
    ).fetchall()
    con.close()
    return {
        "spark_rows": counts[0],
        "duckdb_rows": counts[1],
        "joined_rows": counts[2],
        "mismatches": {c: m for c, m in zip(columns, mismatches, strict=True) if m},
        "shown": shown,
        "sample": rows,
    }


# ---------------------------------------------------------------------------------------------- memory


def _children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (the JVM that PySpark starts is one)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class Probe:
    """Samples resident memory of this process and of its child processes (the JVM) while a phase runs."""

    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.python_kb = 0
        self.children_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu0 = 0.0
        self.cpu_s = 0.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.python_kb = max(self.python_kb, _status_kb(os.getpid(), "VmRSS"))
            self.children_kb = max(
                self.children_kb, sum(_status_kb(p, "VmRSS") for p in _children(os.getpid()))
            )
            self._stop.wait(self.every_s)

    def __enter__(self) -> Probe:
        self._cpu0 = _cpu_seconds([os.getpid(), *_children(os.getpid())])
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.cpu_s = _cpu_seconds([os.getpid(), *_children(os.getpid())]) - self._cpu0


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000, help="call records in the 7-day window")
    parser.add_argument("--sms", type=int, default=5_000_000, help="SMS records in the window")
    parser.add_argument("--transactions", type=int, default=1_000_000, help="transfers in the window")
    parser.add_argument(
        "--out", default=None, help="folder kept between runs (default: a temporary one, removed)"
    )
    parser.add_argument("--stage", choices=sorted(STAGES), default="features", help="what Spark times")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each engine in the same session")
    args = parser.parse_args()

    scratch = Path(args.out or tempfile.mkdtemp(prefix="fraudgraph-network-bench-"))
    lake = Lake(scratch / "lake")
    started = time.perf_counter()
    generated = ensure_lake(lake, calls=args.calls, sms=args.sms, transactions=args.transactions)
    print(
        f"data: {'generated' if generated else 'reused'} in {time.perf_counter() - started:.0f} s under {lake.root}"
    )

    from features.phones import PHONE_FEATURES
    from fraudgraph.spark import build_session

    conf = SparkConf(
        master="local[2]",
        app_name="fraudgraph-bench-network",
        shuffle_partitions=args.shuffle_partitions,
        driver_memory=args.driver_memory,
        extra={},
    )
    spark = build_session(conf)
    load = os.getloadavg()[0]
    results = []
    for run in range(1, args.repeat + 1):
        spark_out = scratch / f"spark-{run}"
        shutil.rmtree(spark_out, ignore_errors=True)
        for name, part in STAGES[args.stage]:
            with Probe() as probe:
                figures = part(spark, lake, AS_OF, WINDOW_DAYS, spark_out)
            results.append(("Spark", run, name, figures, probe))
    spark.stop()

    duck_out = scratch / "duckdb-phone-features.parquet"
    for run in range(1, args.repeat + 1):
        with Probe() as probe:
            rows, seconds = run_duckdb(lake, AS_OF, WINDOW_DAYS, duck_out, threads=2)
        rows_in = _rows(lake, C.CALLS, _window(AS_OF, WINDOW_DAYS)) + _rows(
            lake, C.SMS, _window(AS_OF, WINDOW_DAYS)
        )
        results.append(("DuckDB", run, "phone_features", (rows_in, rows, seconds), probe))
    load = max(load, os.getloadavg()[0])

    print(
        f"\n{args.calls:,} calls, {args.sms:,} SMS, {args.transactions:,} transfers over {WINDOW_DAYS} days; "
        f"Spark local[2], {args.shuffle_partitions} shuffle partitions, driver {args.driver_memory}; "
        f"DuckDB 2 threads; stage {args.stage!r}; 1-minute load average up to {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        "| engine | run | part | rows in | rows out | seconds | CPU s | rows/s | Python RSS MB | JVM RSS MB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for engine, run, name, (rows_in, rows_out, seconds), probe in results:
        jvm = f"{probe.children_kb / 1024:,.0f}" if engine == "Spark" else "-"
        print(
            f"| {engine} | {run} | {name} | {rows_in:,} | {rows_out:,} | {seconds:.1f} | {probe.cpu_s:.0f} "
            f"| {rows_in / seconds:,.0f} | {probe.python_kb / 1024:,.0f} | {jvm} |"
        )
    spark_phone = [f[2] for e, _, n, f, _ in results if e == "Spark" and n == "phone_features"]
    duck_phone = [f[2] for e, _, n, f, _ in results if e == "DuckDB"]
    if spark_phone:
        print(
            f"\nphone features, Spark / DuckDB: first run {spark_phone[0] / duck_phone[0]:.1f}x, "
            f"best runs {min(spark_phone) / min(duck_phone):.1f}x"
        )
        check = compare_outputs(scratch / "spark-1" / C.MSISDN, duck_out, PHONE_FEATURES)
        print(
            f"check: Spark {check['spark_rows']:,} rows, DuckDB {check['duckdb_rows']:,} rows, "
            f"{check['joined_rows']:,} in both; columns that differ: {check['mismatches'] or 'none'}"
        )
        print("busiest callers, (Spark, DuckDB) for " + ", ".join(check["shown"]) + ":")
        for row in check["sample"]:
            pairs = [f"({row[1 + 2 * i]}, {row[2 + 2 * i]})" for i in range(len(check["shown"]))]
            print(f"  {row[0][:12]}… " + " ".join(pairs))
    print(
        f"peak Python process RSS over the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
