"""Turns the world's books and event blocks into the raw feeds of CONTRACT.md.

The writer applies what a feed's owner sees (the operator sees calls and texts
touching its subscribers; the bank sees transfers touching its accounts), the
dirt of real feeds (dirty identifier spellings, a few broken and duplicated
call rows) and writes one Parquet file per feed and day:
``RAW/<feed>/dt=YYYY-MM-DD/part-00000.parquet`` with the schema of
:func:`fraudgraph.contract.arrow_schema`. Every feed gets a file for every
simulated day, empty when nothing happened, so a missing file always means a
missing feed.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraudgraph.contract import CHANNELS, FEEDS, LABEL_ENTITY_TYPES, LABEL_SOURCES, LABEL_VALUES, arrow_schema
from simulator.ids import (
    Spellings,
    account_spellings,
    as_strings,
    fixed_strings,
    id_spellings,
    mobile_spellings,
    null_where,
)
from simulator.population import CITIES, OUR_BANK, PLANS, Population, Source
from simulator.tables import SECONDS_PER_DAY, Block, block_len, sort_by_time

EPOCH = date(1970, 1, 1)
BROKEN_SHARE = 0.001  # null callees, negative durations and duplicated call rows, each
STATUSES = ("active", "suspended", "cancelled")
# The broken rows put nulls where the contract expects values, so these columns
# are written as optional; names and types stay those of the contract.
NULLABLE_BROKEN = {"calls": frozenset({"callee"})}


def day_of(day: int) -> date:
    """The calendar date of a day number (days since 1970-01-01)."""
    return EPOCH + timedelta(days=int(day))


def cents_to_decimal(cents: np.ndarray) -> pa.Array:
    """Int64 cents as decimal(18,2), built from the 128-bit two's complement buffer (exact, no floats)."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.stack([cents, np.where(cents < 0, -1, 0)], axis=1)
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def timestamps(seconds: np.ndarray) -> pa.Array:
    """Seconds since the epoch (local time) as timestamp[us] without a zone."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=pa.timestamp("us"))


def dates(days: np.ndarray) -> pa.Array:
    """Day numbers as date32."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32())


def event_ids(prefix: str, day: int, n: int) -> pa.Array:
    """Ids unique across the window: prefix, the day as YYYYMMDD, a running number."""
    return fixed_strings(f"{prefix}{day_of(day):%Y%m%d}", np.arange(n), 8)


