"""Network features on a hand-made ring: two SIMs on one handset and one ID, two mules, three victims.

Every expected value below was worked out by hand from the frames (see the
comments); none is computed by the code under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from pyspark.sql import functions as F

from features import graphs as G
from features.common import MissingColumns
from features.network import ACCOUNT_NETWORK_FEATURES, PHONE_NETWORK_FEATURES, network_features, seeds_before
from features.window import event_window
from fraudgraph.config import GraphConf

AS_OF = dt.date(2026, 5, 3)
T = dt.datetime
PARAMS = GraphConf(high_volume_contacts=2, co_target_min_overlap=1)


def ring_frames(spark) -> dict:
    """The ring's clean-lake frames: calls, sms, transactions, subscribers, accounts, labels."""
    calls = spark.createDataFrame(
        [
            ("F1", "V1", T(2026, 5, 2, 10), 300, "D1"),
            ("F1", "V2", T(2026, 5, 2, 11), 200, "D1"),
            ("F2", "V2", T(2026, 5, 2, 12), 100, "D1"),
            ("F2", "V3", T(2026, 5, 2, 13), 400, "D2"),
            ("N1", "V1", T(2026, 5, 2, 9), 20, "DN"),  # too short to bridge
            ("V1", "N1", T(2026, 5, 2, 9, 30), 10, "DV1"),
            (None, "V1", T(2026, 5, 2, 9), 30, None),
        ],
        "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string",
    )
    sms = spark.createDataFrame(
        [("F1", "V3", T(2026, 5, 2, 9), True), ("F1", None, T(2026, 5, 2, 9), False)],
        "sender string, receiver string, send_time timestamp_ntz, has_url boolean",
    )
    transactions = spark.createDataFrame(
        [
            ("t1", "AV1", "M1", 1000.0, T(2026, 5, 2, 11), "mobile"),  # 1 h after F1 called V1
            ("t2", "AV2", "M1", 2000.0, T(2026, 5, 2, 14), "mobile"),  # 3 h after F1, 2 h after F2 called V2
            ("t3", "AV3", "M2", 500.0, T(2026, 5, 3, 15), "mobile"),  # 26 h after F2 called V3: no bridge
            ("t4", "M1", "M2", 2500.0, T(2026, 5, 2, 16), "online"),
            ("t5", "M2", "ATM", 3000.0, T(2026, 5, 2, 18), "atm"),
            ("t6", "AN1", "AV1", 50.0, T(2026, 5, 2, 8), "mobile"),
            ("t7", None, "AV1", 10.0, T(2026, 5, 2, 8), "mobile"),
        ],
        "txn_id string, src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string",
    )
    subscribers = spark.createDataFrame(
        [("F1", "I1"), ("F2", "I1"), ("V1", "IV1"), ("V2", "IV2"), ("V3", "IV3"), ("N1", "IN1"), ("X", None)],
        "msisdn string, id_number string",
    )
    old, new = dt.date(2020, 1, 1), dt.date(2026, 4, 20)
    accounts = spark.createDataFrame(
        [
            ("AV1", "IV1", "V1", old),
            ("AV2", "IV2", "V2", old),
            ("AV3", "IV3", "V3", old),
            ("AN1", "IN1", "N1", old),
            ("M1", "IM", "F1", new),
            ("M2", "IM", None, new),
            ("ATM", None, None, old),
        ],
        "account_id string, holder_id_number string, bound_msisdn string, open_date date",
    )
    labels = spark.createDataFrame(
        [
            ("msisdn", "F1", "fraud", T(2026, 5, 1, 10)),
            ("account", "M1", "mule", T(2026, 5, 2, 23)),
            ("account", "M2", "mule", T(2026, 5, 3, 9)),  # on the as-of day: not known yet
            ("msisdn", "F2", "fraud", T(2026, 5, 4, 9)),  # after it
            ("msisdn", "V1", "victim", T(2026, 5, 1, 9)),  # not a seed
            ("msisdn", None, "fraud", T(2026, 5, 1, 9)),
        ],
        "entity_type string, entity_id string, label string, reported_time timestamp_ntz",
    )
    return {"calls": calls, "sms": sms, "transactions": transactions, "subscribers": subscribers,
            "accounts": accounts, "labels": labels}


