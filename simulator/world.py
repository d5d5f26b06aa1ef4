"""The one entry point: :func:`simulate_world` writes a synthetic fraud world.

Output under ``out``:

- ``raw/<feed>/dt=YYYY-MM-DD/part-00000.parquet``: the eight feeds of
  CONTRACT.md for every simulated day (snapshot feeds as a full copy per day);
- ``truth/``: what the pipeline must never read: ``numbers``, ``accounts``,
  ``rings``, ``victims``, ``sources`` and ``exposure_members`` Parquet files
  with canonical identifiers (CONTRACT.md section 2), and ``world.json``.

The same arguments always give byte-identical files: every random draw comes
from a numpy generator seeded from ``(seed, stream, day)``; nothing depends on
the clock or on dict/set ordering.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.activity import EPOCH, daily_calls, daily_sms, daily_transactions
from simulator.fraud import ANALYST, BY_MSISDN, LEGIT_LABEL, Fraud, build_fraud, label_block
from simulator.population import ACCOUNT_ROLES, ATM, FRAUD, NEVER, NUMBER_ROLES, Population, build_population
from simulator.tables import SECONDS_PER_DAY, Block, day_slice, events, sort_by_time, stack
from simulator.writer import FeedWriter, dates, timestamps

log = logging.getLogger(__name__)

# Independent random streams, so adding draws to one part never shifts another.
(
    STREAM_POPULATION,
    STREAM_FRAUD,
    STREAM_CALLS,
    STREAM_SMS,
    STREAM_TXNS,
    STREAM_WRITE,
    STREAM_LABELS,
    STREAM_MASTER,
) = range(1, 9)


@dataclass(frozen=True)
class WorldSummary:
    """What :func:`simulate_world` wrote: the window, rows per feed and the size of the fraud."""

    start: date
    end: date
    people: int
    days: int
    seed: int
    rows: Mapping[str, int]
    n_subscribers: int
    n_rings: int
    n_fraud_numbers: int
    n_mule_accounts: int
    n_victims: int

    def to_json(self) -> dict:
        """The summary as JSON-ready values (dates as ISO strings)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"start": self.start.isoformat(), "end": self.end.isoformat(), "rows": dict(self.rows)}


def simulate_world(
    out: str | Path, *, people: int, days: int, seed: int, start: date = date(2026, 3, 1)
) -> WorldSummary:
    """Simulates ``people`` people over ``days`` days from ``start`` and writes feeds and truth under ``out``.

    Existing files under ``out`` are overwritten partition by partition (other
    files are left alone). Raises ``ValueError`` for ``people < 100`` or
    ``days < 1`` (a smaller world cannot hold its rings and roles).
    """
    if people < 100 or days < 1:
        raise ValueError(f"need people >= 100 and days >= 1, got people={people}, days={days}")
    out = Path(out)
    clock = time.perf_counter()
    start_day = (start - EPOCH).days
    end_day = start_day + days - 1

    pop = build_population(_rng(seed, STREAM_POPULATION), people, start_day, days)
    fraud = build_fraud(pop, _rng(seed, STREAM_FRAUD), start_day, days)
    numbers, accounts = stack(pop.numbers), stack(pop.accounts)
    numbers["suspended_from"][fraud.suspended["number"]] = fraud.suspended["day"]
    log.info(
        "world built: %d people, %d numbers, %d accounts, %d rings (%.1fs)",
        people,
        len(numbers["role"]),
        len(accounts["role"]),
        len(fraud.rings),
        time.perf_counter() - clock,
    )

    with FeedWriter(
        out / "raw", pop, numbers, accounts, [g.case_id for g in fraud.rings], _rng(seed, STREAM_MASTER)
    ) as writer:
        first_active = np.full(len(numbers["role"]), NEVER)
        last_active = np.full(len(numbers["role"]), -1)
        pending_cents = np.zeros(len(pop.merchant_account), dtype=np.int64)
        for day in range(start_day, end_day + 1):
            k = day - start_day
            day_start = day * SECONDS_PER_DAY
            # Call-backs of late calls may fall after midnight: a day keeps only its own calls.
            calls = stack(
                [
                    day_slice(sort_by_time(daily_calls(pop, _rng(seed, STREAM_CALLS, k), day)), day_start),
                    day_slice(fraud.calls, day_start),
                ]
            )
            sms = stack([daily_sms(pop, _rng(seed, STREAM_SMS, k), day), day_slice(fraud.sms, day_start)])
            txns = stack(
                [
                    daily_transactions(pop, _rng(seed, STREAM_TXNS, k), day, pending_cents),
                    day_slice(fraud.txns, day_start),
                ]
            )
            _mark_active(first_active, last_active, day, calls["caller"], sms["sender"])
            rng = _rng(seed, STREAM_WRITE, k)
            writer.calls(rng, day, calls)
            writer.sms(rng, day, sms)
            writer.transactions(rng, day, txns)
            writer.snapshots(day, pop.sources)
            log.debug(
                "day %s: %d calls, %d sms, %d transactions",
                _date(day),
                len(calls["t"]),
                len(sms["t"]),
                len(txns["t"]),
            )

        rng = _rng(seed, STREAM_LABELS)
        exposures = _exposure_observations(pop, rng, start_day, end_day)
        labels = sort_by_time(stack([fraud.labels, _legit_labels(pop, rng, first_active, end_day)]))
        for day in range(start_day, end_day + 1):
            rng = _rng(seed, STREAM_WRITE, day - start_day, 1)
            writer.exposures(rng, day, day_slice(exposures, day * SECONDS_PER_DAY))
            writer.labels(rng, day, day_slice(labels, day * SECONDS_PER_DAY))

    summary = WorldSummary(
        start=start,
        end=_date(end_day),
        people=people,
        days=days,
        seed=seed,
        rows=MappingProxyType(dict(writer.rows)),
        n_subscribers=int((numbers["is_subscriber"] & (numbers["activation"] <= end_day)).sum()),
        n_rings=len(fraud.rings),
        n_fraud_numbers=int((numbers["role"] == FRAUD).sum()),
        n_mule_accounts=int(sum(len(g.mules_l1) + len(g.mules_l2) for g in fraud.rings)),
        n_victims=len(fraud.victims["person"]),
    )
    _write_truth(out / "truth", pop, fraud, numbers, accounts, first_active, last_active, summary)
    elapsed = time.perf_counter() - clock
    log.info(
        "wrote %d calls in %.1fs (%.0f call rows/s); rows per feed: %s",
        summary.rows["calls"],
        elapsed,
        summary.rows["calls"] / elapsed,
        dict(summary.rows),
    )
    return summary


