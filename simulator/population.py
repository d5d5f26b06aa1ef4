"""The ordinary world: people, their circles, numbers, devices, bank accounts and leaks.

:func:`build_population` returns a :class:`Population` holding two entity books,
``numbers`` (every party that can call or text: people, service lines, IoT SIMs;
the fraud module appends its numbers) and ``accounts`` (personal, corporate,
merchant accounts and ATM terminals; the fraud module appends mules), plus
circles (family and friend groups as CSR adjacency), hard-negative roles and
the leak sources with their members.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulator.ids import as_strings, concat_strings, draw_unique, id_numbers, imeis, null_where
from simulator.tables import Block

NUMBER_ROLES = ("normal", "courier", "telemarketer", "service", "merchant_owner", "fraud")
ACCOUNT_ROLES = ("normal", "merchant", "corporate", "mule_l1", "mule_l2", "collector", "atm")
# Role codes: indices into the tuples above.
NORMAL, COURIER, TELEMARKETER, SERVICE, MERCHANT_OWNER, FRAUD = range(len(NUMBER_ROLES))
PERSONAL, MERCHANT, CORPORATE, MULE_L1, MULE_L2, COLLECTOR, ATM = range(len(ACCOUNT_ROLES))
PLANS = ("prepaid", "postpaid", "iot")
STATUS_ACTIVE, STATUS_SUSPENDED = 0, 1
NEVER = np.iinfo(np.int64).max // 2

CITIES = ("Shenzhen", "Guangzhou", "Shanghai", "Beijing", "Hangzhou", "Chengdu", "Wuhan", "Nanjing")
CITY_WEIGHTS = np.array([0.18, 0.15, 0.17, 0.15, 0.1, 0.1, 0.08, 0.07])
CITY_AREAS = np.array([440305, 440106, 310104, 110105, 330106, 510107, 420106, 320102])
# Birthplaces of migrants and of the rural people whose IDs rings buy.
RURAL_AREAS = np.array([411324, 430521, 360124, 522422, 450821, 341221, 513922, 431224])
# The operator's own prefixes versus other operators' (so a prefix hints at, but never proves, membership).
OPERATOR_PREFIXES = np.array(
    [
        134,
        135,
        136,
        137,
        138,
        139,
        147,
        150,
        151,
        152,
        157,
        158,
        159,
        172,
        178,
        182,
        183,
        184,
        187,
        188,
        195,
        198,
    ]
)
OTHER_PREFIXES = np.array(
    [130, 131, 132, 155, 156, 166, 175, 176, 185, 186, 133, 149, 153, 173, 177, 180, 181, 189, 191, 199]
)
PHONE_TACS = np.array([35391110, 35328211, 86769004, 86891303, 35925406, 86453305, 35846710, 86006505])
OUR_BANK = "308"

# (name, type, fields, share of the population, skew, discovered relative to start: days or fraction of the window)
SOURCE_SPECS = (
    ("Courier waybill database breach", "breach", "name,msisdn,address", 0.18, "none", -400),
    ("Hotel booking breach", "breach", "name,msisdn,id_number", 0.10, "adult", -120),
    (
        "K12 tutoring app (parents)",
        "noncompliant_app",
        "name,msisdn,address,child_school",
        0.08,
        "parent",
        0.3,
    ),
    ("Cash loan app", "noncompliant_app", "name,msisdn,id_number,bank_card,contacts", 0.05, "young", -60),
    ("Underground bulk listing", "underground_market", "name,msisdn,id_number,bank_card", 0.12, "none", -30),
    ("Health-supplement buyers list", "underground_market", "name,msisdn,address,age", 0.06, "elderly", -200),
    ("Credit-report broker dump", "underground_market", "name,id_number,bank_card", 0.04, "adult", 0.6),
)

NORMAL_HOURS = np.array(
    [0.3, 0.15, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 3, 4.5, 5, 5, 4.5, 4, 4.5, 5, 5, 5, 5.5, 6, 5.5, 4.5, 3, 1.2]
)
NORMAL_HOURS = NORMAL_HOURS / NORMAL_HOURS.sum()
WORK_HOURS = np.array([0] * 8 + [4, 8, 9, 8, 5, 6, 8, 9, 8, 7, 5, 3, 1] + [0] * 3, dtype=float)
WORK_HOURS = WORK_HOURS / WORK_HOURS.sum()


@dataclass
class Source:
    """A leak source: contract metadata plus the people (person indices) it exposes."""

    source_id: str
    source_type: str
    name: str
    fields: str
    discovered: int  # day number since 1970-01-01
    members: np.ndarray

    @property
    def has_msisdn(self) -> bool:
        return "msisdn" in self.fields.split(",")


@dataclass
class Population:
    """The ordinary world. Person ``i`` is number ``i`` and owns account ``i``."""

    n_people: int
    age: np.ndarray
    city: np.ndarray
    id_number: pa.Array
    call_rate: np.ndarray
    family: tuple[np.ndarray, np.ndarray]  # CSR (ptr, neighbours)
    friends: tuple[np.ndarray, np.ndarray]
    city_people: tuple[np.ndarray, np.ndarray]  # CSR city -> people
    cells: pa.Array
    couriers: np.ndarray
    telemarketers: np.ndarray
    telemarketer_list: np.ndarray  # source index each telemarketer dials, -1 for random dialing
    services: np.ndarray  # number indices
    merchant_owner: np.ndarray  # person per merchant
    merchant_account: np.ndarray
    settle_weekday: np.ndarray
    employer_account: np.ndarray
    payday: np.ndarray  # day of month per employer
    employer_of: np.ndarray  # employer per person, -1 if none
    salary_cents: np.ndarray
    atms: np.ndarray  # account indices of ATM terminals
    sources: list[Source]
    numbers: list[Block] = field(default_factory=list)
    accounts: list[Block] = field(default_factory=list)

    def n_numbers(self) -> int:
        return sum(len(b["canonical"]) for b in self.numbers)

    def n_accounts(self) -> int:
        return sum(len(b["account_id"]) for b in self.accounts)

    def add_numbers(self, block: Block) -> np.ndarray:
        """Appends a number block; returns the indices it got."""
        first = self.n_numbers()
        self.numbers.append(block)
        return np.arange(first, self.n_numbers())

    def add_accounts(self, block: Block) -> np.ndarray:
        """Appends an account block; returns the indices it got."""
        first = self.n_accounts()
        self.accounts.append(block)
        return np.arange(first, self.n_accounts())


def number_block(canonical: pa.Array, **cols: np.ndarray | pa.Array) -> Block:
    """A numbers-book block; columns not given take the value of a plain non-subscriber."""
    n = len(canonical)
    full = np.full
    block: Block = {
        "canonical": canonical,
        "raw": canonical,
        "is_mobile": full(n, True),
        "is_subscriber": full(n, False),
        "role": full(n, 0),
        "ring": full(n, -1),
        "imei": full(n, 0, dtype=np.int64),
        "id_number": pa.nulls(n, pa.string()),
        "activation": full(n, 0, dtype=np.int64),
        "plan": full(n, 1),
        "city": full(n, -1),
        "home_cell": full(n, -1),
        "work_cell": full(n, -1),
        "status": full(n, STATUS_ACTIVE),
        "suspended_from": full(n, NEVER, dtype=np.int64),
    }
    block.update(cols)
    return block


def account_block(account_id: pa.Array, **cols: np.ndarray | pa.Array) -> Block:
    """An accounts-book block; columns not given take the value of another bank's personal account."""
    n = len(account_id)
    block: Block = {
        "account_id": account_id,
        "is_ours": np.full(n, False),
        "role": np.full(n, 0),
        "ring": np.full(n, -1),
        "holder_id": pa.nulls(n, pa.string()),
        "bound_number": np.full(n, -1),
        "open_day": np.full(n, 0, dtype=np.int64),
        "is_corporate": np.full(n, False),
    }
    block.update(cols)
    return block