@pytest.fixture(scope="module")
def ring(spark):
    f = ring_frames(spark)
    out = network_features(
        f["calls"], f["sms"], f["transactions"], f["subscribers"], f["accounts"], f["labels"],
        as_of=AS_OF, window_days=2, params=PARAMS,
    )
    phones = {r["entity_token"]: r.asDict() for r in out.phones.collect()}
    accts = {r["entity_token"]: r.asDict() for r in out.accounts.collect()}
    return out, phones, accts


def pick(rows: dict, token: str, columns: tuple[str, ...]) -> tuple:
    return tuple(rows[token][c] for c in columns)


def test_outputs_follow_the_column_contract(ring):
    out, phones, accounts = ring
    assert out.phones.columns == ["entity_token", *PHONE_NETWORK_FEATURES]
    assert out.accounts.columns == ["entity_token", *ACCOUNT_NETWORK_FEATURES]
    # Every subscriber number and snapshot account in the joint graph (X has no edge), never a handset or an ID.
    assert set(phones) == {"F1", "F2", "V1", "V2", "V3", "N1"}
    assert set(accounts) == {"AV1", "AV2", "AV3", "AN1", "M1", "M2", "ATM"}


def test_seeds_are_only_fraud_and_mules_reported_before_the_as_of_day(spark, ring):
    labels = spark.createDataFrame(
        [
            ("msisdn", "F1", "fraud", T(2026, 5, 2, 23, 59)),
            ("account", "M1", "mule", T(2026, 5, 1)),
            ("account", "M2", "mule", T(2026, 5, 3, 0, 0)),
            ("msisdn", "V1", "victim", T(2026, 5, 1)),
        ],
        "entity_type string, entity_id string, label string, reported_time timestamp_ntz",
    )
    expected = spark.createDataFrame([("F1", "M1")], "number string, account string").select(
        G.vertex(G.NUMBER, "number").alias("id"), G.vertex(G.ACCOUNT, "account").alias("id")
    )
    assert sorted(r["id"] for r in seeds_before(labels, as_of=AS_OF).collect()) == sorted(expected.first())


def test_identity_sharing(ring):
    _, phones, accounts = ring
    columns = ("shared_device_numbers", "device_max_numbers", "id_numbers", "id_accounts", "bound_accounts")
    assert pick(phones, "F1", columns) == (1, 2, 2, 0, 1)  # D1 with F2; I1 holds F1, F2; M1 bound to F1
    assert pick(phones, "F2", columns) == (1, 2, 2, 0, 0)  # D2 is its alone
    assert pick(phones, "V2", columns) == (0, 0, 1, 1, 1)  # never called out; IV2 holds AV2
    assert accounts["M1"]["holder_numbers"] == 0  # IM registers no number
    assert accounts["AV1"]["holder_numbers"] == 1  # IV1 registers V1


def test_neighbourhood_and_known_fraud_contacts(ring):
    _, phones, accounts = ring
    columns = ("contact_mean_degree", "contact_max_degree", "known_fraud_contacts")
    assert pick(phones, "F1", columns) == (2.0, 2, 0)  # V1, V2 both have 2 contacts; F1's own label never counts
    assert pick(phones, "F2", columns) == (1.5, 2, 0)
    assert pick(phones, "V1", columns) == (1.5, 2, 1)  # F1 (2) and N1 (1)
    assert accounts["M2"]["known_mule_counterparties"] == 1  # M1; its own label is on the as-of day
    assert accounts["AV1"]["known_mule_counterparties"] == 1
    assert accounts["M1"]["known_mule_counterparties"] == 0
    # Money neighbours (non-ATM pairs): M2 has AV3 and M1, AV1 has M1 and AN1, M1 has AV1, AV2 and M2.
    columns = ("known_fraud_share", "known_fraud_triangles")
    assert pick(accounts, "M2", columns) == (0.5, 0)
    assert pick(accounts, "AV1", columns) == (0.5, 0)
    assert pick(accounts, "M1", columns) == (0.0, 0)  # its own label never counts
    assert pick(accounts, "AV3", columns) == (0.0, 0)  # M2's label is on the as-of day
    assert pick(accounts, "ATM", columns) == (None, 0)  # no money neighbour: an ATM withdrawal is no edge


