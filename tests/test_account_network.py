"""Account network features on hand-made money graphs; expected values worked out by hand.

Two small graphs of eight transfers each, disjoint, computed together once per module:

- ``mule``: payers X (another bank), A and C pay M, M pays B, B withdraws at
  ATM terminal T1 and pays A back (a 3-cycle A -> M -> B -> A), C also pays A;
  one row has no payer. Accounts A, B, C, M (and I, idle) are the bank's.
- ``ring``: a 4-cycle P -> Q -> R -> S -> P with a chord P -> R and a
  transfer back Q -> P; Q and S share a holder; one row has no payee and one
  is before the window.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics

import pytest

from features.accounts import ACCOUNT_FEATURES, account_features
from features.common import ENTITY, ID, Hubs, MissingColumns, join_with_hubs, without_hubs

AS_OF = dt.date(2026, 5, 3)
T = dt.datetime
D = dt.date
TXN_SCHEMA = "src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string"
ACCOUNT_SCHEMA = (
    "account_id string, holder_id_number string, bound_msisdn string, open_date date, account_type string"
)
nan = float("nan")


def rows(df) -> dict[str, dict[str, float]]:
    # null (nothing to take a ratio or mean over) compared as NaN
    return {
        r[ENTITY]: {c: nan if r[c] is None else float(r[c]) for c in ACCOUNT_FEATURES} for r in df.collect()
    }


def assert_columns(actual: dict, columns: tuple[str, ...], expected: dict[str, tuple]) -> None:
    """Full-frame comparison over ``columns``: same accounts, same values."""
    assert actual.keys() == expected.keys()
    for token, values in expected.items():
        got = tuple(actual[token][c] for c in columns)
        assert got == pytest.approx(values, rel=1e-6, nan_ok=True), token


MULE_TXNS = [
    ("X", "M", 1000.0, T(2026, 5, 3, 10, 0), "online"),
    ("A", "M", 500.0, T(2026, 5, 3, 10, 30), "mobile"),
    ("M", "B", 1400.0, T(2026, 5, 3, 11, 0), "mobile"),
    ("B", "T1", 1400.0, T(2026, 5, 3, 12, 0), "atm"),
    ("B", "A", 50.0, T(2026, 5, 2, 9, 0), "mobile"),
    ("C", "M", 200.0, T(2026, 5, 1, 8, 0), None),
    (None, "M", 20.0, T(2026, 5, 3, 13, 0), "mobile"),  # payer unknown: M's side only, no edge
    ("C", "A", 100.0, T(2026, 5, 2, 10, 0), "mobile"),
]
MULE_ACCOUNTS = [
    ("A", "H1", "P1", D(2026, 1, 3), "personal"),
    ("B", "H1", "P2", D(2026, 5, 1), "personal"),
    ("M", "H2", "P2", D(2026, 4, 30), "personal"),
    ("C", None, None, D(2025, 5, 3), "corporate"),
    ("I", "H3", "P3", D(2020, 1, 1), "personal"),  # idle, no transfer: no row
]
RING_TXNS = [
    ("P", "Q", 100.0, T(2026, 5, 3, 9), "mobile"),
    ("Q", "R", 100.0, T(2026, 5, 3, 10), "mobile"),
    ("R", "S", 100.0, T(2026, 5, 3, 11), "mobile"),
    ("S", "P", 100.0, T(2026, 5, 3, 12), "mobile"),
    ("Q", "P", 7.0, T(2026, 5, 2, 8), "online"),
    ("P", "R", 300.0, T(2026, 5, 1, 8), "online"),
    ("P", None, 10.0, T(2026, 5, 2, 9), "mobile"),  # payee unknown: P's side only, no edge
    ("R", "P", 5.0, T(2026, 4, 20, 9), "mobile"),  # before the window: ignored
]
RING_ACCOUNTS = [
    ("P", "H7", None, D(2026, 1, 1), "personal"),
    ("Q", "H9", None, D(2026, 1, 1), "personal"),
    ("R", "H8", None, D(2026, 1, 1), "personal"),
    ("S", "H9", None, D(2026, 1, 1), "personal"),
]
MULE = ("A", "B", "C", "M")
RING = ("P", "Q", "R", "S")


@pytest.fixture(scope="module")
def features(spark):
    # The two graphs share no account or holder, so one Spark job computes both (the suite's time budget).
    txns = spark.createDataFrame(MULE_TXNS + RING_TXNS, TXN_SCHEMA)
    accounts = spark.createDataFrame(MULE_ACCOUNTS + RING_ACCOUNTS, ACCOUNT_SCHEMA)
    out = account_features(txns, accounts, as_of=AS_OF, window_days=3)
    assert out.columns == [ENTITY, *ACCOUNT_FEATURES]
    return rows(out)


@pytest.fixture(scope="module")
def mule(features):
    return {k: v for k, v in features.items() if k in MULE}


@pytest.fixture(scope="module")
def ring(features):
    assert set(features) == set(MULE) | set(RING)
    return {k: v for k, v in features.items() if k in RING}


def test_flow_features_count_each_side_and_ignore_unknown_counterparties(mule):
    columns = (
        "in_count", "in_amount", "in_distinct", "in_max_amount", "out_count", "out_amount", "out_distinct",
        "out_atm_share", "pass_through_ratio", "active_days", "account_age_days", "is_corporate",
    )  # fmt: skip
    assert_columns(
        mule,
        columns,
        {
            "M": (4, 1720.0, 3, 1000.0, 1, 1400.0, 1, 0.0, 1400 / 1720, 2, 3, 0),
            "A": (2, 150.0, 2, 100.0, 1, 500.0, 1, 0.0, 500 / 150, 2, 120, 0),
            "B": (1, 1400.0, 1, 1400.0, 2, 1450.0, 2, 1400 / 1450, 1450 / 1400, 2, 2, 0),
            "C": (0, 0.0, 0, nan, 2, 300.0, 2, 0.0, nan, 2, 365, 1),
        },
    )


def test_counterparty_shape_and_amount_regularity(mule):
    columns = (
        "counterparties", "reciprocal_counterparties", "in_per_payer", "out_per_payee", "in_top_payer_share",
        "out_top_payee_share", "out_max_same_day_payee", "in_min_amount", "out_min_amount", "in_amount_cv",
        "out_amount_cv", "round_amount_share",
    )  # fmt: skip
    # cv = sample standard deviation / mean: two amounts a, b give |a - b| / sqrt(2) / ((a + b) / 2)
    cv_50_100 = 50 / math.sqrt(2) / 75
    # M's incoming 1000, 500, 200, 20: mean 430, squared deviations sum 550,800 over 3
    cv_m_in = math.sqrt(550_800 / 3) / 430
    assert_columns(
        mule,
        columns,
        {
            "M": (4, 0, 1.0, 1.0, 1000 / 1700, 1.0, 1, 20.0, 1400.0, cv_m_in, nan, 4 / 5),
            "A": (3, 0, 1.0, 1.0, 100 / 150, 1.0, 1, 50.0, 500.0, cv_50_100, nan, 2 / 3),
            "B": (3, 0, 1.0, 1.0, 1.0, 1400 / 1450, 1, 1400.0, 50.0, nan, 1350 / math.sqrt(2) / 725, 2 / 3),
            "C": (2, 0, nan, 1.0, nan, 200 / 300, 1, nan, 100.0, nan, cv_50_100, 1.0),
        },
    )


def test_atypical_amounts_compare_each_transfer_with_its_payers_median(mule):
    # payer medians: X 1000, A 500, M 1400, B (1400 + 50) / 2 = 725, C 150; only B's two transfers are
    # more than half their median away from it. Node shares over all sides: A 1/3, B 2/3, others 0.
    columns = (
        "in_atypical_share",
        "out_atypical_share",
        "peers_mean_atypical_share",
        "peers_max_atypical_share",
    )
    assert_columns(
        mule,
        columns,
        {
            "M": (
                0.0,
                0.0,
                (0 + 1 / 3 + 0 + 2 / 3) / 4,
                2 / 3,
            ),  # peers X, A, C, B; the unknown payer has no median
            "A": (0.5, 0.0, (0 + 2 / 3 + 0) / 3, 2 / 3),  # peers M, B, C
            "B": (0.0, 1.0, (0 + 1 / 3) / 2, 1 / 3),  # peers M, A
            "C": (nan, 0.0, (0 + 1 / 3) / 2, 1 / 3),  # peers M, A
        },
    )


def test_dwell_time_runs_from_each_incoming_transfer_to_the_next_outgoing_one(mule):
    columns = (
        "dwell_min_hours", "dwell_median_hours", "forwarded_1h_share", "forwarded_24h_share", "gap_median_hours",
        "gap_cv", "busiest_day_share",
    )  # fmt: skip
    # M: in 05-01 08:00 (51 h to its 05-03 11:00 transfer), 10:00 (1 h), 10:30 (0.5 h), 13:00 (nothing after);
    # gaps 50, 0.5, 0.5, 2 h: mean 13.25, squared deviations sum 1802.25 over 3.
    gap_cv_m = math.sqrt(1802.25 / 3) / 13.25
    assert_columns(
        mule,
        columns,
        {
            "M": (0.5, 1.0, 1500 / 1720, 1500 / 1720, 1.25, gap_cv_m, 4 / 5),
            "A": (
                24.5,
                25.0,
                0.0,
                0.0,
                12.75,
                23.5 / math.sqrt(2) / 12.75,
                2 / 3,
            ),  # in 05-02 09:00, 10:00; out next day 10:30
            "B": (1.0, 1.0, 1.0, 1.0, 13.5, 25 / math.sqrt(2) / 13.5, 2 / 3),
            "C": (nan, nan, nan, nan, 26.0, nan, 1 / 2),  # no incoming transfer, a single gap
        },
    )


def test_dwell_and_gaps_are_the_same_within_and_across_time_slices(spark):
    """The windows run per account and 15-minute slice: random transfers, many in one slice, some at the same
    second, against the definitions worked out in plain Python over each account's whole history."""
    rng = random.Random(7)
    start = T(2026, 5, 3, 9, 0)
    txns = [
        (src, dst, float(rng.randint(1, 9) * 100), start + dt.timedelta(seconds=rng.choice(range(0, 4 * 3600, 150))),
         "mobile")
        for src, dst in (rng.choice([("H", "P"), ("Q", "H"), ("R", "H"), ("H", "S")]) for _ in range(120))
    ]
    holders = [("H", "HH", None, D(2026, 1, 1), "personal")]
    found = rows(account_features(spark.createDataFrame(txns, TXN_SCHEMA),
                                  spark.createDataFrame(holders, ACCOUNT_SCHEMA), as_of=AS_OF, window_days=7))
    sides = [(t[3].timestamp(), t[0] == "H", t[2]) for t in txns if "H" in t[:2]]
    times = sorted(ts for ts, _, _ in sides)
    gaps = [(b - a) / 3600 for a, b in zip(times, times[1:], strict=False)]
    dwells = []
    for ts, is_out, amount in sides:
        if not is_out:
            after = [t for t, o, _ in sides if o and t >= ts]
            dwells.append(((min(after) - ts) / 3600 if after else None, amount))
    known = sorted(d for d, _ in dwells if d is not None)
    forwarded = sum(a for d, a in dwells if d is not None and d <= 1) / sum(a for _, a in dwells)
    mean_gap = statistics.fmean(gaps)
    assert len(set(times)) < len(times) and sum(d == 0 for d in known) > 0  # ties, and forwarded at once
    assert found["H"]["dwell_min_hours"] == pytest.approx(known[0])
    assert found["H"]["dwell_median_hours"] == pytest.approx(statistics.median(known))
    assert found["H"]["forwarded_1h_share"] == pytest.approx(forwarded)
    assert found["H"]["gap_median_hours"] == pytest.approx(statistics.median(gaps))
    assert found["H"]["gap_cv"] == pytest.approx(statistics.stdev(gaps) / mean_gap)