def csr(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency ``(ptr, neighbours)`` of the directed edges, duplicates removed."""
    codes = np.sort(src.astype(np.int64) * n + dst)
    codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])]
    ptr = np.concatenate([[0], np.cumsum(np.bincount(codes // n, minlength=n))])
    return ptr, codes % n


def pick_neighbour(adj: tuple[np.ndarray, np.ndarray], nodes: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A uniform neighbour of each node (``u`` uniform in [0, 1)); -1 for nodes without one."""
    ptr, nbr = adj
    deg = ptr[nodes + 1] - ptr[nodes]
    pos = np.minimum(ptr[nodes] + (u * deg).astype(np.int64), len(nbr) - 1)
    return np.where(deg > 0, nbr[np.maximum(pos, 0)] if len(nbr) else -1, -1)


def group_edges(order: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs within consecutive groups of ``order`` cut to ``sizes`` (groups are small)."""
    group = np.repeat(np.arange(len(sizes)), sizes)[: len(order)]
    src, dst = [], []
    for k in range(1, int(sizes.max())):
        same = group[:-k] == group[k:]
        src += [order[:-k][same], order[k:][same]]
        dst += [order[k:][same], order[:-k][same]]
    return np.concatenate(src), np.concatenate(dst)


def _group_sizes(rng: np.random.Generator, n: int, sizes: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Group sizes drawn from ``sizes``/``p`` that cover ``n`` people (the last group may be cut)."""
    return rng.choice(sizes, n, p=p / p.sum())


def _age_pyramid() -> tuple[np.ndarray, np.ndarray]:
    ages = np.arange(10, 86)
    w = np.where(ages < 18, 0.6, 1.0) * np.where(ages > 60, np.clip(1 - (ages - 60) / 30, 0.2, 1), 1)
    return ages, w / w.sum()


def _source_weights(skew: str, age: np.ndarray, is_parent: np.ndarray) -> np.ndarray:
    adult = age >= 18
    return {
        "none": np.where(adult, 1.0, 0.2),
        "adult": np.where(adult, 1.0, 0.0),
        "parent": np.where(is_parent & (age >= 30) & (age <= 50), 12.0, np.where(adult, 0.3, 0.0)),
        "young": np.where((age >= 20) & (age <= 40), 6.0, np.where(adult, 0.5, 0.0)),
        "elderly": np.where(age >= 55, 10.0, np.where(adult, 0.3, 0.0)),
    }[skew]


def build_population(rng: np.random.Generator, people: int, start_day: int, days: int) -> Population:
    """People with circles, numbers, devices, accounts, hard-negative roles and leak sources.

    Sizes scale with ``people``; every role keeps a small floor so tiny worlds
    still hold each kind of party.
    """
    n = people
    ages, age_p = _age_pyramid()
    age = rng.choice(ages, n, p=age_p)
    birth = (
        np.datetime64(start_day, "D") - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    ).astype("datetime64[D]")
    city = rng.choice(len(CITIES), n, p=CITY_WEIGHTS)
    is_parent = (age >= 28) & (age <= 55) & (rng.random(n) < 0.65)
    area = np.where(rng.random(n) < 0.6, CITY_AREAS[city], rng.choice(RURAL_AREAS, n))
    id_number = id_numbers(area, birth, rng.integers(0, 1000, n))

    # Circles: families cut from a shuffle, friends from two shuffles within cities.
    fam_order = np.lexsort((rng.random(n), city))
    fam_src, fam_dst = group_edges(
        fam_order, _group_sizes(rng, n, np.arange(1, 6), np.array([0.15, 0.25, 0.3, 0.2, 0.1]))
    )
    fr = [
        group_edges(np.lexsort((rng.random(n), city)), _group_sizes(rng, n, np.arange(3, 11), np.ones(8)))
        for _ in range(2)
    ]
    family = csr(fam_src, fam_dst, n)
    friends = csr(np.concatenate([f[0] for f in fr]), np.concatenate([f[1] for f in fr]), n)
    city_order = np.argsort(city, kind="stable")
    city_people = (np.concatenate([[0], np.cumsum(np.bincount(city, minlength=len(CITIES)))]), city_order)

    # Roles of hard negatives, drawn among working-age adults.
    working = np.flatnonzero((age >= 20) & (age <= 55))
    picked = rng.permutation(working)
    n_couriers, n_tele, n_merchants = max(3, n // 200), max(2, n // 300), max(5, n // 150)
    couriers = np.sort(picked[:n_couriers])
    telemarketers = np.sort(picked[n_couriers : n_couriers + n_tele])
    merchant_owner = np.sort(picked[n_couriers + n_tele : n_couriers + n_tele + n_merchants])
    role = np.zeros(n, dtype=np.int64)
    role[couriers], role[telemarketers], role[merchant_owner] = COURIER, TELEMARKETER, MERCHANT_OWNER
    # Work phones of couriers and telemarketers are with the operator.
    is_subscriber = (rng.random(n) < 0.85) | (role > 0)

    msisdn = np.empty(n, dtype=np.int64)
    msisdn[is_subscriber] = draw_unique(
        rng, int(is_subscriber.sum()), OPERATOR_PREFIXES, 8, np.empty(0, np.int64)
    )
    msisdn[~is_subscriber] = draw_unique(
        rng, int((~is_subscriber).sum()), OTHER_PREFIXES, 8, msisdn[is_subscriber]
    )

    # Cells: a handful per city; people have a home and a work cell in their city.
    cells_per_city = max(8, n // 400)
    cell_city = np.repeat(np.arange(len(CITIES)), cells_per_city)
    cells = concat_strings(
        "460-00-",
        as_strings(cell_city * 100 + 4101, 5),
        "-",
        as_strings(rng.permutation(len(cell_city)) * 37 + 10001, 5),
    )
    home_cell = city * cells_per_city + rng.integers(0, cells_per_city, n)
    work_cell = city * cells_per_city + rng.integers(0, cells_per_city, n)

    # Lines were opened up to 16 years back, never before the age of about 12.
    activation = start_day - rng.integers(30, 31 + 365 * np.clip(age - 12, 1, 16))
    # Churn: some people switched to a new, mostly prepaid line in the last weeks,
    # and many couriers and telemarketers work from cheap new prepaid SIMs, so a
    # young prepaid SIM is a hint of fraud, never the proof of it.
    is_new_line = rng.random(n) < np.where(role > 0, 0.4, 0.04)
    activation = np.where(is_new_line, start_day - rng.integers(0, 60, n), activation)
    activation = np.where((role > 0) & ~is_new_line, np.minimum(activation, start_day - 400), activation)
    pop = Population(
        n_people=n,
        age=age,
        city=city,
        id_number=id_number,
        call_rate=np.where(age < 18, 0.6, np.where(age > 65, 0.7, 1.0)) * rng.lognormal(np.log(2.0), 0.5, n),
        family=family,
        friends=friends,
        city_people=city_people,
        cells=cells,
        couriers=couriers,
        telemarketers=telemarketers,
        telemarketer_list=np.full(len(telemarketers), -1),
        services=np.empty(0, np.int64),
        merchant_owner=merchant_owner,
        merchant_account=np.empty(0, np.int64),
        settle_weekday=rng.integers(0, 7, n_merchants),
        employer_account=np.empty(0, np.int64),
        payday=np.empty(0, np.int64),
        employer_of=np.full(n, -1),
        salary_cents=np.zeros(n, dtype=np.int64),
        atms=np.empty(0, np.int64),
        sources=[],
    )
    canonical = as_strings(msisdn)
    pop.add_numbers(
        number_block(
            canonical,
            is_subscriber=is_subscriber,
            role=role,
            imei=np.where(is_subscriber, imeis(rng, n, PHONE_TACS, np.empty(0, np.int64)), 0),
            # A few legacy subscribers were registered before real-name rules and carry no ID.
            id_number=null_where(id_number, ~is_subscriber | (rng.random(n) < 0.005)),
            activation=activation,
            plan=np.where(is_new_line | (rng.random(n) < 0.4), 0, 1),
            city=city,
            home_cell=np.where(is_subscriber, home_cell, -1),
            work_cell=np.where(is_subscriber, work_cell, -1),
            status=np.where(rng.random(n) < 0.005, STATUS_SUSPENDED, STATUS_ACTIVE),
        )
    )
    _add_services_and_iot(pop, rng, msisdn, start_day)
    _add_accounts(pop, rng, start_day, msisdn)
    _add_sources(pop, rng, is_parent, start_day, days)
    return pop


# IoT SIMs: 13-digit numbers 10648 and 8 digits.
IOT_PREFIX = 1064_8000_00000
IOT_DIGITS = 8


def distinct_suffixes(
    rng: np.random.Generator, n: int, *, min_digits: int, max_digits: int | None = None
) -> tuple[np.ndarray, int]:
    """``n`` distinct numbers below 10^k, and k: ``min_digits`` while 10^k numbers suffice, else the fewest
    digits that hold ``n``; past ``max_digits``, an error."""
    digits = max(min_digits, math.ceil(math.log10(max(n, 1))))
    if max_digits is not None and digits > max_digits:
        raise ValueError(f"{n:,} distinct numbers do not fit in {max_digits} digits")
    return rng.permutation(10**digits)[:n], digits


def iot_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct IoT numbers, drawn from the 10^5 numbers after :data:`IOT_PREFIX` while they suffice
    (worlds of up to 10 million people: the same numbers as before, seed for seed) and from 10^k numbers
    past that, k the fewest digits that hold ``n`` (the 10^5 ran out past 10 million people)."""
    return IOT_PREFIX + distinct_suffixes(rng, n, min_digits=5, max_digits=IOT_DIGITS)[0]


def _add_services_and_iot(
    pop: Population, rng: np.random.Generator, msisdn: np.ndarray, start_day: int
) -> None:
    """Customer-service lines (95xxx short codes, 400 hotlines, landlines) and a few IoT SIMs."""
    n_services = max(6, pop.n_people // 1000)
    kind = np.arange(n_services) % 3
    # 5-digit 95xxx codes; past 1,000 lines (worlds of a million people and more) 6-digit ones as well
    # (95 and up to 6 digits is a service number, ingestion/pseudonymise.py).
    suffix, digits = distinct_suffixes(rng, n_services, min_digits=3)
    short = 95 * 10**digits + suffix
    hotline = 4_000_000_000 + rng.integers(0, 10**7, n_services)
    landline = 21_0000_0000 + rng.integers(10**7, 10**8, n_services)
    value = np.where(kind == 0, short, np.where(kind == 1, hotline, landline))
    canonical = concat_strings(pa.array(np.where(kind == 2, "0", "")), as_strings(value))
    # Landlines arrive as "021-xxxxxxxx": the dash is part of real feeds.
    landline_raw = concat_strings("0", as_strings(value // 10**8), "-", as_strings(value % 10**8, 8))
    raw = pc.if_else(pa.array(kind == 2), landline_raw, canonical)
    pop.services = pop.add_numbers(
        number_block(
            canonical, raw=raw, is_mobile=np.full(n_services, False), role=np.full(n_services, SERVICE)
        )
    )

    n_iot = max(3, pop.n_people // 100)
    iot = iot_numbers(rng, n_iot)
    pop.add_numbers(
        number_block(
            as_strings(iot),
            is_mobile=np.full(n_iot, False),
            is_subscriber=np.full(n_iot, True),
            activation=start_day - rng.integers(30, 1500, n_iot),
            plan=np.full(n_iot, 2),
        )
    )


def _add_accounts(pop: Population, rng: np.random.Generator, start_day: int, msisdn: np.ndarray) -> None:
    """Personal accounts (person i owns account i), employers, merchants and ATM terminals."""
    n = pop.n_people
    is_ours = rng.random(n) < 0.75
    ours_id = draw_unique(rng, n, np.array([621483]), 10, np.empty(0, np.int64))
    other_id = draw_unique(rng, n, np.array([6222, 6228, 6217]), 15, np.empty(0, np.int64))
    pop.add_accounts(
        account_block(
            as_strings(np.where(is_ours, ours_id, other_id)),
            is_ours=is_ours,
            holder_id=pop.id_number,
            bound_number=np.where(rng.random(n) < 0.97, np.arange(n), -1),
            # A few percent opened an account in the last weeks (students, new jobs, switching banks).
            open_day=start_day - np.where(rng.random(n) < 0.04, rng.integers(0, 60, n), rng.integers(60, 4000, n)),
        )
    )
    n_employers = max(5, n // 200)
    pop.employer_account = pop.add_accounts(_corporate_block(rng, n_employers, start_day, role=CORPORATE))
    pop.payday = rng.integers(1, 29, n_employers)
    employed = (pop.age >= 22) & (pop.age <= 60) & (rng.random(n) < 0.7)
    pop.employer_of = np.where(employed, rng.integers(0, n_employers, n), -1)
    pop.salary_cents = np.where(employed, np.round(rng.lognormal(np.log(7000), 0.45, n)) * 100, 0).astype(
        np.int64
    )
    pop.merchant_account = pop.add_accounts(
        _corporate_block(rng, len(pop.merchant_owner), start_day, role=MERCHANT)
    )
    n_atms = max(10, n // 500)
    atm_id = concat_strings(
        "ATM", as_strings(draw_unique(rng, n_atms, np.array([31]), 6, np.empty(0, np.int64)), 8)
    )
    pop.atms = pop.add_accounts(account_block(atm_id, role=np.full(n_atms, ATM)))


def _corporate_block(rng: np.random.Generator, k: int, start_day: int, role: int) -> Block:
    """``k`` corporate accounts, most of them with our bank."""
    value = draw_unique(rng, k, np.array([7559, 7559, 1109]), 12, np.empty(0, np.int64))
    is_ours = value // 10**12 == 7559
    return account_block(
        as_strings(value),
        is_ours=is_ours,
        role=np.full(k, role),
        open_day=start_day - rng.integers(200, 5000, k),
        is_corporate=np.full(k, True),
    )


def _add_sources(
    pop: Population, rng: np.random.Generator, is_parent: np.ndarray, start_day: int, days: int
) -> None:
    """The leak sources and their members; telemarketers get bought lists from an underground market."""
    for k, (name, stype, fields, share, skew, when) in enumerate(SOURCE_SPECS):
        w = _source_weights(skew, pop.age, is_parent)
        size = min(int(share * pop.n_people), int((w > 0).sum()))
        members = np.sort(rng.choice(pop.n_people, size, replace=False, p=w / w.sum()))
        discovered = start_day + (int(when * days) if isinstance(when, float) else when)
        pop.sources.append(Source(f"SRC{k + 1:03d}", stype, name, fields, discovered, members))
    markets = [k for k, s in enumerate(pop.sources) if s.source_type == "underground_market" and s.has_msisdn]
    pop.telemarketer_list = np.where(
        rng.random(len(pop.telemarketers)) < 0.5, rng.choice(markets, len(pop.telemarketers)), -1
    )