def test_co_targeting(ring):
    _, phones, _ = ring
    columns = ("co_target_share", "callees_hit_by_known_fraud_share", "co_target_callers", "co_target_max_overlap")
    assert pick(phones, "F1", columns) == (0.5, 0.0, 1, 1)  # V2 shared with F2; F1 itself is the only fraud caller
    assert pick(phones, "F2", columns) == (0.5, 0.5, 1, 1)  # V2 was also called by known-fraud F1
    assert pick(phones, "N1", columns) == (1.0, 1.0, 0, 0)


def test_propagated_risk_never_counts_a_vertex_own_label(ring):
    _, phones, accounts = ring
    # F1's neighbours: V1, V2, V3 (SMS), D1, I1, M1 -> 1 seed (M1) of 6.
    assert phones["F1"]["risk_1hop"] == pytest.approx(1 / 6)
    # All F1's two-hop risk came back from F1 itself, so it is subtracted to 0.
    assert phones["F1"]["risk_2hop"] == pytest.approx(0.0, abs=1e-12)
    # F2's neighbours V2 .25, V3 .25, D1 .5, D2 0, I1 .5, M1 1/6 (F1 of its 6 neighbours).
    assert phones["F2"]["risk_2hop"] == pytest.approx((0.25 + 0.25 + 0.5 + 0 + 0.5 + 1 / 6) / 6)
    # V1's neighbours: F1 (seed), N1, DV1, IV1, AV1 -> 1 of 5; two hops: F1 1/6 and AV1 1/4 (M1) of 5.
    assert phones["V1"]["risk_1hop"] == pytest.approx(0.2)
    assert phones["V1"]["risk_2hop"] == pytest.approx((1 / 6 + 1 / 4) / 5)
    assert accounts["M1"]["risk_2hop"] == pytest.approx(0.0, abs=1e-12)


def test_strong_tie_components(ring):
    _, phones, accounts = ring
    columns = (
        "component_size", "component_numbers", "component_accounts", "component_devices", "component_ids",
        "component_known_fraud",
    )
    # F1, F2, D1, D2, I1, M1 (bound to F1; bridge from F1 paid by 2), IM, M2 (shared holder; forwarded), ATM.
    assert pick(phones, "F2", columns) == (9, 2, 3, 2, 2, 2)
    assert pick(phones, "F1", columns) == (9, 2, 3, 2, 2, 1)
    assert pick(accounts, "M2", columns) == (9, 2, 3, 2, 2, 2)
    assert pick(phones, "V1", columns) == (4, 1, 1, 1, 1, 0)  # V1, DV1, IV1, AV1: calls are not strong ties
    assert pick(phones, "V2", columns) == (3, 1, 1, 0, 1, 0)


def test_money_bridges(ring):
    _, phones, accounts = ring
    columns = (
        "bridge_payers", "bridge_accounts", "bridge_amount", "bridge_fresh_accounts", "bridge_payer_share",
        "bridge_min_lag_h",
    )
    assert pick(phones, "F1", columns) == (2, 1, 3000.0, 1, 1.0, 1.0)
    assert pick(phones, "F2", columns) == (1, 1, 2000.0, 1, 0.5, 2.0)  # V3 paid 26 h later: too late
    assert pick(phones, "N1", columns) == (0, 0, 0.0, 0, None, None)
    columns = (
        "bridge_callers", "bridge_payers", "bridge_payers_high_volume_caller", "bridge_payers_known_fraud_caller",
        "bridge_payer_share",
    )
    assert pick(accounts, "M1", columns) == (2, 2, 2, 2, 1.0)
    assert pick(accounts, "M2", columns) == (0, 0, 0, 0, None)


