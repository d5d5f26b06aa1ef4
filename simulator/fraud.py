"""Fraud rings: burner SIMs, overseas lines, victims, mule chains and the labels they earn.

:func:`build_fraud` appends the rings' numbers and mule accounts to the
population's books and returns every fraud event over the whole window at once
(calls, sms, transactions sorted by time; labels), because a ring's activity
spans days: a victim pays hours after the call, a label arrives days later.
Loops run per ring; the events of a ring are drawn vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fraudgraph.contract import LABEL_ENTITY_TYPES, LABEL_SOURCES, LABEL_VALUES
from simulator.activity import (
    CHANNEL_ATM,
    CHANNEL_COUNTER,
    CHANNEL_MOBILE,
    CHANNEL_ONLINE,
    callbacks,
    dial,
    hours_to_times,
)
from simulator.ids import as_strings, concat_strings, draw_unique, id_numbers, imeis
from simulator.population import (
    CITIES,
    COLLECTOR,
    FRAUD,
    MULE_L1,
    MULE_L2,
    OPERATOR_PREFIXES,
    RURAL_AREAS,
    STATUS_ACTIVE,
    WORK_HOURS,
    Population,
    account_block,
    number_block,
)
from simulator.tables import SECONDS_PER_DAY, Block, events, sort_by_time, stack

# Overseas lines: Cambodian (+855, 8 national digits) and Philippine (+63 9xx, 10 national digits) mobiles.
OVERSEAS_LINES = (
    (np.array([85510, 85512, 85515, 85597]), 6),
    (np.array([639170, 639180, 639200, 639980]), 6),
)
MULE_OUR_BINS = np.array([621486])  # a newer card series of our bank: mules' accounts are recent
MULE_OTHER_BINS = np.array([6230, 6212])
CHEAP_PHONE_TACS = np.array([86725103, 86937004, 35617309])

# Label codes: indices into the contract's value lists, which the writer maps back.
BY_MSISDN, BY_ACCOUNT = (LABEL_ENTITY_TYPES.index(k) for k in ("msisdn", "account"))
FRAUD_LABEL, MULE_LABEL, VICTIM_LABEL, LEGIT_LABEL = (
    LABEL_VALUES.index(k) for k in ("fraud", "mule", "victim", "legit")
)
POLICE, BANK, OPERATOR, ANALYST = (LABEL_SOURCES.index(k) for k in ("police", "bank", "operator", "analyst"))


@dataclass
class Ring:
    """One ring and the parties it runs (indices into the population's books)."""

    ring_id: str
    source: int
    is_overseas: bool
    start: int  # day number
    case_id: str
    numbers: np.ndarray
    mules_l1: np.ndarray
    mules_l2: np.ndarray
    collectors: np.ndarray


@dataclass
class Fraud:
    """Every fraud event of the window; the books already hold the rings' parties."""

    rings: list[Ring]
    calls: Block
    sms: Block
    txns: Block
    labels: Block
    victims: Block  # person, ring, fraud_number, call_t, first_transfer_t, loss_cents
    suspended: Block  # number, day: reported SIMs are cut off from that day on


def pick_from(rng: np.random.Generator, pools: list[np.ndarray], which: np.ndarray) -> np.ndarray:
    """A uniform member of ``pools[which[i]]`` for each i (pools must be non-empty)."""
    width = max(len(p) for p in pools)
    table = np.stack([np.resize(p, width) for p in pools])
    sizes = np.array([len(p) for p in pools])
    return table[which, (rng.random(len(which)) * sizes[which]).astype(np.int64)]


def _sim_plan(
    rng: np.random.Generator, n_lines: int, start: int, end: int, life: tuple[int, int]
) -> np.ndarray:
    """(line, first_day, last_day) rows: each line replaces its SIM when it burns out."""
    rows = []
    for line in range(n_lines):
        day = start + int(rng.integers(0, 2))
        while day < end:
            span = int(rng.integers(*life))
            rows.append((line, day, min(day + span, end) - 1))
            day += span
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def build_fraud(pop: Population, rng: np.random.Generator, start_day: int, days: int) -> Fraud:
    """Rings exploiting leak sources; returns their events and labels (see module doc)."""
    end_day = start_day + days
    n_rings = max(3, pop.n_people // 1500)
    callable_sources = [k for k, s in enumerate(pop.sources) if s.has_msisdn]
    source_order = rng.permutation(callable_sources)
    taken = np.asarray(pa.array(pop.numbers[0]["canonical"]).cast(pa.int64()))
    rings: list[Ring] = []
    call_parts, sms_parts, victim_parts = [], [], []
    for r in range(n_rings):
        is_overseas = r % 3 == 2
        start = start_day + int(rng.integers(0, max(1, days // 3)))
        source = int(source_order[r % len(source_order)])
        plan = _sim_plan(rng, int(rng.integers(2, 5)), start, end_day, (1, 4) if is_overseas else (2, 12))
        numbers, values = _add_ring_numbers(pop, rng, r, plan, is_overseas, taken)
        taken = np.concatenate([taken, values])
        calls, sms, victims = _ring_activity(
            pop, rng, r, plan, numbers, pop.sources[source].members, is_overseas
        )
        call_parts.append(calls)
        sms_parts.append(sms)
        victim_parts.append(victims)
        l1, l2, coll = _add_mules(pop, rng, r, start, numbers, is_overseas)
        area = int(rng.choice(RURAL_AREAS))
        rings.append(
            Ring(f"R{r + 1:03d}", source, is_overseas, start, f"A{area}{r + 1:05d}", numbers, l1, l2, coll)
        )

    victims = _pick_victims(pop, rng, stack(victim_parts))
    txns = _money_flows(pop, rng, rings, victims)
    calls = sort_by_time(stack(call_parts))
    labels, suspended = _fraud_labels(rng, pop, rings, calls, txns, victims)
    return Fraud(rings, calls, sort_by_time(stack(sms_parts)), txns, labels, victims, suspended)


def _add_ring_numbers(
    pop: Population, rng: np.random.Generator, r: int, plan: np.ndarray, is_overseas: bool, taken: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ring's numbers as (book indices, int values).

    Domestic rings buy prepaid SIMs registered to a few bought IDs and run them
    on fewer phones than lines; overseas rings call from foreign numbers the
    operator knows nothing about (no IMEI, no ID, not subscribers).
    """
    n = len(plan)
    common = {"role": np.full(n, FRAUD), "ring": np.full(n, r)}
    if is_overseas:
        prefixes, suffix_digits = OVERSEAS_LINES[r % 2]
        value = draw_unique(rng, n, prefixes, suffix_digits, taken)
        canonical = as_strings(value)
        return pop.add_numbers(
            number_block(canonical, raw=concat_strings("+", canonical), is_mobile=np.full(n, False), **common)
        ), value
    lines = int(plan[:, 0].max()) + 1
    n_devices = max(1, lines - 1)
    device = np.where(rng.random(n) < 0.25, rng.integers(0, n_devices, n), plan[:, 0] % n_devices)
    n_ids = int(rng.integers(2, 4))
    bought = _bought_ids(rng, n_ids, plan[0, 1])
    city = int(rng.integers(len(CITIES)))
    cells = city * (len(pop.cells) // len(CITIES)) + rng.integers(0, len(pop.cells) // len(CITIES), 2)
    value = draw_unique(rng, n, OPERATOR_PREFIXES, 8, taken)
    idx = pop.add_numbers(
        number_block(
            as_strings(value),
            is_subscriber=np.full(n, True),
            imei=imeis(rng, n_devices, CHEAP_PHONE_TACS, np.empty(0, np.int64))[device],
            id_number=bought.take(pa.array(rng.integers(0, n_ids, n))),
            # Mostly bought just before first use (same day up to two days earlier);
            # some are aged real-name SIMs rented from their owners, some postpaid.
            activation=plan[:, 1] - np.where(rng.random(n) < 0.3, rng.integers(30, 400, n), rng.integers(0, 3, n)),
            plan=np.where(rng.random(n) < 0.25, 1, 0),
            city=np.full(n, city),
            home_cell=np.full(n, cells[0]),
            work_cell=np.full(n, cells[1]),
            status=np.full(n, STATUS_ACTIVE),
            **common,
        )
    )
    return idx, value


def _bought_ids(rng: np.random.Generator, k: int, day: int) -> pa.Array:
    """ID numbers bought or rented from rural adults aged 20-55."""
    birth = (np.datetime64(int(day), "D") - rng.integers(20 * 365, 55 * 365, k)).astype("datetime64[D]")
    return id_numbers(rng.choice(RURAL_AREAS, k), birth, rng.integers(0, 1000, k))


def _ring_activity(
    pop: Population,
    rng: np.random.Generator,
    r: int,
    plan: np.ndarray,
    numbers: np.ndarray,
    members: np.ndarray,
    is_overseas: bool,
) -> tuple[Block, Block, Block]:
    """Calls (with call-backs), smishing SMS and victim candidates of one ring."""
    lines = int(plan[:, 0].max()) + 1
    span = plan[:, 2] - plan[:, 1] + 1
    sim = np.repeat(np.arange(len(plan)), span)
    day = plan[sim, 1] + (np.arange(len(sim)) - np.repeat(np.cumsum(span) - span, span))
    rate = np.clip(0.25 * len(members) / lines, 25, 160)
    # Lines differ: some dial hard, some stay under the radar of volume rules.
    # Domestic rings also run hotlines, the numbers their smishing SMS ask
    # victims to call: they mostly receive calls, as a service line does.
    is_hotline = ~is_overseas & (rng.random(len(plan)) < 0.3)
    per_day = rng.poisson(rate * rng.lognormal(-0.3, 0.7, len(plan))[sim] * np.where(is_hotline[sim], 0.05, 1.0))
    caller = numbers[np.repeat(sim, per_day)]
    t = hours_to_times(rng, np.repeat(day, per_day), WORK_HOURS)
    n = len(t)
    # Most calls go down the leaked list; the rest are dialled at random.
    callee = np.where(
        rng.random(n) < 0.82, members[rng.integers(0, len(members), n)], rng.integers(0, pop.n_people, n)
    )
    calls = dial(rng, caller, callee, t, rng.uniform(0.15, 0.45), 25, 0.8, 400)
    # A small share of answered calls becomes a long pitch: the hook that makes victims.
    is_long = (calls["dur"] > 0) & (rng.random(n) < rng.uniform(0.015, 0.03))
    calls["dur"] = np.where(is_long, rng.integers(600, 2700, n), calls["dur"])
    dur = calls["dur"]
    # Some people call back a missed call; fewer bother with a foreign number.
    calls = stack([calls, callbacks(rng, calls, 0.005 if is_overseas else 0.06, 0.5, 15, 6 * 3600)])
    in_per_day = rng.poisson(np.where(is_hotline[sim], rng.uniform(8, 30), 0.0))
    in_t = hours_to_times(rng, np.repeat(day, in_per_day), WORK_HOURS)
    inbound = dial(rng, members[rng.integers(0, len(members), len(in_t))], numbers[np.repeat(sim, in_per_day)], in_t, 0.9, 150, 0.8, 3600)
    is_long_in = (inbound["dur"] > 0) & (rng.random(len(in_t)) < 0.05)
    inbound["dur"] = np.where(is_long_in, rng.integers(600, 2700, len(in_t)), inbound["dur"])
    calls = stack([calls, inbound])
    victims = events(
        person=np.concatenate([callee[is_long], inbound["caller"][is_long_in]]),
        ring=np.full(int(is_long.sum() + is_long_in.sum()), r),
        fraud_number=np.concatenate([caller[is_long], inbound["callee"][is_long_in]]),
        call_t=np.concatenate([t[is_long], in_t[is_long_in]]),
        dur=np.concatenate([dur[is_long], inbound["dur"][is_long_in]]),
    )

    sms = events(sender=[], receiver=[], t=[], has_url=np.empty(0, bool))
    if not is_overseas:
        # A burner is an ordinary line to the operator: it gets its welcome and
        # balance notices from the service lines like any other.
        notices = rng.poisson(0.7, len(sim))
        k = int(notices.sum())
        sms = events(
            sender=pop.services[rng.integers(0, len(pop.services), k)],
            receiver=numbers[np.repeat(sim, notices)],
            t=hours_to_times(rng, np.repeat(day, notices), WORK_HOURS),
            has_url=rng.random(k) < 0.2,
        )
    if not is_overseas and rng.random() < 0.6:
        per_day = rng.poisson(20, len(sim))
        k = int(per_day.sum())
        smishing = events(
            sender=numbers[np.repeat(sim, per_day)],
            receiver=members[rng.integers(0, len(members), k)],
            t=hours_to_times(rng, np.repeat(day, per_day), WORK_HOURS),
            has_url=rng.random(k) < rng.uniform(0.3, 0.9),
        )
        sms = stack([sms, smishing])
    return calls, sms, victims


def _add_mules(
    pop: Population, rng: np.random.Generator, r: int, start: int, numbers: np.ndarray, is_overseas: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First- and second-layer mule accounts and collectors, opened shortly before the ring starts."""
    n_l1, n_l2, n_coll = int(rng.integers(3, 7)), int(rng.integers(2, 5)), int(rng.integers(1, 3))
    n = n_l1 + n_l2 + n_coll
    layer = np.repeat([MULE_L1, MULE_L2, COLLECTOR], [n_l1, n_l2, n_coll])
    # First-layer mules bank with us (that is how victims reach them); later layers often elsewhere.
    p_ours = np.select([layer == MULE_L1, layer == MULE_L2], [1.0, 0.7], 0.2)
    is_ours = rng.random(n) < p_ours
    empty = np.empty(0, np.int64)
    value = np.where(
        is_ours,
        draw_unique(rng, n, MULE_OUR_BINS, 10, empty),
        draw_unique(rng, n, MULE_OTHER_BINS, 15, empty),
    )
    # Holders are the ring's bought identities, shared across its accounts.
    holders = _bought_ids(rng, int(rng.integers(2, 4)), start)
    ring_sims = numbers if not is_overseas else np.full(1, -1)
    bound = np.where(rng.random(n) < 0.6, ring_sims[rng.integers(0, len(ring_sims), n)], -1)
    idx = pop.add_accounts(
        account_block(
            as_strings(value),
            is_ours=is_ours,
            role=layer,
            ring=np.full(n, r),
            holder_id=holders.take(pa.array(rng.integers(0, len(holders), n))),
            bound_number=bound,
            # Fresh accounts opened for the job, or (about 40 %) old accounts bought
            # or rented from their holders, as in most "two cards" cases.
            open_day=start - np.where(rng.random(n) < 0.4, rng.integers(100, 2000, n), rng.integers(5, 60, n)),
        )
    )
    return idx[layer == MULE_L1], idx[layer == MULE_L2], idx[layer == COLLECTOR]


def _pick_victims(pop: Population, rng: np.random.Generator, candidates: Block) -> Block:
    """Long calls that turn into a loss: a share of them, each person a victim at most once."""
    candidates = sort_by_time(candidates, "call_t")
    hooked = (rng.random(len(candidates["person"])) < 0.4) & (pop.age[candidates["person"]] >= 16)
    candidates = {k: v[hooked] for k, v in candidates.items()}
    _, first = np.unique(candidates["person"], return_index=True)
    return {k: v[np.sort(first)] for k, v in candidates.items()}


def _money_flows(pop: Population, rng: np.random.Generator, rings: list[Ring], victims: Block) -> Block:
    """Victims pay first-layer mules within hours; each layer passes on 90%+ within minutes to hours."""
    nv = len(victims["person"])
    n_tx = rng.integers(1, 4, nv)
    v = np.repeat(np.arange(nv), n_tx)
    steps = rng.uniform(300, 5400, len(v))
    is_first = np.arange(len(v)) == np.repeat(np.cumsum(n_tx) - n_tx, n_tx)
    steps[is_first] = rng.uniform(600, 3 * 3600, int(is_first.sum()))
    done = np.cumsum(steps)
    t = (
        victims["call_t"][v]
        + victims["dur"][v]
        + (done - np.repeat(done[is_first] - steps[is_first], n_tx)).astype(np.int64)
    )
    cny = np.exp(rng.uniform(np.log(3000), np.log(50000), len(v)))
    cents = np.where(rng.random(len(v)) < 0.6, np.round(cny / 100) * 10_000, np.round(cny * 100)).astype(
        np.int64
    )
    ring = victims["ring"][v]
    paid = events(
        src=victims["person"][v],
        dst=pick_from(rng, [g.mules_l1 for g in rings], ring),
        cents=cents,
        t=t,
        channel=rng.choice([CHANNEL_MOBILE, CHANNEL_ONLINE, CHANNEL_COUNTER], len(v), p=[0.6, 0.3, 0.1]),
        ring=ring,
    )
    victims["first_transfer_t"] = t[is_first]
    victims["loss_cents"] = np.bincount(v, weights=cents, minlength=nv).astype(np.int64)
    layer2 = _forward(
        rng,
        paid,
        [g.mules_l2 for g in rings],
        pop.atms,
        p_atm=0.25,
        delay_s=2400,
        frac=(0.92, 0.995),
        chunks=2,
    )
    to_l2 = {k: val[layer2["channel"] != CHANNEL_ATM] for k, val in layer2.items()}
    layer3 = _forward(
        rng,
        to_l2,
        [g.collectors for g in rings],
        pop.atms,
        p_atm=0.3,
        delay_s=3600,
        frac=(0.95, 0.995),
        chunks=1,
    )
    flows = sort_by_time(stack([paid, layer2, layer3]))
    del flows["ring"]  # only needed to route money within the ring
    return flows


def _forward(
    rng: np.random.Generator,
    inflow: Block,
    next_layer: list[np.ndarray],
    atms: np.ndarray,
    *,
    p_atm: float,
    delay_s: float,
    frac: tuple[float, float],
    chunks: int,
) -> Block:
    """Each inflow passed on in 1..``chunks`` parts totalling ``frac`` of it, after exponential delays.

    Parts go to the ring's next layer or, with ``p_atm``, out of an ATM in whole
    hundreds (so cash-outs sit a little under the forwarded share).
    """
    n = len(inflow["src"])
    parts = rng.integers(1, chunks + 1, n)
    i = np.repeat(np.arange(n), parts)
    share = rng.uniform(0.3, 0.7, n)
    is_first = np.arange(len(i)) == np.repeat(np.cumsum(parts) - parts, parts)
    weight = np.where(parts[i] == 1, 1.0, np.where(is_first, share[i], 1 - share[i]))
    cents = np.floor(inflow["cents"][i] * rng.uniform(*frac, n)[i] * weight).astype(np.int64)
    is_atm = rng.random(len(i)) < p_atm
    cents = np.where(is_atm, cents // 10_000 * 10_000, cents)
    delay = (
        120 + rng.exponential(delay_s, len(i)) + np.where(is_first, 0, rng.exponential(delay_s / 2, len(i)))
    )
    return events(
        src=inflow["dst"][i],
        dst=np.where(
            is_atm, atms[rng.integers(0, len(atms), len(i))], pick_from(rng, next_layer, inflow["ring"][i])
        ),
        cents=cents,
        t=inflow["t"][i] + delay.astype(np.int64),
        channel=np.where(is_atm, CHANNEL_ATM, rng.choice([CHANNEL_MOBILE, CHANNEL_ONLINE], len(i))),
        ring=inflow["ring"][i],
    )


def first_times(entity: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
    """Earliest ``t`` per entity index (int64 max where an entity has none)."""
    out = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(out, entity, t)
    return out


def _report(
    rng: np.random.Generator, first_t: np.ndarray, share: float, delay_days: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Which entities get reported (``share`` of those active) and when: days after their first activity."""
    is_reported = (first_t < np.iinfo(np.int64).max) & (rng.random(len(first_t)) < share)
    return is_reported, first_t + (rng.uniform(*delay_days, len(first_t)) * SECONDS_PER_DAY).astype(np.int64)


def label_block(
    entity: np.ndarray,
    t: np.ndarray,
    etype: int,
    label: int,
    source: int | np.ndarray,
    case_ring: np.ndarray | None = None,
) -> Block:
    """A label block (``etype, entity, label, t, source, case_ring``; case_ring -1 = no case id)."""
    n = len(entity)
    case_ring = np.full(n, -1) if case_ring is None else case_ring
    return events(
        etype=np.full(n, etype),
        entity=entity,
        label=np.full(n, label),
        t=t,
        source=np.broadcast_to(source, n),
        case_ring=case_ring,
    )


def _fraud_labels(
    rng: np.random.Generator, pop: Population, rings: list[Ring], calls: Block, txns: Block, victims: Block
) -> tuple[Block, Block]:
    """Late, partial labels of fraud numbers, mules and victims, and the suspension of reported numbers."""
    numbers = np.concatenate([g.numbers for g in rings])
    number_ring = np.concatenate([np.full(len(g.numbers), k) for k, g in enumerate(rings)])
    first_call = first_times(calls["caller"], calls["t"], pop.n_numbers())[numbers]
    is_rep, when = _report(rng, first_call, 0.6, (1, 7))
    by_police = rng.random(len(numbers)) < 0.45
    suspended = events(number=numbers[is_rep], day=when[is_rep] // SECONDS_PER_DAY + 1)

    mules = np.concatenate([np.concatenate([g.mules_l1, g.mules_l2]) for g in rings])
    ours = np.concatenate([b["is_ours"] for b in pop.accounts])
    mule_rep, mule_when = _report(
        rng, first_times(txns["dst"], txns["t"], pop.n_accounts())[mules], 0.6, (1, 7)
    )
    mule_rep &= ours[mules]

    vic_rep, vic_when = _report(rng, victims["first_transfer_t"], 0.7, (1, 4))
    # Police reports usually name the case; operator and bank reports do not.
    number_case = np.where((rng.random(len(numbers)) < 0.7) & by_police, number_ring, -1)
    victim_case = np.where(rng.random(len(vic_rep)) < 0.7, victims["ring"], -1)
    parts = [
        label_block(
            numbers[is_rep],
            when[is_rep],
            BY_MSISDN,
            FRAUD_LABEL,
            np.where(by_police, POLICE, OPERATOR)[is_rep],
            number_case[is_rep],
        ),
        label_block(mules[mule_rep], mule_when[mule_rep], BY_ACCOUNT, MULE_LABEL, BANK),
        label_block(
            victims["person"][vic_rep],
            vic_when[vic_rep],
            BY_MSISDN,
            VICTIM_LABEL,
            POLICE,
            victim_case[vic_rep],
        ),
    ]
    return stack(parts), suspended