class FeedWriter:
    """Writes the eight raw feeds of one world under ``raw``; counts rows per feed.

    Files are encoded on a small thread pool (Arrow releases the GIL) while the
    next day is generated; :meth:`close` waits for them and re-raises any error.
    Each file's bytes depend only on its table, so threading keeps output identical.
    """

    def __init__(
        self,
        raw: Path,
        pop: Population,
        numbers: Block,
        accounts: Block,
        cases: list[str],
        rng: np.random.Generator,
    ) -> None:
        self.raw = raw
        self.pop = pop
        self.numbers = numbers
        self.accounts = accounts
        self.cases = pa.array(cases, pa.string())
        self.rows = {name: 0 for name in FEEDS}
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._pending: list[Future] = []
        is_mobile = pa.array(numbers["is_mobile"])
        self.number_spellings = Spellings.build(
            [pc.if_else(is_mobile, v, numbers["raw"]) for v in mobile_spellings(numbers["canonical"])]
        )
        self.account_spellings = Spellings.build(account_spellings(accounts["account_id"]))
        self.person_ids = Spellings.build(id_spellings(pop.id_number))
        self.imei = null_where(as_strings(numbers["imei"]), numbers["imei"] == 0)
        self.is_subscriber = numbers["is_subscriber"]
        self.is_ours = accounts["is_ours"]
        # Master data is dirty once (``rng``), not differently every day.
        self.subscribers_all = self._subscriber_columns(rng)
        self.accounts_all = self._account_columns(rng)

    def write(self, feed: str, day: int, cols: dict[str, pa.Array] | pa.Table) -> None:
        """One day's partition of a feed, with the contract's column order and types."""
        schema = arrow_schema(FEEDS[feed])
        relaxed = NULLABLE_BROKEN.get(feed, frozenset())
        schema = pa.schema([f.with_nullable(True) if f.name in relaxed else f for f in schema])
        table = (
            cols
            if isinstance(cols, pa.Table)
            else pa.Table.from_arrays([cols[n] for n in schema.names], schema=schema)
        )
        path = self.raw / feed / f"dt={day_of(day).isoformat()}" / "part-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bound the queue so a fast generator cannot pile up days of tables in memory.
        while len(self._pending) >= 8:
            self._pending.pop(0).result()
        self._pending.append(
            self._pool.submit(
                pq.write_table,
                table.cast(schema),
                path,
                use_dictionary=_dictionary_columns(feed),
            )
        )
        self.rows[feed] += table.num_rows

    def __enter__(self) -> FeedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Waits for every queued file; raises the first write error."""
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pending.clear()
            self._pool.shutdown(wait=True)

    def calls(self, rng: np.random.Generator, day: int, block: Block) -> None:
        """The operator's call records of the day, with dirty spellings and a few broken rows."""
        block = sort_by_time(
            _seen(block, self.is_subscriber[block["caller"]] | self.is_subscriber[block["callee"]])
        )
        n, caller = block_len(block), block["caller"]
        u = rng.random(n)
        callee = np.where(u < BROKEN_SHARE, -1, block["callee"])
        dur = np.where((u >= BROKEN_SHARE) & (u < 2 * BROKEN_SHARE), -rng.integers(1, 60, n), block["dur"])
        # The network knows the device and cell of its own subscribers only; a few records miss the IMEI.
        hour = block["t"] % SECONDS_PER_DAY // 3600
        at_work = (hour >= 9) & (hour < 18) & (rng.random(n) < 0.8)
        cell = np.where(at_work, self.numbers["work_cell"][caller], self.numbers["home_cell"][caller])
        table = pa.Table.from_arrays(
            [
                event_ids("C", day, n),
                self.number_spellings.take(rng, caller),
                self.number_spellings.take(rng, callee),
                timestamps(block["t"]),
                pa.array(dur, pa.int32()),
                null_where(self.imei.take(pa.array(caller)), rng.random(n) < 0.01),
                self.pop.cells.take(pa.array(cell, mask=cell < 0)),
            ],
            names=FEEDS["calls"].column_names,
        )
        duplicated = np.flatnonzero(rng.random(n) < BROKEN_SHARE)
        self.write("calls", day, table.take(np.sort(np.concatenate([np.arange(n), duplicated]))))

    def sms(self, rng: np.random.Generator, day: int, block: Block) -> None:
        """The operator's SMS records of the day."""
        block = sort_by_time(
            _seen(block, self.is_subscriber[block["sender"]] | self.is_subscriber[block["receiver"]])
        )
        n = block_len(block)
        self.write(
            "sms",
            day,
            {
                "sms_id": event_ids("S", day, n),
                "sender": self.number_spellings.take(rng, block["sender"]),
                "receiver": self.number_spellings.take(rng, block["receiver"]),
                "send_time": timestamps(block["t"]),
                "has_url": pa.array(block["has_url"], pa.bool_()),
            },
        )

    def transactions(self, rng: np.random.Generator, day: int, block: Block) -> None:
        """The bank's transfers of the day (a few account ids padded with blanks)."""
        block = sort_by_time(_seen(block, self.is_ours[block["src"]] | self.is_ours[block["dst"]]))
        n = block_len(block)
        self.write(
            "transactions",
            day,
            {
                "txn_id": event_ids("T", day, n),
                "src_account": self.account_spellings.take(rng, block["src"], 0.003),
                "dst_account": self.account_spellings.take(rng, block["dst"], 0.003),
                "amount": cents_to_decimal(block["cents"]),
                "txn_time": timestamps(block["t"]),
                "channel": pa.array(CHANNELS).take(pa.array(block["channel"])),
            },
        )

    def labels(self, rng: np.random.Generator, day: int, block: Block) -> None:
        """Labels reported on the day: raw (possibly dirty) identifiers, case ids where known."""
        is_account = block["etype"] == 1
        entity = block["entity"]
        self.write(
            "labels",
            day,
            {
                "entity_type": pa.array(LABEL_ENTITY_TYPES).take(pa.array(block["etype"])),
                "entity_id": pc.if_else(
                    pa.array(is_account),
                    self.account_spellings.take(rng, np.where(is_account, entity, 0)),
                    self.number_spellings.take(rng, np.where(is_account, 0, entity)),
                ),
                "label": pa.array(LABEL_VALUES).take(pa.array(block["label"])),
                "reported_time": timestamps(block["t"]),
                "source": pa.array(LABEL_SOURCES).take(pa.array(block["source"])),
                "case_id": self.cases.take(pa.array(block["case_ring"], mask=block["case_ring"] < 0)),
            },
        )

    def exposures(self, rng: np.random.Generator, day: int, block: Block) -> None:
        """Leak observations of the day (``source, person, has_msisdn, has_id``)."""
        sources = self.pop.sources
        self.write(
            "exposures",
            day,
            {
                "source_id": pa.array([s.source_id for s in sources]).take(pa.array(block["source"])),
                "msisdn": self.number_spellings.take(rng, np.where(block["has_msisdn"], block["person"], -1)),
                "id_number": self.person_ids.take(rng, np.where(block["has_id"], block["person"], -1), 0.01),
                "fields": pa.array([s.fields for s in sources]).take(pa.array(block["source"])),
                "observed_date": dates(block["t"] // SECONDS_PER_DAY),
            },
        )

    def snapshots(self, day: int, sources: list[Source]) -> None:
        """Full copies of subscribers, accounts and exposure sources as of ``day``."""
        nb = self.numbers
        live = self.is_subscriber & (nb["activation"] <= day)
        status = np.where(nb["suspended_from"] <= day, 1, nb["status"])[live]
        self.write(
            "subscribers",
            day,
            {**_filter(self.subscribers_all, live), "status": pa.array(STATUSES).take(pa.array(status))},
        )
        self.write(
            "accounts", day, _filter(self.accounts_all, self.is_ours & (self.accounts["open_day"] <= day))
        )
        known = [s for s in sources if s.discovered <= day]
        self.write(
            "exposure_sources",
            day,
            {
                "source_id": pa.array([s.source_id for s in known], pa.string()),
                "source_type": pa.array([s.source_type for s in known], pa.string()),
                "name": pa.array([s.name for s in known], pa.string()),
                "discovered_date": dates(np.array([s.discovered for s in known], dtype=np.int64)),
            },
        )

    def _subscriber_columns(self, rng: np.random.Generator) -> dict[str, pa.Array]:
        nb = self.numbers
        n = len(nb["city"])
        city = nb["city"]
        return {
            "msisdn": nb["raw"],
            "id_number": Spellings.build(id_spellings(nb["id_number"])).take(rng, np.arange(n), 0.01),
            "activation_date": dates(nb["activation"]),
            "plan_type": pa.array(PLANS).take(pa.array(nb["plan"])),
            "home_city": pa.array(CITIES).take(pa.array(city, mask=(city < 0) | (rng.random(n) < 0.01))),
        }

    def _account_columns(self, rng: np.random.Generator) -> dict[str, pa.Array]:
        ac = self.accounts
        n = len(ac["open_day"])
        return {
            "account_id": ac["account_id"],
            "holder_id_number": Spellings.build(id_spellings(ac["holder_id"])).take(rng, np.arange(n), 0.01),
            "bound_msisdn": self.number_spellings.take(rng, ac["bound_number"]),
            "bank_code": pa.array(np.full(n, OUR_BANK)),
            "open_date": dates(ac["open_day"]),
            "account_type": pa.array(np.where(ac["is_corporate"], "corporate", "personal")),
        }


def _dictionary_columns(feed: str) -> list[str]:
    """Low-cardinality string columns (codes, cells, names): dictionary encoding pays off only there."""
    f = FEEDS[feed]
    return [
        c.name for c in f.columns if c.type_name == "string" and c.identifier is None and c.name != f.event_id
    ]


def _seen(block: Block, mask: np.ndarray) -> Block:
    return {k: v[mask] for k, v in block.items()}


def _filter(cols: dict[str, pa.Array], mask: np.ndarray) -> dict[str, pa.Array]:
    keep = pa.array(mask)
    return {k: v.filter(keep) for k, v in cols.items()}