def test_bridge_events_need_a_long_enough_call_before_the_transfer(spark, ring):
    out, _, _ = ring
    calls = spark.createDataFrame(
        [("X", "P", T(2026, 5, 2, 10), 59, None), ("Y", "P", T(2026, 5, 2, 13), 600, None)],
        "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string",
    )
    transactions = spark.createDataFrame(
        [("t", "AP", "A", 5.0, T(2026, 5, 2, 12), "mobile")],
        "txn_id string, src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string",
    )
    accounts = spark.createDataFrame(
        [("AP", None, "P", dt.date(2020, 1, 1))], "account_id string, holder_id_number string, bound_msisdn string, open_date date"
    )
    no_sms = spark.createDataFrame([], "sender string, receiver string, send_time timestamp_ntz, has_url boolean")
    window = event_window(calls, no_sms, as_of=AS_OF, window_days=2)
    events = G.bridge_events(window.calls, transactions, accounts, hours=24, min_duration_s=60)
    assert events.count() == 0  # X's call is too short, Y called after the transfer


def test_bridge_events_around_a_few_vertices_are_those_of_all_events_that_touch_them(spark):
    """Built around a set of vertices, the events whose caller or receiving account is in the set are every
    such event of the whole window's, to the row (the shortest lag of several calls included); only those
    calls meet the transfers. A random window, three sets: callers only, accounts only, both."""
    import random

    rnd = random.Random(7)
    numbers = [f"N{i}" for i in range(30)]
    accounts = [f"A{i}" for i in range(24)]
    calls = spark.createDataFrame(
        [(rnd.choice(numbers), rnd.choice(numbers), T(2026, 5, 2, rnd.randrange(24), rnd.randrange(60)),
          rnd.choice([30, 90, 300]), None) for _ in range(400)],
        "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string",
    )
    transactions = spark.createDataFrame(
        [(f"t{i}", rnd.choice(accounts), rnd.choice(accounts), float(rnd.randrange(1, 500)),
          T(2026, 5, rnd.choice([2, 3]), rnd.randrange(24)), "mobile") for i in range(150)],
        "txn_id string, src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string",
    )
    # Accounts bound to the first 20 numbers (N0 to two of them), the last four to none.
    bound = [numbers[0]] + numbers[:19] + [None] * 4
    accounts_df = spark.createDataFrame(
        [(a, None, n, dt.date(2020, 1, 1)) for a, n in zip(accounts, bound)],
        "account_id string, holder_id_number string, bound_msisdn string, open_date date",
    )
    no_sms = spark.createDataFrame([], "sender string, receiver string, send_time timestamp_ntz, has_url boolean")
    window = event_window(calls, no_sms, as_of=AS_OF, window_days=2)
    everything = G.bridge_events(window.calls, transactions, accounts_df, hours=6, min_duration_s=60).cache()
    assert everything.count() > 50  # enough events for the comparison to mean something
    for near, near_accounts in ((["N3", "N7", "N25"], []), ([], ["A2", "A5", "A17"]), (["N1"], ["A0"])):
        ids = spark.createDataFrame([(n,) for n in near], "t string").select(G.vertex(G.NUMBER, "t").alias("id"))
        ids = ids.unionByName(
            spark.createDataFrame([(a,) for a in near_accounts], "t string").select(G.vertex(G.ACCOUNT, "t").alias("id"))
        )
        around = G.bridge_events(window.calls, transactions, accounts_df, hours=6, min_duration_s=60, around=ids)
        vids = [r["id"] for r in ids.collect()]

        def touching(df):
            rows = df.where(F.col(G.SRC).isin(vids) | F.col(G.DST).isin(vids)).collect()
            return sorted(tuple(r) for r in rows)

        expected = touching(everything)
        assert expected, (near, near_accounts)  # the set touches some events
        assert touching(around) == expected, (near, near_accounts)
        assert around.count() <= everything.count()
    everything.unpersist()


def test_missing_columns_are_named(spark):
    calls = spark.createDataFrame([("A", "B")], "caller string, callee string")
    with pytest.raises(MissingColumns, match=r"missing columns \['start_time'.*present: \['callee', 'caller'\]"):
        event_window(calls, calls, as_of=AS_OF, window_days=2)


