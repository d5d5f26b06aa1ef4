"""A small contract-conformant world written from CONTRACT.md alone.

It shares nothing with the simulator or with ``fraudgraph.contract``: the
schemas below are spelled out from the contract's table, and Spark writes the
files (zone-aware timestamps, as a producer on Spark would), so the pipeline
is tested on a feed it did not generate.

The world: friend circles calling each other; couriers making many short
calls; a ring of prepaid SIMs on three shared handsets calling strangers,
whose long calls lead to transfers into mule accounts that forward the money
to a collector. About two thirds of the ring's SIMs and mules get labelled,
two days after they start.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

SCHEMAS = {
    "subscribers": "msisdn string, id_number string, activation_date date, plan_type string, home_city string, status string",
    "calls": "call_id string, caller string, callee string, start_time timestamp, duration_s int, caller_imei string, cell_id string",
    "sms": "sms_id string, sender string, receiver string, send_time timestamp, has_url boolean",
    "accounts": "account_id string, holder_id_number string, bound_msisdn string, bank_code string, open_date date, account_type string",
    "transactions": "txn_id string, src_account string, dst_account string, amount decimal(18,2), txn_time timestamp, channel string",
    "exposures": "source_id string, msisdn string, id_number string, fields string, observed_date date",
    "exposure_sources": "source_id string, source_type string, name string, discovered_date date",
    "labels": "entity_type string, entity_id string, label string, reported_time timestamp, source string, case_id string",
}
SNAPSHOTS = ("subscribers", "accounts", "exposure_sources")
START = dt.date(2026, 5, 1)


@dataclass
class ContractWorld:
    raw: Path
    days: int
    fraud_numbers: set[str] = field(default_factory=set)
    mule_accounts: set[str] = field(default_factory=set)

    @property
    def last_day(self) -> dt.date:
        return START + dt.timedelta(days=self.days - 1)


def _mobile(i: int) -> str:
    return f"139{i:08d}"


def _dirty(number: str, rng: random.Random) -> str:
    style = rng.randrange(6)
    if style == 0:
        return f"+86 {number[:3]}-{number[3:7]}-{number[7:]}"
    if style == 1:
        return "0086" + number
    return number


def write_contract_world(spark: SparkSession, root: Path, *, people: int = 240, days: int = 14, seed: int = 3) -> ContractWorld:
    rng = random.Random(seed)
    world = ContractWorld(root / "raw", days)
    rows: dict[str, dict[dt.date, list[tuple]]] = {name: {} for name in SCHEMAS}

    def add(feed: str, day: dt.date, row: tuple) -> None:
        rows[feed].setdefault(day, []).append(row)

    def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute, rng.randrange(60)))

    people_ids = [_mobile(i) for i in range(people)]
    couriers = [_mobile(people + i) for i in range(4)]
    ring = [_mobile(people + 100 + i) for i in range(30)]
    ring_imeis = [f"35{i:013d}" for i in range(3)]
    ring_ids = ["110105199001011234", "110105199202022345"]
    mules = [f"6222{i:012d}" for i in range(18)]
    collector = "6230000000000001"
    world.fraud_numbers = set(ring)
    world.mule_accounts = set(mules)
    ring_start = {n: i * 11 // len(ring) for i, n in enumerate(ring)}  # days 0..10, live 4 days
    mule_start = {m: i * 11 // len(mules) for i, m in enumerate(mules)}
    call_no = txn_no = 0
    for d in range(days):
        day = START + dt.timedelta(days=d)
        for i, me in enumerate(people_ids):
            circle = [people_ids[(i // 6) * 6 + j] for j in range(6) if (i // 6) * 6 + j < people and (i // 6) * 6 + j != i]
            for _ in range(rng.randint(1, 3)):
                call_no += 1
                peer = rng.choice(circle)
                add("calls", day, (f"c{call_no}", _dirty(me, rng), peer, at(day, rng.randint(8, 21)), rng.randint(30, 900), f"86{i:013d}", "cell-1"))
            if rng.random() < 0.3:
                add("sms", day, (f"s{call_no}", me, rng.choice(circle), at(day, 12), False))
            if rng.random() < 0.1:
                txn_no += 1
                add("transactions", day, (f"t{txn_no}", f"6200{i:012d}", f"6200{people_ids.index(rng.choice(circle)):012d}", Decimal("88.50"), at(day, 19), "mobile"))
        for c, courier in enumerate(couriers):
            for _ in range(40):
                call_no += 1
                add("calls", day, (f"c{call_no}", courier, rng.choice(people_ids), at(day, rng.randint(9, 18)), rng.choice([0, 15, 20, 25, 40]), f"77{c:013d}", "cell-2"))
        for n, number in enumerate(ring):
            if not ring_start[number] <= d < ring_start[number] + 4:
                continue
            for _ in range(30):
                call_no += 1
                victim = rng.randrange(people)
                long_call = rng.random() < 0.04
                duration = rng.randint(900, 2400) if long_call else rng.choice([0, 0, 0, 0, 8, 12])
                add("calls", day, (f"c{call_no}", number, people_ids[victim], at(day, rng.randint(9, 20)), duration, ring_imeis[n % 3], None))
                if long_call:
                    mule = rng.choice([m for m in mules if mule_start[m] <= d < mule_start[m] + 4] or mules)
                    txn_no += 1
                    add("transactions", day, (f"t{txn_no}", f"6200{victim:012d}", mule, Decimal("20000.00"), at(day, 21), "mobile"))
                    txn_no += 1
                    add("transactions", day, (f"t{txn_no}", mule, collector, Decimal("19600.00"), at(day, 22), "online"))
                    txn_no += 1
                    add("transactions", day, (f"t{txn_no}", collector, f"9999{txn_no:012d}", Decimal("19000.00"), at(day, 23), "atm"))
        for number in ring:
            if ring_start[number] + 2 == d and int(number[-2:]) % 3 != 0:
                add("labels", day, ("msisdn", _dirty(number, rng), "fraud", at(day, 10), "operator", None))
        for mule in mules:
            if mule_start[mule] + 2 == d and int(mule[-3:]) % 3 != 0:
                add("labels", day, ("account", mule, "mule", at(day, 11), "bank", None))
        # Snapshots: every subscriber and account known on that day.
        for i, me in enumerate(people_ids + couriers):
            add("subscribers", day, (me, f"11010519800101{i:04d}"[:17] + "X", START - dt.timedelta(days=800), "postpaid", "Chengdu", "active"))
            if i < people:
                add("accounts", day, (f"6200{i:012d}", None, me, "B01", START - dt.timedelta(days=900), "personal"))
        for n, number in enumerate(ring):
            if ring_start[number] <= d:
                add("subscribers", day, (number, ring_ids[n % 2], START + dt.timedelta(days=ring_start[number]), "prepaid", "Chengdu", "active"))
        for mule in mules:
            if mule_start[mule] <= d:
                add("accounts", day, (mule, ring_ids[0], None, "B02", START + dt.timedelta(days=mule_start[mule] - 3), "personal"))
        add("accounts", day, (collector, ring_ids[1], None, "B03", START - dt.timedelta(days=30), "personal"))
        add("exposure_sources", day, ("src-1", "breach", "courier waybills", START))
        add("exposures", day, ("src-1", people_ids[d], None, "name,msisdn,address", day))

    write_feeds(spark, world.raw, rows)
    return world


def write_feeds(spark: SparkSession, raw: Path, rows: dict[str, dict[dt.date, list[tuple]]]) -> None:
    """Write rows (feed -> day -> tuples in contract column order) as ``raw/<feed>/dt=<day>/`` Parquet."""
    for feed, by_day in rows.items():
        flat = [(*row, day.isoformat()) for day, feed_rows in by_day.items() for row in feed_rows]
        # Python datetimes are wall-clock times; build them as such, then store
        # zone-aware timestamps the way a Spark producer in China time would.
        df = spark.createDataFrame(flat, SCHEMAS[feed].replace("timestamp", "timestamp_ntz") + ", dt string")
        df = df.select([F.col(c).cast("timestamp").alias(c) if t == "timestamp_ntz" else F.col(c) for c, t in df.dtypes])
        df.repartition(1, "dt").write.mode("overwrite").partitionBy("dt").parquet(str(raw / feed))


def mini_rows(
    days: int, *, calls_per_day: int = 30, start: dt.date = START, feeds: tuple[str, ...] | None = None
) -> dict[str, dict[dt.date, list[tuple]]]:
    """A few valid rows of every feed (or of ``feeds`` only) for each of ``days`` days: the smallest world
    ingestion accepts. Ingestion skips a feed with no partition, so a test that needs two feeds pays for two."""
    rows: dict[str, dict[dt.date, list[tuple]]] = {name: {} for name in SCHEMAS}
    for d in range(days):
        day = start + dt.timedelta(days=d)
        noon = dt.datetime.combine(day, dt.time(12))
        rows["subscribers"][day] = [
            (_mobile(i), "11010519491231002X", dt.date(2020, 1, 1), "postpaid", "Chengdu", "active") for i in range(5)
        ]
        rows["calls"][day] = [
            (f"c{d}-{i}", _mobile(i % 5), _mobile((i + 1) % 5), noon + dt.timedelta(minutes=i), 30 + i, "490154203237518", None)
            for i in range(calls_per_day)
        ]
        rows["sms"][day] = [(f"s{d}-{i}", _mobile(i), _mobile(i + 1), noon, False) for i in range(3)]
        rows["accounts"][day] = [(f"62000000000{i}", None, _mobile(i), "B01", dt.date(2020, 1, 1), "personal") for i in range(3)]
        rows["transactions"][day] = [(f"t{d}-{i}", "620000000000", "620000000001", Decimal("10.00"), noon, "mobile") for i in range(3)]
        rows["exposures"][day] = [("src-1", _mobile(d % 5), None, "name,msisdn", day)]
        rows["exposure_sources"][day] = [("src-1", "breach", "courier waybills", START)]
        rows["labels"][day] = [("msisdn", _mobile(d % 5), "legit", noon, "analyst", None)]
    return rows if feeds is None else {name: rows[name] for name in feeds}