def test_payers_are_unrelated_unless_they_transact_or_share_a_holder(mule, ring):
    columns = (
        "payers_single_payee_share",
        "payers_mean_out_distinct",
        "unrelated_payers",
        "unrelated_payer_share",
    )
    assert_columns(
        mule,
        columns,
        {
            "M": (2 / 3, 4 / 3, 1, 1 / 3),  # X, A, C pay M; C also pays A, so only X is unrelated
            "A": (1 / 2, 3 / 2, 2, 1.0),  # B (its ATM withdrawal is no money edge) and C
            "B": (1.0, 1.0, 1, 1.0),
            "C": (nan, nan, 0, nan),  # no payer
        },
    )
    assert_columns(
        ring,
        columns,
        {
            "P": (1 / 2, 3 / 2, 0, 0.0),  # Q and S share holder H9
            "Q": (0.0, 2.0, 1, 1.0),
            "R": (0.0, 2.0, 0, 0.0),  # P and Q pay each other
            "S": (1.0, 1.0, 1, 1.0),
        },
    )


def test_identity_counts_accounts_per_holder_and_bound_number(mule):
    assert_columns(
        mule,
        ("holder_accounts", "msisdn_accounts", "has_shared_msisdn"),
        {"M": (1, 2, 1), "A": (2, 1, 0), "B": (2, 2, 1), "C": (nan, nan, 0)},
    )


