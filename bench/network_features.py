"""Network-feature stage on Spark against DuckDB computing the same per-number aggregates (issue 4).

Run: .venv/bin/python bench/network_features.py [--calls N --sms N --transactions N --out DIR --stage NAME]
(default: 10 million calls, 5 million SMS and 1 million transfers over 7 days, in a scratch folder
that is removed afterwards; give --out to keep the data and reuse it on the next run).

The dataset is shaped like the clean lake (``LAKE/clean/<feed>/dt=D``, tokens of 64 hex characters,
event times as Spark writes them: INT96 instants read in the Asia/Shanghai session zone) and is drawn
with numpy: a heavy-tailed number of calls per caller (log-normal activity plus a few dialers that
call thousands of fresh numbers), repeated calls to a small set of contacts that call back, several
handsets for a few numbers, and the subscribers and accounts snapshots of the window's last day.

Stages (``--stage`` picks some; all by default), each timed with the peak resident memory of the
process tree (the Python driver, the Spark JVM, DuckDB in-process):

- ``duckdb_aggregates``: one DuckDB query (all cores) computing, per subscriber number active in the
  window, every phone feature of ``features.phones`` and the network features that are plain
  aggregations (identity sharing, contacts' degrees, co-targeting), from the same Parquet files;
- ``spark_aggregates``: the same columns with the project's Spark code;
- ``spark_network_stage``: the whole feature stage of a day as ``fraud train``/``fraud score`` run it
  (``jobs.features.materialise_features``: phone and account features, every network feature,
  propagated risk, strong-tie components and money bridges), written to the lake.

The two aggregate outputs are then compared row by row and column by column (DuckDB does the
comparison; nothing per number reaches the Python driver), and the script prints the table for
bench/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import multiprocessing
import os
import platform
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
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from features.network import COUNT_FEATURES as NETWORK_COUNT_FEATURES
from features.network import PHONE_NETWORK_FEATURES
from features.window import EVENING_HOURS, LONG_CALL_S, NIGHT_HOURS, SHORT_CALL_S, WORK_HOURS
from fraudgraph import contract as C
from fraudgraph.config import SparkConf, load_config
from fraudgraph.lake import Lake, days_between, partition_days, partition_path
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
    channel = rng.choice(4, transactions, p=[0.55, 0.3, 0.1, 0.05])
    channels = pa.array(["mobile", "online", "pos", "atm"])
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
                "channel": channels.take(pa.array(channel[rows])),
            }
        )
        write_day(table, txn_dir, d)
    lake.mark_ingested(C.TRANSACTIONS, days)

    # Accounts snapshot: holders drawn from the subscribers' ID numbers, 70 % bound to a number.
    holder = rng.integers(0, m, accounts)
    bound = rng.integers(0, numbers, accounts)
    table = pa.table(
        {
            "account_id": account_tokens.cast(pa.string()),
            "holder_id_number": pc.if_else(
                pa.array(rng.random(accounts) < 0.1),
                pa.nulls(accounts, pa.large_string()),
                person_tokens.take(pa.array(holder)),
            ).cast(pa.string()),
            "bound_msisdn": pc.if_else(
                pa.array(rng.random(accounts) < 0.3),
                pa.nulls(accounts, pa.large_string()),
                number_tokens.take(pa.array(bound)),
            ).cast(pa.string()),
            "bank_code": pa.array(["B001"] * accounts),
            "open_date": pa.array(
                ((AS_OF - EPOCH).days - rng.integers(0, 3650, accounts)).astype("datetime64[D]")
            ),
            "account_type": pa.array(["personal", "corporate"]).take(
                pa.array((rng.random(accounts) < 0.05).astype(np.int32))
            ),
        }
    )
    write_day(table, lake.clean(C.ACCOUNTS), AS_OF)
    lake.mark_ingested(C.ACCOUNTS, [AS_OF])

    # Labels reported the day before the window: the dialers as fraud, a few busy accounts as mules.
    fraud = np.flatnonzero(dialer)
    mules = np.flatnonzero(busy)[:200]
    n = len(fraud) + len(mules)
    label_day = AS_OF - dt.timedelta(days=WINDOW_DAYS)
    table = pa.table(
        {
            "entity_type": pa.array(["msisdn"] * len(fraud) + ["account"] * len(mules)),
            "entity_id": pa.concat_arrays(
                [
                    number_tokens.take(pa.array(fraud)).cast(pa.string()),
                    account_tokens.take(pa.array(mules)).cast(pa.string()),
                ]
            ),
            "label": pa.array(["fraud"] * len(fraud) + ["mule"] * len(mules)),
            "reported_time": int96_times(np.full(n, (label_day - EPOCH).days * SECONDS_PER_DAY + 12 * 3600)),
            "source": pa.array(["police"] * n),
            "case_id": pa.nulls(n, pa.string()),
        }
    )
    write_day(table, lake.clean(C.LABELS), label_day)
    lake.mark_ingested(C.LABELS, [label_day])


# ------------------------------------------------------------------------------------------- DuckDB

# The per-number aggregates both engines compute: every phone feature, plus the network features
# that are plain aggregations (identity sharing, contacts' degrees, co-targeting).
_NEEDS_LABELS = ("known_fraud_contacts", "callees_hit_by_known_fraud_share")
NETWORK_AGGREGATES = tuple(
    c for c in PHONE_NETWORK_FEATURES[: PHONE_NETWORK_FEATURES.index("co_target_max_overlap") + 1]
    if c not in _NEEDS_LABELS
)
NETWORK_COUNTS = tuple(c for c in NETWORK_AGGREGATES if c in NETWORK_COUNT_FEATURES)


def duckdb_sql(lake: Lake, graph, as_of: dt.date = AS_OF, window_days: int = WINDOW_DAYS) -> str:
    """One query: :data:`PHONE_FEATURES` and :data:`NETWORK_AGGREGATES` per subscriber number active in the window.

    It reads the files Spark's stage reads: the window's partitions of the event feeds and the latest
    snapshot on or before ``as_of`` (a lake of the simulator's world has every day of every feed).
    """
    first = as_of - dt.timedelta(days=window_days - 1)

    def files(feed) -> str:
        present = [d for d in partition_days(lake.clean(feed)) if d <= as_of]
        days = [d for d in present if d >= first] if feed.kind == "event" else present[-1:]
        globs = ", ".join(f"'{partition_path(lake.clean(feed), d)}/*.parquet'" for d in days)
        return f"read_parquet([{globs}])"

    def hours(block: tuple[int, int]) -> str:
        return f"h >= {block[0]} AND h < {block[1]}"

    def ratio(num: str, den: str) -> str:
        return f"CASE WHEN {den} > 0 THEN ({num}) / ({den}) END"

    o = "o.out_calls"
    blocks = ["o.night", "o.work", "o.evening", f"({o} - o.night - o.work - o.evening)"]
    entropy = " + ".join(f"CASE WHEN {b} > 0 THEN -({b} / {o}) * log2({b} / {o}) ELSE 0 END" for b in blocks)
    day0 = f"DATE '{as_of}'"
    local = f"INTERVAL {UTC_OFFSET_S} SECOND"
    return f"""
WITH cw AS (
    SELECT caller, callee, duration_s, caller_imei, CAST(t AS DATE) AS d, hour(t) AS h
    FROM (SELECT *, start_time + {local} AS t FROM {files(C.CALLS)})
    WHERE CAST(t AS DATE) BETWEEN DATE '{first}' AND {day0}
),
cc AS (SELECT * FROM cw WHERE caller IS NOT NULL AND callee IS NOT NULL AND caller <> callee),
out_stats AS (
    SELECT caller AS n, count(*) AS out_calls,
        count(*) FILTER (duration_s > 0) AS answered,
        count(*) FILTER (duration_s > 0 AND duration_s < {SHORT_CALL_S}) AS short,
        count(*) FILTER (duration_s >= {LONG_CALL_S}) AS long,
        coalesce(sum(duration_s), 0) AS dur,
        count(*) FILTER ({hours(NIGHT_HOURS)}) AS night,
        count(*) FILTER ({hours(WORK_HOURS)}) AS work,
        count(*) FILTER ({hours(EVENING_HOURS)}) AS evening,
        count(*) FILTER (isodow(d) IN (6, 7)) AS weekend,
        count(DISTINCT h) AS active_hours,
        count(DISTINCT d) AS out_days
    FROM cc GROUP BY caller
),
max_day AS (SELECT n, max(k) AS max_day FROM (SELECT caller AS n, d, count(*) AS k FROM cc GROUP BY ALL) GROUP BY n),
pairs AS (SELECT caller AS src, callee AS dst, min(d) AS first_d, max(d) AS last_d FROM cc GROUP BY ALL),
out_pairs AS (
    SELECT p.src AS n, count(*) AS out_distinct,
        count(q.src) AS reciprocal,
        count(*) FILTER (p.last_d = {day0}) AS last_day_distinct,
        count(*) FILTER (p.first_d = {day0}) AS new_contacts
    FROM pairs p LEFT JOIN pairs q ON q.src = p.dst AND q.dst = p.src
    GROUP BY p.src
),
in_stats AS (
    SELECT callee AS n, count(*) AS in_calls, count(*) FILTER (duration_s > 0) AS in_answered,
        count(DISTINCT caller) AS in_distinct
    FROM cc GROUP BY callee
),
days AS (SELECT n, count(DISTINCT d) AS active_days FROM (SELECT caller AS n, d FROM cc UNION ALL SELECT callee, d FROM cc) GROUP BY n),
handsets AS (
    SELECT caller AS n, count(DISTINCT caller_imei) AS imeis FROM cw
    WHERE caller IS NOT NULL AND caller_imei IS NOT NULL GROUP BY caller
),
sw AS (
    SELECT sender, receiver, has_url FROM (SELECT *, send_time + {local} AS t FROM {files(C.SMS)})
    WHERE CAST(t AS DATE) BETWEEN DATE '{first}' AND {day0} AND sender IS NOT NULL AND receiver IS NOT NULL
),
sms_out AS (
    SELECT sender AS n, count(*) AS sms_out, count(DISTINCT receiver) AS sms_out_distinct,
        count(*) FILTER (has_url) AS url
    FROM sw GROUP BY sender
),
sms_in AS (SELECT receiver AS n, count(*) AS sms_in FROM sw GROUP BY receiver),
subs AS (SELECT DISTINCT ON (msisdn) * FROM {files(C.SUBSCRIBERS)}),
accts AS (SELECT DISTINCT ON (account_id) * FROM {files(C.ACCOUNTS)}),
-- identity sharing
dev_links AS (SELECT DISTINCT caller AS n, caller_imei AS dev FROM cw WHERE caller IS NOT NULL AND caller_imei IS NOT NULL),
dev_members AS (SELECT dev, count(*) AS k FROM dev_links GROUP BY dev),
devices AS (
    SELECT l.n, sum(m.k - 1) AS shared_device_numbers, max(m.k) AS device_max_numbers
    FROM dev_links l JOIN dev_members m USING (dev) GROUP BY l.n
),
id_numbers AS (SELECT id_number, count(*) AS k FROM subs WHERE id_number IS NOT NULL GROUP BY id_number),
id_accounts AS (
    SELECT holder_id_number AS id_number, count(DISTINCT account_id) AS k FROM accts
    WHERE holder_id_number IS NOT NULL GROUP BY ALL
),
ids AS (
    SELECT s.msisdn AS n, i.k AS id_numbers, a.k AS id_accounts FROM subs s
    JOIN id_numbers i USING (id_number) LEFT JOIN id_accounts a USING (id_number)
),
bound AS (
    SELECT bound_msisdn AS n, count(DISTINCT account_id) AS bound_accounts FROM accts
    WHERE bound_msisdn IS NOT NULL GROUP BY ALL
),
-- contacts' degrees in the undirected call graph (calls to oneself are no contact)
und AS (SELECT DISTINCT a, b FROM (SELECT caller AS a, callee AS b FROM cc UNION ALL SELECT callee, caller FROM cc)),
deg AS (SELECT a AS n, count(*) AS degree FROM und GROUP BY a),
contacts AS (
    SELECT u.a AS n, avg(d.degree) AS contact_mean_degree, max(d.degree) AS contact_max_degree
    FROM und u JOIN deg d ON d.n = u.b GROUP BY u.a
),
-- co-targeting
out_degree AS (SELECT src, count(*) AS k FROM pairs GROUP BY src),
flagged AS (
    SELECT p.src, p.dst, CAST(o.k >= {graph.high_volume_contacts} AS INTEGER) AS hv
    FROM pairs p JOIN out_degree o USING (src)
),
per_callee AS (SELECT dst, sum(hv) AS hv_callers FROM flagged GROUP BY dst),
per_pair AS (SELECT f.src, f.dst, f.hv, c.hv_callers - f.hv AS other_hv, c.hv_callers FROM flagged f JOIN per_callee c USING (dst)),
shares AS (SELECT src AS n, avg(CAST(other_hv > 0 AS DOUBLE)) AS co_target_share FROM per_pair GROUP BY src),
hv AS (SELECT src, dst FROM per_pair WHERE hv = 1 AND hv_callers BETWEEN 2 AND {graph.co_target_max_callers}),
hv_overlaps AS (
    SELECT src AS n, count(*) FILTER (overlap >= {graph.co_target_min_overlap}) AS co_target_callers,
        max(overlap) AS co_target_max_overlap
    FROM (SELECT x.src, y.src AS other, count(*) AS overlap FROM hv x JOIN hv y ON x.dst = y.dst AND x.src <> y.src GROUP BY ALL)
    GROUP BY src
),
active AS (
    SELECT n FROM out_stats UNION SELECT n FROM in_stats UNION SELECT n FROM handsets
    UNION SELECT n FROM sms_out UNION SELECT n FROM sms_in
)
SELECT
    s.msisdn AS entity_token,
    coalesce(o.out_calls, 0) AS out_calls,
    coalesce(op.out_distinct, 0) AS out_distinct,
    {ratio("o.answered", o)} AS out_answer_rate,
    {ratio("o.short", "o.answered")} AS out_short_share,
    coalesce(o.long, 0) AS out_long_calls,
    {ratio("o.dur", "o.answered")} AS out_mean_duration_s,
    {ratio("o.night", o)} AS out_night_share,
    {ratio("o.work", o)} AS out_work_hours_share,
    {ratio("o.evening", o)} AS out_evening_share,
    coalesce(o.active_hours, 0) AS out_active_hours,
    CASE WHEN {o} > 0 THEN {entropy} END AS out_hour_block_entropy,
    coalesce(o.out_days, 0) AS out_active_days,
    coalesce(md.max_day, 0) AS out_max_day_calls,
    {ratio("md.max_day * o.out_days", o)} AS out_day_burstiness,
    {ratio("o.weekend", o)} AS out_weekend_share,
    {ratio("op.reciprocal", "op.out_distinct")} AS out_callback_share,
    {ratio(o, "op.out_distinct")} AS out_calls_per_contact,
    coalesce(op.last_day_distinct, 0) AS out_last_day_distinct,
    {ratio("op.new_contacts", "op.out_distinct")} AS out_new_contact_share,
    coalesce(i.in_calls, 0) AS in_calls,
    coalesce(i.in_distinct, 0) AS in_distinct,
    {ratio("i.in_answered", "i.in_calls")} AS in_answer_rate,
    {ratio("coalesce(i.in_calls, 0)", o)} AS in_out_ratio,
    coalesce(op.reciprocal, 0) AS reciprocal_contacts,
    coalesce(dy.active_days, 0) AS active_days,
    coalesce(hs.imeis, 0) AS imeis,
    coalesce(so.sms_out, 0) AS sms_out,
    coalesce(so.sms_out_distinct, 0) AS sms_out_distinct,
    {ratio("so.url", "so.sms_out")} AS sms_out_url_share,
    coalesce(si.sms_in, 0) AS sms_in,
    datediff('day', s.activation_date, {day0}) AS sim_age_days,
    CAST(s.plan_type = 'prepaid' AS INTEGER) AS is_prepaid,
    CAST(s.status = 'active' AS INTEGER) AS is_active_status,
    coalesce(dv.shared_device_numbers, 0) AS shared_device_numbers,
    coalesce(dv.device_max_numbers, 0) AS device_max_numbers,
    coalesce(ids.id_numbers, 0) AS id_numbers,
    coalesce(ids.id_accounts, 0) AS id_accounts,
    coalesce(b.bound_accounts, 0) AS bound_accounts,
    ct.contact_mean_degree,
    ct.contact_max_degree,
    sh.co_target_share,
    coalesce(ov.co_target_callers, 0) AS co_target_callers,
    coalesce(ov.co_target_max_overlap, 0) AS co_target_max_overlap
FROM subs s
JOIN active a ON a.n = s.msisdn
LEFT JOIN out_stats o ON o.n = s.msisdn
LEFT JOIN max_day md ON md.n = s.msisdn
LEFT JOIN out_pairs op ON op.n = s.msisdn
LEFT JOIN in_stats i ON i.n = s.msisdn
LEFT JOIN days dy ON dy.n = s.msisdn
LEFT JOIN handsets hs ON hs.n = s.msisdn
LEFT JOIN sms_out so ON so.n = s.msisdn
LEFT JOIN sms_in si ON si.n = s.msisdn
LEFT JOIN devices dv ON dv.n = s.msisdn
LEFT JOIN ids ON ids.n = s.msisdn
LEFT JOIN bound b ON b.n = s.msisdn
LEFT JOIN contacts ct ON ct.n = s.msisdn
LEFT JOIN shares sh ON sh.n = s.msisdn
LEFT JOIN hv_overlaps ov ON ov.n = s.msisdn
"""


def duckdb_stage(
    lake: Lake, out: Path, graph, as_of: dt.date = AS_OF, window_days: int = WINDOW_DAYS
) -> dict[str, int]:
    import duckdb

    target = out / "duckdb_phones.parquet"
    with duckdb.connect() as con:
        con.execute(f"SET threads = {os.cpu_count()}")
        con.execute(f"SET temp_directory = '{out / 'duckdb_tmp'}'")
        con.execute(f"COPY ({duckdb_sql(lake, graph, as_of, window_days)}) TO '{target}' (FORMAT parquet)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
    return {"phones": rows}


# -------------------------------------------------------------------------------------------- Spark


def spark_aggregates(
    spark: SparkSession, lake: Lake, out: Path, graph, as_of: dt.date = AS_OF, window_days: int = WINDOW_DAYS
) -> dict[str, int]:
    """The same per-number aggregates as :func:`duckdb_sql`, with the project's Spark code."""
    from features import graphs as G
    from features import network as N
    from features.common import ENTITY
    from features.phones import PHONE_FEATURES, phone_features_of
    from features.window import event_window
    from jobs.features import window_days as days_of

    days = days_of(as_of, window_days)
    calls, sms = lake.read_clean(spark, C.CALLS, days), lake.read_clean(spark, C.SMS, days)
    subscribers = lake.read_clean_snapshot(spark, C.SUBSCRIBERS, as_of)
    accounts = lake.read_clean_snapshot(spark, C.ACCOUNTS, as_of)
    no_seeds = spark.createDataFrame([], f"{N.ID} long")
    window = event_window(calls, sms, as_of=as_of, window_days=window_days)
    # Cached as network_features_of caches them: the identity sharing reads them twice.
    links = G.identity_links(window.handsets, subscribers, accounts).cache()
    identity, _, _ = N._identity(links, graph.max_shared)
    rows = identity
    for part in N._contact_features(window, no_seeds, graph):
        rows = rows.unionByName(part, allowMissingColumns=True)
    network = N._to_tokens(
        rows.where(G.is_kind(N.ID, G.NUMBER)).groupBy(N.ID).agg(*[F.max(c).alias(c) for c in NETWORK_AGGREGATES]),
        subscribers.select("msisdn"),
        G.NUMBER,
    )
    df = (
        phone_features_of(window, subscribers)
        .join(network, on=ENTITY, how="left")
        .fillna(0, subset=list(NETWORK_COUNTS))
        .select(ENTITY, *PHONE_FEATURES, *NETWORK_AGGREGATES)
    )
    target = out / "spark_phones"
    df.write.mode("overwrite").parquet(str(target))
    spark.catalog.clearCache()
    return {"phones": spark.read.parquet(str(target)).count()}


def spark_network_stage(spark: SparkSession, lake: Lake, out: Path, graph) -> dict[str, int]:
    """The whole network-feature stage of ``fraud train``/``fraud score``: both feature tables of a day."""
    from fraudgraph.config import ExposureConf
    from jobs.features import materialise_features

    built = materialise_features(spark, lake, AS_OF, length=WINDOW_DAYS, graph=graph, exposure=ExposureConf())
    return {entity: df.count() for entity, df in built.items()}


STAGES: dict[str, Callable] = {
    "duckdb_aggregates": duckdb_stage,
    "spark_aggregates": spark_aggregates,
    "spark_network_stage": spark_network_stage,
}


# ---------------------------------------------------------------------------------------- measuring


# kcmp(2): do two processes share their address space (KCMP_VM)? Its system call number per architecture.
_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
_KCMP_VM = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
_HAS_SMAPS_ROLLUP = os.path.exists("/proc/self/smaps_rollup")


class PeakRss:
    """Peak memory of this process and its children (the Spark JVM, its Python workers), sampled every 0.2 s.

    Each process counts its proportional set size (``Pss`` in ``/proc/PID/smaps_rollup``): a page shared by
    several processes (PySpark forks its Python workers from one daemon) counts once in all, not once in
    each. The resident set size is the fallback where the kernel has no ``smaps_rollup``.

    ``peak`` is the whole tree's peak; ``parts`` the peak of each kind of process on its own: ``python``
    (this process, the Python driver), ``jvm`` (the Spark JVM: the driver, and in local mode the executors)
    and ``workers`` (every other process: PySpark's Python workers).

    A child that shares its parent's memory is not counted again: the JVM starts a command (without its
    native library, Hadoop's local file system runs ``chmod`` for each file it creates) through a
    ``vfork``-like clone that runs in the JVM's own address space until it executes the command, and its
    ``smaps_rollup`` then shows the whole JVM a second time (a sample catching one doubled the 10M day's
    ingest: 10.0 GiB). Such a child shares its parent's address space (``kcmp``); a forked Python worker
    has its own.
    """

    PARTS = ("python", "jvm", "workers")

    def __init__(self) -> None:
        self.peak = 0
        self.parts = dict.fromkeys(self.PARTS, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _memory(pid: int, rss_pages: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        if _HAS_SMAPS_ROLLUP:
            # Gone since the tree was listed (kcmp then fails too): its listed size may have been a vfork-like
            # child's view of the JVM.
            return 0
        return rss_pages * resource.getpagesize()

    @classmethod
    def _tree(cls) -> dict[str, int]:
        """Memory of this process tree now, by part."""
        me = os.getpid()
        children: dict[int, list[int]] = {}
        stat: dict[int, tuple[str, int, int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    head, tail = f.read().rsplit(")", 1)
                fields = tail.split()
                children.setdefault(int(fields[1]), []).append(int(entry))
                stat[int(entry)] = (head.split("(", 1)[1], int(fields[21]), int(fields[1]))
            except (OSError, IndexError, ValueError):
                continue
        parts, todo = dict.fromkeys(cls.PARTS, 0), [me]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            if pid not in stat or (pid != me and cls._shares_parent_memory(pid, stat)):
                continue
            name, rss_pages, _ = stat[pid]
            part = "python" if pid == me else "jvm" if name == "java" else "workers"
            parts[part] += cls._memory(pid, rss_pages)
        return parts

    @staticmethod
    def _shares_parent_memory(pid: int, stat: dict[int, tuple[str, int, int]]) -> bool:
        """A child still in its parent's address space (``kcmp``; on an architecture without it, never)."""
        parent = stat[pid][2]
        return _KCMP is not None and parent in stat and _LIBC.syscall(_KCMP, pid, parent, _KCMP_VM, 0, 0) == 0

    def _sample(self) -> None:
        parts = self._tree()
        self.peak = max(self.peak, sum(parts.values()))
        self.parts = {k: max(v, parts[k]) for k, v in self.parts.items()}

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def compare(out: Path) -> dict[str, int]:
    """Rows in one output only, and per column the rows whose values differ (relative 1e-9, nulls equal)."""
    import duckdb

    from features.phones import PHONE_FEATURES

    columns = (*PHONE_FEATURES, *NETWORK_AGGREGATES)
    differs = ", ".join(
        f"count(*) FILTER (NOT (s.{c} IS NULL AND d.{c} IS NULL) AND (s.{c} IS NULL OR d.{c} IS NULL "
        f"OR abs(CAST(s.{c} AS DOUBLE) - CAST(d.{c} AS DOUBLE)) > 1e-9 * greatest(1, abs(CAST(d.{c} AS DOUBLE)))))"
        f" AS {c}"
        for c in columns
    )
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{out / 'spark_phones'}/*.parquet')")
        con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{out / 'duckdb_phones.parquet'}')")
        only = con.execute(
            "SELECT count(*) FILTER (s.entity_token IS NULL), count(*) FILTER (d.entity_token IS NULL)"
            " FROM s FULL JOIN d USING (entity_token)"
        ).fetchone()
        row = con.execute(f"SELECT {differs} FROM s JOIN d USING (entity_token)").fetchone()
    result = {"only_duckdb": only[0], "only_spark": only[1]}
    result.update({c: v for c, v in zip(columns, row, strict=True) if v})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--sms", type=int, default=5_000_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None, help="keep the data here and reuse it next time")
    parser.add_argument("--stage", choices=sorted(STAGES), action="append", help="run only these (repeatable)")
    args = parser.parse_args()

    from fraudgraph.spark import build_session

    scratch = args.out or Path(tempfile.mkdtemp(prefix="fg-netbench-"))
    lake = Lake(scratch / "lake")
    stamp = scratch / "dataset.json"
    wanted = {"calls": args.calls, "sms": args.sms, "transactions": args.transactions, "version": DATA_VERSION}
    try:
        if not stamp.exists() or json.loads(stamp.read_text()) != wanted:
            shutil.rmtree(lake.root, ignore_errors=True)
            started = time.perf_counter()
            generate_lake(lake, calls=args.calls, sms=args.sms, transactions=args.transactions, seed=SEED)
            stamp.write_text(json.dumps(wanted))
            print(f"generated the lake in {time.perf_counter() - started:.0f} s", flush=True)
        cfg = load_config()
        spark = build_session(
            SparkConf(
                master=f"local[{multiprocessing.cpu_count()}]",
                app_name="fraudgraph-bench-network",
                shuffle_partitions=cfg.spark.shuffle_partitions,
                driver_memory="8g",
                extra={**cfg.spark.extra, "spark.ui.enabled": "false"},
            )
        )
        results = []
        for name in args.stage or list(STAGES):
            stage = STAGES[name]
            with PeakRss() as rss:
                started = time.perf_counter()
                rows = stage(lake, scratch, cfg.graph) if name.startswith("duckdb") else stage(
                    spark, lake, scratch, cfg.graph
                )
                seconds = time.perf_counter() - started
            results.append({"stage": name, "seconds": round(seconds, 1), "rows": rows, "peak_rss_gb": rss.peak / 2**30})
            print(json.dumps(results[-1]), flush=True)
        spark.stop()
        if (scratch / "spark_phones").exists() and (scratch / "duckdb_phones.parquet").exists():
            print("differences:", json.dumps(compare(scratch)), flush=True)
        by = {r["stage"]: r for r in results}
        print("\n| stage | rows | seconds | peak RSS (GB, process tree) |\n|---|---:|---:|---:|")
        for r in results:
            print(f"| {r['stage']} | {sum(r['rows'].values()):,} | {r['seconds']:.1f} | {r['peak_rss_gb']:.1f} |")
        if "duckdb_aggregates" in by and "spark_aggregates" in by:
            ratio = by["spark_aggregates"]["seconds"] / by["duckdb_aggregates"]["seconds"]
            print(f"\nSpark / DuckDB on the same aggregates: {ratio:.1f}x")
    finally:
        if args.out is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