def _mark_active(first: np.ndarray, last: np.ndarray, day: int, *parties: np.ndarray) -> None:
    """Records ``day`` as a day of activity of every party listed (first and last day per party, in place)."""
    is_active = np.zeros(len(first), dtype=bool)
    for p in parties:
        is_active[p] = True
    first[is_active] = np.minimum(first[is_active], day)
    last[is_active] = day


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _date(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def _exposure_observations(pop: Population, rng: np.random.Generator, start_day: int, end_day: int) -> Block:
    """When each leaked person is seen in each source's data (``source, person, has_msisdn, has_id, t``).

    Most members show up on the day the source is discovered (the first window
    day for sources known before it), the rest trickle in later; some never do.
    Sources discovered after the window have no observations.
    """
    parts = []
    for k, src in enumerate(pop.sources):
        first = max(src.discovered, start_day)
        members = src.members[rng.random(len(src.members)) < 0.85]
        n = len(members)
        if first > end_day or n == 0:
            continue
        day = np.where(rng.random(n) < 0.65, first, rng.integers(first, end_day + 2, n))
        fields = src.fields.split(",")
        # Some records miss the number, but only where the ID number can stand in for it.
        has_msisdn = ("msisdn" in fields) & ((rng.random(n) < 0.95) | ("id_number" not in fields))
        has_id = ("id_number" in fields) & ((rng.random(n) < 0.9) | ~has_msisdn)
        parts.append(
            events(
                source=np.full(n, k),
                person=members,
                has_msisdn=has_msisdn,
                has_id=has_id,
                t=day * SECONDS_PER_DAY,
            )
        )
    return sort_by_time(stack(parts))


def _legit_labels(pop: Population, rng: np.random.Generator, first_active: np.ndarray, end_day: int) -> Block:
    """Analysts clear some heavy legitimate callers (couriers, telemarketers, service lines).

    Each clearance comes a day or more after the number first showed up; numbers
    first active on the last day are never cleared.
    """
    heavy = np.concatenate([pop.couriers, pop.telemarketers, pop.services])
    heavy = heavy[(rng.random(len(heavy)) < 0.4) & (first_active[heavy] < end_day)]
    day = (
        first_active[heavy] + 1 + (rng.random(len(heavy)) * (end_day - first_active[heavy])).astype(np.int64)
    )
    return label_block(
        heavy,
        day * SECONDS_PER_DAY + rng.integers(9 * 3600, 18 * 3600, len(heavy)),
        BY_MSISDN,
        LEGIT_LABEL,
        ANALYST,
    )


def _write_truth(
    truth: Path,
    pop: Population,
    fraud: Fraud,
    numbers: Block,
    accounts: Block,
    first_active: np.ndarray,
    last_active: np.ndarray,
    summary: WorldSummary,
) -> None:
    """Ground truth with canonical identifiers (see module doc); never read by the pipeline.

    ``numbers.first_active``/``last_active`` are the first and last day a number
    called or texted anyone in the world, whether or not the operator saw that
    call (null if it never did). ``victims.loss`` counts every transfer, also
    those after the window. ATM terminals are left out of ``accounts``.
    """
    truth.mkdir(parents=True, exist_ok=True)
    ring_ids = pa.array([g.ring_id for g in fraud.rings], pa.string())

    def ring_of(ring: np.ndarray) -> pa.Array:
        return ring_ids.take(pa.array(ring, mask=ring < 0))

    was_active = first_active < NEVER
    _write(
        truth / "numbers.parquet",
        msisdn=numbers["canonical"],
        role=pa.array(NUMBER_ROLES).take(pa.array(numbers["role"])),
        ring_id=ring_of(numbers["ring"]),
        first_active=pa.array(first_active.astype(np.int32), pa.date32(), mask=~was_active),
        last_active=pa.array(last_active.astype(np.int32), pa.date32(), mask=~was_active),
        imei=pa.array(numbers["imei"].astype(str), mask=numbers["imei"] == 0),
        id_number=numbers["id_number"],
    )
    real = accounts["role"] != ATM  # ATM terminals are transfer counterparties, not accounts
    _write(
        truth / "accounts.parquet",
        account_id=accounts["account_id"].filter(pa.array(real)),
        role=pa.array(ACCOUNT_ROLES).take(pa.array(accounts["role"][real])),
        ring_id=ring_of(accounts["ring"][real]),
    )
    rings = fraud.rings
    _write(
        truth / "rings.parquet",
        ring_id=ring_ids,
        source_id=pa.array([pop.sources[g.source].source_id for g in rings], pa.string()),
        is_overseas=pa.array([g.is_overseas for g in rings], pa.bool_()),
        n_numbers=pa.array([len(g.numbers) for g in rings], pa.int64()),
        n_mules=pa.array([len(g.mules_l1) + len(g.mules_l2) for g in rings], pa.int64()),
        n_collectors=pa.array([len(g.collectors) for g in rings], pa.int64()),
        start_date=dates(np.array([g.start for g in rings], dtype=np.int64)),
        case_id=pa.array([g.case_id for g in rings], pa.string()),
    )
    v = fraud.victims
    _write(
        truth / "victims.parquet",
        msisdn=numbers["canonical"].take(pa.array(v["person"])),
        account_id=accounts["account_id"].take(pa.array(v["person"])),
        ring_id=ring_of(v["ring"]),
        fraud_msisdn=numbers["canonical"].take(pa.array(v["fraud_number"])),
        call_time=timestamps(v["call_t"]),
        loss=pa.array(v["loss_cents"] / 100.0, pa.float64()),
        first_transfer_time=timestamps(v["first_transfer_t"]),
    )
    _write(
        truth / "sources.parquet",
        source_id=pa.array([s.source_id for s in pop.sources], pa.string()),
        source_type=pa.array([s.source_type for s in pop.sources], pa.string()),
        name=pa.array([s.name for s in pop.sources], pa.string()),
        fields=pa.array([s.fields for s in pop.sources], pa.string()),
        discovered_date=dates(np.array([s.discovered for s in pop.sources], dtype=np.int64)),
        n_members=pa.array([len(s.members) for s in pop.sources], pa.int64()),
    )
    member_source = np.concatenate([np.full(len(s.members), k) for k, s in enumerate(pop.sources)])
    member = pa.array(np.concatenate([s.members for s in pop.sources]))
    _write(
        truth / "exposure_members.parquet",
        source_id=pa.array([s.source_id for s in pop.sources]).take(pa.array(member_source)),
        msisdn=numbers["canonical"].take(member),
        id_number=pop.id_number.take(member),
    )
    world = {
        "parameters": {
            "people": summary.people,
            "days": summary.days,
            "seed": summary.seed,
            "start": summary.start.isoformat(),
            "end": summary.end.isoformat(),
        },
        "summary": summary.to_json(),
    }
    (truth / "world.json").write_text(json.dumps(world, indent=2, sort_keys=True) + "\n")


def _write(path: Path, **cols: pa.Array) -> None:
    pq.write_table(pa.table(cols), path)