def test_hops_to_cash_out_follow_money_forward_to_an_atm(mule, ring):
    assert_columns(mule, ("hops_to_cash_out",), {"B": (1,), "M": (2,), "A": (3,), "C": (3,)})
    assert_columns(ring, ("hops_to_cash_out",), {"P": (4,), "Q": (4,), "R": (4,), "S": (4,)})  # no ATM


def test_neighbourhood_aggregates_over_money_counterparties(mule):
    columns = (
        "peers_mean_in_distinct", "peers_max_in_distinct", "peers_mean_out_distinct", "peers_max_out_distinct",
        "peers_mean_pass_through", "peers_pass_through_share", "peers_return_flow_share",
    )  # fmt: skip
    # node in/out money degrees: X 0/1, A 2/1, M 3/1, B 1/1, C 0/2; pass-through (clipped at 2):
    # A 2.0 (500/150), M 1400/1720, B 1450/1400, X and C none. In the 0.8-1.25 band: M and B.
    m_ratio, b_ratio = 1400 / 1720, 1450 / 1400
    assert_columns(
        mule,
        columns,
        {
            "M": (3 / 4, 2, 5 / 4, 2, (2.0 + b_ratio) / 2, 1 / 4, 2 / 4),  # peers X, A, C, B
            "A": (4 / 3, 3, 4 / 3, 2, (m_ratio + b_ratio) / 2, 2 / 3, 2 / 3),  # peers M, B, C
            "B": (5 / 2, 3, 1.0, 1, (m_ratio + 2.0) / 2, 1 / 2, 1.0),  # peers M, A
            "C": (5 / 2, 3, 1.0, 1, (m_ratio + 2.0) / 2, 1 / 2, 1.0),  # peers M, A
        },
    )