def test_call_graph_sums_each_direction_from_the_keyed_calls(spark):
    calls = spark.createDataFrame(
        [
            ("A", "B", T(2026, 5, 2, 10), 60, "I1"),
            ("A", "B", T(2026, 5, 3, 9), 0, "I1"),
            ("B", "A", T(2026, 5, 3, 8), 30, "I2"),
            ("A", "A", T(2026, 5, 3, 7), 5, "I1"),  # to itself: a self-loop edge
            ("A", None, T(2026, 5, 3, 7), 5, "I1"),  # no callee: no edge
            ("A", "B", T(2026, 4, 30, 7), 5, "I1"),  # before the 2-day window
        ],
        "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string",
    )
    no_sms = spark.createDataFrame([], "sender string, receiver string, send_time timestamp_ntz, has_url boolean")
    window = event_window(calls, no_sms, as_of=AS_OF, window_days=2)
    names = spark.createDataFrame([("A",), ("B",)], "token string").select("token", G.vertex(G.NUMBER, "token").alias("v"))
    edges = (
        G.call_graph(window.calls)
        .join(names.select(F.col("v").alias(G.SRC), F.col("token").alias("from")), on=G.SRC)
        .join(names.select(F.col("v").alias(G.DST), F.col("token").alias("to")), on=G.DST)
    )
    got = {(r["from"], r["to"]): (r["calls"], r["answered"], r["duration_s"], r["first_time"], r["last_time"]) for r in edges.collect()}
    assert got == {
        ("A", "B"): (2, 1, 60, T(2026, 5, 2, 10), T(2026, 5, 3, 9)),
        ("B", "A"): (1, 1, 30, T(2026, 5, 3, 8), T(2026, 5, 3, 8)),
        ("A", "A"): (1, 1, 5, T(2026, 5, 3, 7), T(2026, 5, 3, 7)),
    }
    # The pairs hold the two directions of A-B once, never the self-call.
    assert window.pairs.count() == 1
    assert window.handsets.count() == 2


def test_propagation_reads_the_joint_graph_where_it_lies_and_matches_networkx(spark):
    """With the joint graph materialised clustered by ``dst``, the propagated risk shuffles only the two hops'
    partial sums (by ``src``): the degrees and the second hop's join read the edges where they lie, not sorted
    again (the 10M window shuffled its 6.85M edges by ``dst`` once per hop; bench/README.md, "The phone
    features' plan"), and the first hop meets the seeds by broadcast. The values are the definitions' on a
    random graph with a hub, computed with networkx: the mean seed flag of the neighbours, and the mean over
    neighbours u of the seed flags of u's other neighbours."""
    import networkx as nx

    from features.common import JOIN_HUB_DEGREE
    from features.network import _propagation

    graph = nx.gnm_random_graph(300, 900, seed=5)
    graph.add_edges_from((0, n) for n in range(300, 300 + JOIN_HUB_DEGREE + 20))  # a hub, joined by broadcast
    seeds = {n for n in graph if n % 7 == 3}
    edges = spark.createDataFrame([(a, b) for a, b in graph.edges()] + [(4, 4)], "src long, dst long")
    previous = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # joins as on large tables
    try:
        joint = G.undirected(edges, clustered_by=G.DST).cache()
        found = _propagation(joint, spark.createDataFrame([(s,) for s in sorted(seeds)], "id long"))
        plan = found._jdf.queryExecution().executedPlan().toString()
        got = {r["id"]: (r["risk_1hop"], r["risk_2hop"]) for r in found.collect()}
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", previous)
    # Each shuffle once (a cached table's plan is drawn under every reading of it): the joint graph's own
    # clustering by dst, then the two hops' partial means by src; the only sort by dst is the clustering's.
    shuffles = {re.search(r"Exchange hashpartitioning\((\w+)#.*plan_id=(\d+)", line).groups()
                for line in plan.splitlines() if "Exchange hashpartitioning" in line}
    assert sorted(key for key, _ in shuffles) == ["dst", "src", "src"], plan
    assert len({line.split("- ", 1)[-1] for line in plan.splitlines() if "Sort [dst#" in line}) == 1, plan
    assert "LeftSemi, BuildRight" in plan, plan  # the edges to a seed, kept where they lie

    flag = {n: int(n in seeds) for n in graph}
    expected = {}
    for v in graph:
        if not graph.degree(v):
            continue
        peers = list(graph.neighbors(v))
        two_hops = [sum(flag[w] for w in graph.neighbors(u) if w != v) / graph.degree(u) for u in peers]
        expected[v] = (sum(flag[u] for u in peers) / len(peers), sum(two_hops) / len(peers))
    assert got.keys() == expected.keys()
    for v, (one, two) in expected.items():
        assert got[v] == pytest.approx((one, two), abs=1e-12), v


