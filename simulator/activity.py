"""One day of ordinary life: calls, SMS and payments of people and hard negatives.

Each function draws one day's events for everybody at once (no per-event
Python) and returns an event block: calls ``caller, callee, t, dur`` (number
indices, seconds since the epoch in local time, seconds; 0 = not answered),
sms ``sender, receiver, t, has_url``, transactions ``src, dst, cents, t,
channel`` (account indices). Events are the world's, before the operator's or
the bank's view of them is applied by the writer.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from simulator.population import NORMAL_HOURS, WORK_HOURS, Population, pick_neighbour
from simulator.tables import SECONDS_PER_DAY, Block, events, stack

CHANNEL_MOBILE, CHANNEL_ONLINE, CHANNEL_ATM, CHANNEL_COUNTER = range(4)
EPOCH = date(1970, 1, 1)
# A customer-service line's daily traffic grows with the people it serves up to this many; past it, the
# world's growing number of lines (one per 1,000 people) takes the rest. Uncapped, the service traffic grew
# with the square of the people: at 1.57M people half the calls and nine tenths of the SMS were service ones.
SERVICE_LINE_PEOPLE = 200_000


def service_rate(pop: Population, people_per_event: int) -> float:
    """Events a day of one service line: one per ``people_per_event`` people served, at least 2."""
    return max(2.0, min(pop.n_people, SERVICE_LINE_PEOPLE) / people_per_event)


def hours_to_times(rng: np.random.Generator, day: np.ndarray, hours_p: np.ndarray) -> np.ndarray:
    """Seconds since the epoch on ``day`` (day numbers) at hours drawn from ``hours_p``."""
    return (
        day * SECONDS_PER_DAY + rng.choice(24, len(day), p=hours_p) * 3600 + rng.integers(0, 3600, len(day))
    )


def lognormal_durations(
    rng: np.random.Generator, n: int, median: float | np.ndarray, sigma: float, cap: int
) -> np.ndarray:
    """Call durations in seconds, log-normal around ``median``, within [1, cap]."""
    return np.clip(np.round(median * np.exp(sigma * rng.standard_normal(n))), 1, cap).astype(np.int64)


def dial(
    rng: np.random.Generator,
    caller: np.ndarray,
    callee: np.ndarray,
    t: np.ndarray,
    p_answer: float | np.ndarray,
    median: float | np.ndarray,
    sigma: float = 1.0,
    cap: int = 7200,
) -> Block:
    """Calls that are answered with ``p_answer`` and then last a log-normal time (else 0 s)."""
    n = len(caller)
    is_answered = rng.random(n) < p_answer
    dur = np.where(is_answered, lognormal_durations(rng, n, median, sigma, cap), 0)
    return events(caller=caller, callee=callee, t=t, dur=dur)


def callbacks(
    rng: np.random.Generator, calls: Block, share: float, p_answer: float, median: float, within_s: int
) -> Block:
    """Missed calls returned by the callee (a ``share`` of them) within ``within_s`` seconds."""
    back = (calls["dur"] == 0) & (rng.random(len(calls["dur"])) < share)
    t = calls["t"][back] + rng.integers(60, within_s, int(back.sum()))
    return dial(rng, calls["callee"][back], calls["caller"][back], t, p_answer, median, 0.6, 600)


def same_city(pop: Population, rng: np.random.Generator, people: np.ndarray) -> np.ndarray:
    """A random person living in the same city as each of ``people``."""
    ptr, order = pop.city_people
    c = pop.city[people]
    return order[ptr[c] + (rng.random(len(people)) * (ptr[c + 1] - ptr[c])).astype(np.int64)]


def circle_contact(pop: Population, rng: np.random.Generator, people: np.ndarray) -> np.ndarray:
    """A family member (about half the time) or a friend; a same-city stranger for the rare loner."""
    fam = pick_neighbour(pop.family, people, rng.random(len(people)))
    friend = pick_neighbour(pop.friends, people, rng.random(len(people)))
    pick = np.where((rng.random(len(people)) < 0.45) & (fam >= 0), fam, friend)
    pick = np.where(pick >= 0, pick, fam)
    return np.where(pick >= 0, pick, same_city(pop, rng, people))


def _list_or_random(pop: Population, rng: np.random.Generator, lists: np.ndarray) -> np.ndarray:
    """A member of source ``lists[i]`` for each i, or a random person where ``lists[i]`` is -1."""
    out = rng.integers(0, pop.n_people, len(lists))
    for k in np.unique(lists[lists >= 0]):
        sel = lists == k
        members = pop.sources[k].members
        out[sel] = members[rng.integers(0, len(members), int(sel.sum()))]
    return out


def intensity(who: np.ndarray) -> np.ndarray:
    """A fixed per-worker multiplier in [0.25, 2): some work hard, some part-time, every day alike."""
    return 0.25 + ((who.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(1000)).astype(float) / 1000 * 1.75


def _workers(
    rng: np.random.Generator, who: np.ndarray, day: int, rate: float, workdays: int
) -> tuple[np.ndarray, np.ndarray]:
    """(worker, time) pairs: ``rate`` events per worker on working days (weekday < ``workdays``)."""
    weekday = (EPOCH + timedelta(days=day)).weekday()
    k = rng.poisson(intensity(who) * (rate if weekday < workdays else rate * 0.1))
    doer = np.repeat(who, k)
    return doer, hours_to_times(rng, np.full(len(doer), day), WORK_HOURS)


def daily_calls(pop: Population, rng: np.random.Generator, day: int) -> Block:
    """One day of ordinary calls, courier and telemarketing campaigns and service-line calls."""
    caller = np.repeat(np.arange(pop.n_people), rng.poisson(pop.call_rate))
    m = len(caller)
    kind = np.searchsorted([0.8, 0.92], rng.random(m), side="right")  # 0 circle, 1 stranger, 2 service line
    callee = np.select(
        [kind == 0, kind == 1],
        [circle_contact(pop, rng, caller), same_city(pop, rng, caller)],
        pop.services[rng.integers(0, len(pop.services), m)],
    )
    t = hours_to_times(rng, np.full(m, day), NORMAL_HOURS)
    ordinary = dial(
        rng, caller, callee, t, np.array([0.85, 0.55, 0.97])[kind], np.array([90.0, 45.0, 200.0])[kind]
    )

    courier, t = _workers(rng, pop.couriers, day, 35, 6)
    courier_calls = dial(rng, courier, same_city(pop, rng, courier), t, 0.75, 35, 0.5, 600)
    tele, t = _workers(rng, pop.telemarketers, day, 120, 5)
    lists = pop.telemarketer_list[np.searchsorted(pop.telemarketers, tele)]
    # Answer rates differ by campaign: 15 % for cold lists, up to 40 % for warm ones.
    tele_answer = 0.15 + 0.25 * (intensity(tele) - 0.25) / 1.75
    tele_calls = dial(rng, tele, _list_or_random(pop, rng, lists), t, tele_answer, 20, 0.9, 900)
    # An interested customer hears the whole pitch: insurance and loans take long calls too.
    is_pitch = (tele_calls["dur"] > 0) & (rng.random(len(tele_calls["dur"])) < 0.02)
    tele_calls["dur"] = np.where(is_pitch, rng.integers(600, 2400, len(tele_calls["dur"])), tele_calls["dur"])
    service, t = _workers(rng, pop.services, day, service_rate(pop, 500), 7)
    service_calls = dial(rng, service, rng.integers(0, pop.n_people, len(service)), t, 0.6, 60, 0.6, 1200)
    return stack(
        [
            ordinary,
            courier_calls,
            callbacks(rng, courier_calls, 0.15, 0.9, 30, 5400),
            tele_calls,
            callbacks(rng, tele_calls, 0.01, 0.8, 20, 6 * 3600),
            service_calls,
        ]
    )


def daily_sms(pop: Population, rng: np.random.Generator, day: int) -> Block:
    """One day of personal texts, courier notices, marketing and service notifications."""
    sender = np.repeat(np.arange(pop.n_people), rng.poisson(0.4 * pop.call_rate))
    m = len(sender)
    receiver = np.where(rng.random(m) < 0.9, circle_contact(pop, rng, sender), same_city(pop, rng, sender))
    parts = [
        events(
            sender=sender,
            receiver=receiver,
            t=hours_to_times(rng, np.full(m, day), NORMAL_HOURS),
            has_url=rng.random(m) < 0.01,
        )
    ]
    for who, rate, workdays, p_url in (
        (pop.couriers, 10, 6, 0.1),
        (pop.telemarketers, 40, 5, 0.4),
        (pop.services, service_rate(pop, 200), 7, 0.25),
    ):
        doer, t = _workers(rng, who, day, rate, workdays)
        parts.append(
            events(
                sender=doer,
                receiver=rng.integers(0, pop.n_people, len(doer)),
                t=t,
                # Campaigns differ: a worker's link share ranges around the kind's typical one.
                has_url=rng.random(len(doer)) < p_url * (0.5 + intensity(doer) / 2),
            )
        )
    return stack(parts)


def daily_transactions(
    pop: Population, rng: np.random.Generator, day: int, pending_cents: np.ndarray
) -> Block:
    """One day of shop payments, peer transfers, salaries, merchant settlements and ATM withdrawals.

    ``pending_cents`` (per merchant) carries what merchants took but have not
    settled yet; it is updated in place. Person ``i`` pays from account ``i``.
    """
    n = pop.n_people
    adults = np.flatnonzero(pop.age >= 18)
    when = date.fromordinal(EPOCH.toordinal() + day)

    payer = np.repeat(np.arange(n), rng.poisson(np.where(pop.age >= 12, 0.35, 0.0)))
    merchant = rng.integers(0, len(pop.merchant_account), len(payer))
    shop = events(
        src=payer,
        dst=pop.merchant_account[merchant],
        cents=np.round(rng.lognormal(np.log(45), 0.9, len(payer)) * 100),
        t=hours_to_times(rng, np.full(len(payer), day), NORMAL_HOURS),
        channel=np.where(rng.random(len(payer)) < 0.85, CHANNEL_MOBILE, CHANNEL_ONLINE),
    )
    pending_cents += np.bincount(merchant, weights=shop["cents"], minlength=len(pending_cents)).astype(
        np.int64
    )

    sender = np.repeat(adults, rng.poisson(0.04, len(adults)))
    peer = events(
        src=sender,
        dst=circle_contact(pop, rng, sender),
        cents=np.round(rng.lognormal(np.log(300), 1.0, len(sender))) * 100,
        t=hours_to_times(rng, np.full(len(sender), day), NORMAL_HOURS),
        channel=np.full(len(sender), CHANNEL_MOBILE),
    )

    paid = np.flatnonzero((pop.employer_of >= 0) & (pop.payday[np.maximum(pop.employer_of, 0)] == when.day))
    salary = events(
        src=pop.employer_account[pop.employer_of[paid]],
        dst=paid,
        cents=pop.salary_cents[paid],
        t=day * SECONDS_PER_DAY + rng.integers(9 * 3600, 11 * 3600, len(paid)),
        channel=np.full(len(paid), CHANNEL_ONLINE),
    )

    # Merchants settle the week's takings to the owner once a week, at night, not within hours.
    settling = np.flatnonzero((pop.settle_weekday == when.weekday()) & (pending_cents > 0))
    settle = events(
        src=pop.merchant_account[settling],
        dst=pop.merchant_owner[settling],
        cents=pending_cents[settling],
        t=day * SECONDS_PER_DAY + rng.integers(2 * 3600, 4 * 3600, len(settling)),
        channel=np.full(len(settling), CHANNEL_ONLINE),
    )
    pending_cents[settling] = 0

    withdrawer = np.repeat(adults, rng.poisson(0.015, len(adults)))
    atm = events(
        src=withdrawer,
        dst=pop.atms[rng.integers(0, len(pop.atms), len(withdrawer))],
        cents=rng.integers(5, 31, len(withdrawer)) * 10_000,
        t=hours_to_times(rng, np.full(len(withdrawer), day), NORMAL_HOURS),
        channel=np.full(len(withdrawer), CHANNEL_ATM),
    )
    return stack([shop, peer, salary, settle, atm])