def test_return_flow_and_triangles_on_a_three_cycle(mule):
    columns = (
        "cycle3_paths", "cycle4_midpoints", "return_flow_hops", "triangles", "clustering",
        "max_common_counterparties", "triangle_peers", "peers_mean_triangles", "peers_max_triangles",
        "peers_mean_clustering",
    )  # fmt: skip
    # Undirected money graph: X-M, A-M, M-B, B-A, C-M, C-A; triangles A-M-B and A-M-C.
    # Common neighbours per edge: A-M 2 (B, C), the other triangle edges 1, X-M 0.
    # Clustering: M 2/6, A 2/3, B 1, C 1, X none (a single neighbour).
    assert_columns(
        mule,
        columns,
        {
            "M": (1, 0, 3, 2, 2 / 6, 2, 3, (0 + 2 + 1 + 1) / 4, 2, (2 / 3 + 1 + 1) / 3),  # peers X, A, B, C
            "A": (1, 0, 3, 2, 2 / 3, 2, 3, (2 + 1 + 1) / 3, 2, (1 / 3 + 1 + 1) / 3),  # peers M, B, C
            "B": (1, 0, 3, 1, 1.0, 1, 2, (2 + 2) / 2, 2, (1 / 3 + 2 / 3) / 2),  # peers M, A
            "C": (
                0,
                0,
                5,
                1,
                1.0,
                1,
                2,
                (2 + 2) / 2,
                2,
                (1 / 3 + 2 / 3) / 2,
            ),  # nobody pays C: no return flow
        },
    )


def test_neighbours_clustering_two_hops_out(mule):
    columns = ("peers_max_clustering", "peers_mean_peers_clustering")
    # Clustering: M 1/3, A 2/3, B 1, C 1, X none. peers_mean_clustering: X 1/3 (peer M),
    # M 8/9 (A, B, C), A 7/9 (M, B, C), B and C 1/2 (M, A).
    assert_columns(
        mule,
        columns,
        {
            "M": (1.0, (1 / 3 + 7 / 9 + 1 / 2 + 1 / 2) / 4),  # peers X, A, B, C
            "A": (1.0, (8 / 9 + 1 / 2 + 1 / 2) / 3),  # peers M, B, C
            "B": (2 / 3, (8 / 9 + 7 / 9) / 2),  # peers M, A
            "C": (2 / 3, (8 / 9 + 7 / 9) / 2),  # peers M, A
        },
    )