def test_the_contact_features_match_networkx_on_a_random_call_graph_with_a_hub(spark):
    """The per-number sums of the window's contacts, the peers' degrees and the co-targeting overlaps (each
    unordered pair of callers counted once, credited to both) as networkx gives them by their definitions,
    on a random call graph with a hub whose rows meet by broadcast. Joins as on large tables."""
    import networkx as nx

    from features.common import JOIN_HUB_DEGREE
    from features.network import _contact_features

    calls_graph = nx.gnm_random_graph(200, 700, seed=3, directed=True)
    calls_graph.add_edges_from((0, n) for n in range(200, 200 + JOIN_HUB_DEGREE + 10))  # a hub, met by broadcast
    rows = [(f"N{a}", f"N{b}", T(2026, 5, 2 + (a + b) % 2, 10), (a * b) % 90, "D") for a, b in calls_graph.edges()]
    calls = spark.createDataFrame(rows, "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string")
    no_sms = spark.createDataFrame([], "sender string, receiver string, send_time timestamp_ntz, has_url boolean")
    previous = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # joins as on large tables
    try:
        window = event_window(calls, no_sms, as_of=AS_OF, window_days=2)
        params = dataclasses.replace(PARAMS, co_target_min_overlap=2)  # some pairs reach it, some do not
        per_number, _, overlaps = _contact_features(window, spark.createDataFrame([], "id long"), params)
        names = spark.createDataFrame([(f"N{n}",) for n in calls_graph], "token string").select(
            "token", G.vertex(G.NUMBER, "token").alias("id")
        )
        degrees = {r["token"]: r.asDict() for r in per_number.join(names, on="id").collect()}
        sums = {r["token"]: r.asDict() for r in window.numbers.join(names, on="id").collect()}
        overlap_rows = overlaps.join(names, on="id").collect()
        overlap = {r["token"]: r["co_target_max_overlap"] for r in overlap_rows}
        co_callers = {r["token"]: r["co_target_callers"] for r in overlap_rows}
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", previous)
    undirected = calls_graph.to_undirected()
    for n in calls_graph:
        if not undirected.degree(n):
            continue
        token, peers = f"N{n}", [undirected.degree(p) for p in undirected.neighbors(n)]
        out, into = set(calls_graph.successors(n)), set(calls_graph.predecessors(n))
        assert (sums[token]["contacts"], sums[token]["out_distinct"], sums[token]["in_distinct"]) == (
            len(out | into), len(out), len(into)
        ), token
        assert sums[token]["reciprocal_contacts"] == len(out & into), token
        assert sums[token]["in_calls"] == len(into), token  # one call per directed edge
        assert degrees[token]["contact_max_degree"] == max(peers), token
        assert degrees[token]["contact_mean_degree"] == pytest.approx(sum(peers) / len(peers), abs=1e-12), token
    # Co-targeting among high-volume callers (2+ distinct callees) of callees with 2..50 such callers.
    hv = {n for n in calls_graph if calls_graph.out_degree(n) >= params.high_volume_contacts}
    shared = {}
    for callee in calls_graph:
        callers = sorted(hv & set(calls_graph.predecessors(callee)))
        if 2 <= len(callers) <= params.co_target_max_callers:
            for i, a in enumerate(callers):
                for b in callers[i + 1 :]:
                    shared[a, b] = shared.get((a, b), 0) + 1
    expected, expected_callers = {}, {}
    for (a, b), k in shared.items():
        for n in (a, b):
            expected[f"N{n}"] = max(expected.get(f"N{n}", 0), k)
            expected_callers[f"N{n}"] = expected_callers.get(f"N{n}", 0) + (k >= params.co_target_min_overlap)
    assert overlap == expected
    # The other half of the same aggregation: the callers sharing enough callees with each one.
    assert co_callers == expected_callers
    assert any(expected_callers.values()) and not all(expected_callers.values())