def test_payees_off_mode_share_compares_each_transfer_with_its_payers_usual_amount(mule, ring):
    columns = ("payees_max_off_mode_share", "payees_mean_off_mode_share")
    # Payers' modal amounts (smallest on a tie): X 1000, A 500, M 1400, B 50 (1400 at the ATM is
    # off), C 100 (C -> M 200 is off); the payer-less 20 into M is not compared.
    # In-off-mode share: M 1/3 (X, A, C), A 0 (B, C), B 0 (M). The ATM terminal is no payee.
    assert_columns(
        mule,
        columns,
        {
            "A": (1 / 3, 1 / 3),  # pays M
            "M": (0.0, 0.0),  # pays B
            "B": (0.0, 0.0),  # pays A
            "C": (1 / 3, 1 / 6),  # pays M and A
        },
    )
    # Ring: P's amounts 100, 300, 10 (to nobody) -> mode 10, so P -> Q and P -> R are off;
    # Q's 100 and 7 -> mode 7, so Q -> R is off. In-off-mode share: Q 1, R 1, S 0, P 0.
    assert_columns(
        ring,
        columns,
        {
            "P": (1.0, 1.0),  # pays Q, R
            "Q": (1.0, 0.5),  # pays R, P
            "R": (0.0, 0.0),  # pays S
            "S": (0.0, 0.0),  # pays P
        },
    )


def test_return_flow_finds_the_shortest_way_back_on_a_ring(ring):
    columns = (
        "reciprocal_counterparties", "cycle3_paths", "cycle4_midpoints", "return_flow_hops", "triangles",
        "clustering", "max_common_counterparties", "triangle_peers", "counterparties",
    )  # fmt: skip
    # Undirected: P-Q, Q-R, R-S, S-P and the chord P-R, shared by triangles P-Q-R and P-R-S.
    assert_columns(
        ring,
        columns,
        {
            "P": (1, 1, 1, 2, 2, 2 / 3, 2, 3, 3),  # Q pays back; P -> R -> S -> P; P -> Q -> R -> S -> P
            "Q": (1, 0, 1, 2, 1, 1.0, 1, 2, 2),
            "R": (0, 1, 1, 3, 2, 2 / 3, 2, 3, 3),  # R -> S -> P -> R; the R -> P row is outside the window
            "S": (0, 1, 1, 3, 1, 1.0, 1, 2, 2),
        },
    )


def test_account_features_name_missing_columns(spark):
    txns = spark.createDataFrame(MULE_TXNS, TXN_SCHEMA)
    accounts = spark.createDataFrame(MULE_ACCOUNTS, ACCOUNT_SCHEMA).drop("bound_msisdn")
    with pytest.raises(
        MissingColumns, match=r"missing columns \['bound_msisdn'\]; present: \['account_id', 'account_type'"
    ):
        account_features(txns, accounts, as_of=AS_OF, window_days=3)


HUB_FORMS = {
    "inlined": lambda df: Hubs.of(df, "node"),  # read once, written into the plan
    "table": lambda df: Hubs.of(df, "node", inline_max=1),  # too many to inline: read once, broadcast
}


@pytest.mark.parametrize("form", sorted(HUB_FORMS))
@pytest.mark.parametrize("how", ["inner", "left"])
def test_a_join_with_hubs_gives_the_rows_of_the_plain_join(spark, how, form):
    """Hub H's rows meet their table row by broadcast, the others by shuffle: the same rows either way, a null
    key and a key missing from the table included, whether the hubs are inlined or broadcast as a table."""
    rows = spark.createDataFrame(
        [("H", 1), ("H", 2), ("H", 3), ("a", 4), ("b", 5), (None, 6), ("z", 7)], "node string, n int"
    )
    table = spark.createDataFrame([("H", "hub"), ("a", "x"), ("b", None), (None, "null key")], "node string, t string")
    hubs = HUB_FORMS[form](spark.createDataFrame([("H",), ("gone",), (None,)], "node string"))
    assert (hubs.keys, hubs.table is None) == ((("H", "gone"), True) if form == "inlined" else (None, False))
    found = join_with_hubs(rows, table, on="node", hubs=hubs, how=how)
    expected = {("H", 1, "hub"), ("H", 2, "hub"), ("H", 3, "hub"), ("a", 4, "x"), ("b", 5, None)}
    if how == "left":
        expected |= {(None, 6, None), ("z", 7, None)}
    assert found.columns == ["node", "n", "t"]
    assert sorted(map(tuple, found.collect()), key=str) == sorted(expected, key=str)
    assert {tuple(r) for r in without_hubs(rows, on="node", hubs=hubs).collect()} == {
        ("a", 4), ("b", 5), (None, 6), ("z", 7)
    }


def test_without_a_hub_the_joins_are_the_plain_ones(spark):
    """No hub: one join and no broadcast of hubs, the rows read once; with one inlined hub, a membership test
    and no broadcast job for the hub keys."""
    rows = spark.createDataFrame([("a", 1), ("b", 2), (None, 3)], "node string, n int")
    table = spark.createDataFrame([("a", "x"), ("b", "y")], "node string, t string")
    none = Hubs.of(spark.createDataFrame([], "node string"), "node")
    assert none.keys == ()
    plain = join_with_hubs(rows, table, on="node", hubs=none, how="left")
    assert "Union" not in plain._jdf.queryExecution().optimizedPlan().toString()
    assert sorted(map(tuple, plain.collect()), key=str) == sorted(
        [("a", 1, "x"), ("b", 2, "y"), (None, 3, None)], key=str
    )
    assert without_hubs(rows, on="node", hubs=none).collect() == rows.collect()
    one = Hubs.of(spark.createDataFrame([("a",)], "node string"), "node")
    plan = join_with_hubs(rows, table, on="node", hubs=one)._jdf.queryExecution().optimizedPlan().toString()
    assert "Union" in plan and "LeftSemi" not in plan and "LeftAnti" not in plan


def test_hubs_change_only_the_searches_that_skip_them(spark, features):
    """With every node of degree 3 or more a hub, the joins keyed by a node take their broadcast path for M, P
    and R; only the payer-link and return-flow searches, which do not pass through hubs, may differ."""
    txns = spark.createDataFrame(MULE_TXNS + RING_TXNS, TXN_SCHEMA)
    accounts = spark.createDataFrame(MULE_ACCOUNTS + RING_ACCOUNTS, ACCOUNT_SCHEMA)
    with_hubs = rows(account_features(txns, accounts, as_of=AS_OF, window_days=3, hub_degree=2))
    searched = {"unrelated_payers", "unrelated_payer_share", "cycle3_paths", "cycle4_midpoints", "return_flow_hops",
                "peers_return_flow_share"}
    same = [c for c in ACCOUNT_FEATURES if c not in searched]
    assert with_hubs.keys() == features.keys()
    for token, values in features.items():
        assert [with_hubs[token][c] for c in same] == pytest.approx([values[c] for c in same], nan_ok=True), token


def test_the_pair_graph_built_apart_gives_the_same_features(spark, features):
    """The feature job builds the window's pair graph once (:func:`money_pairs`) and hands it to the account
    features and the known-fraud ones: with it, the account features are those they compute alone."""
    from features.accounts import money_pairs, window_transactions

    txns = spark.createDataFrame(MULE_TXNS + RING_TXNS, TXN_SCHEMA)
    accounts = spark.createDataFrame(MULE_ACCOUNTS + RING_ACCOUNTS, ACCOUNT_SCHEMA)
    pairs = money_pairs(window_transactions(txns, as_of=AS_OF, window_days=3))
    shared = rows(account_features(txns, accounts, as_of=AS_OF, window_days=3, pairs=pairs))
    assert shared.keys() == features.keys()
    for token, values in features.items():
        assert [shared[token][c] for c in ACCOUNT_FEATURES] == pytest.approx(
            [values[c] for c in ACCOUNT_FEATURES], nan_ok=True
        ), token


def test_the_triangles_are_listed_once_and_counted_as_networkx_does(spark):
    """The per-node triangle table lists the triangles once: its plan closes the wedges with one semi-join and
    reads the oriented edges and the degrees as materialised tables. A union of two readings of the edge
    supports listed them twice, and each side of the wedges oriented the edges and counted the degrees again
    (bench/README.md, "The account features' plan")."""
    import networkx as nx

    from features.accounts import _closed_triangles, _degrees, _triangles

    graph = nx.gnm_random_graph(40, 120, seed=3)
    links = [(f"n{a}", f"n{b}") for a, b in graph.edges()]
    # Any key type: the pair graph keys its nodes by vertex ids (longs); strings here.
    neighbours = spark.createDataFrame(links + [(b, a) for a, b in links], f"{ID} string, peer string")
    degree = _degrees(neighbours)
    found = _triangles(degree, _closed_triangles(neighbours, degree, Hubs(())))
    plan = found._jdf.queryExecution().executedPlan().toString()
    assert plan.count("LeftSemi") == 1, plan
    counted = {row[ID]: row["triangles"] for row in found.collect()}
    assert counted == {f"n{node}": n for node, n in nx.triangles(graph).items() if graph.degree(node)}
