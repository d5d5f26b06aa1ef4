"""Cases: clusters of flagged parties through strong ties, and case ids that last across days."""

from __future__ import annotations

import datetime as dt
import random

import networkx as nx
import pandas as pd
import pytest
from pyspark.sql import functions as F

from cases.clusters import CONNECTOR, FLAGGED, LINKED, clusters, split_parts
from cases.identity import assign_case_ids
from features import graphs as G
from features.common import ENTITY
from fraudgraph.config import GraphConf

KINDS = {"n": G.NUMBER, "a": G.ACCOUNT, "d": G.DEVICE, "i": G.ID_NUMBER}


def ids_of(spark, names: set[str]) -> dict[str, int]:
    """Vertex ids of names whose first letter is the kind (n number, a account, d handset, i ID number)."""
    rows = spark.createDataFrame(pd.DataFrame({"name": sorted(names)}))
    kind = F.substring("name", 1, 1)
    ids = F.coalesce(*[F.when(kind == k, G.vertex(v, "name")) for k, v in KINDS.items()])
    return {r["name"]: r["id"] for r in rows.select("name", ids.alias("id")).collect()}


def run_clusters(spark, flagged: list[str], ties: list[tuple[str, str, str]], **params):
    names = set(flagged) | {t[0] for t in ties} | {t[1] for t in ties}
    vid = ids_of(spark, names)
    name_of = {v: k for k, v in vid.items()}
    flagged_df = spark.createDataFrame([(vid[n],) for n in flagged], "id long")
    ties_df = spark.createDataFrame([(vid[s], vid[d], t) for s, d, t in ties], "src long, dst long, tie string")
    rows = clusters(flagged_df, ties_df, **{"max_members": 50, "max_linked": 10, **params}).collect()
    return {name_of[r["id"]]: r.asDict() for r in rows}


def groups(members: dict[str, dict]) -> set[frozenset[str]]:
    by_cluster: dict[str, set[str]] = {}
    for name, row in members.items():
        by_cluster.setdefault(row["cluster"], set()).add(name)
    return {frozenset(g) for g in by_cluster.values()}


def test_rings_are_grown_through_strong_ties_and_a_shared_victim_does_not_merge_them(spark):
    # n9: an unflagged number on the ring's handset; a8, a9: victims' accounts; a6, a7: nobody flagged.
    ties = [
        ("n1", "d1", "number_device"), ("n2", "d1", "number_device"), ("n9", "d1", "number_device"),
        ("n2", "i1", "number_id"), ("n3", "i1", "number_id"),
        ("a1", "n1", "account_number"), ("a8", "a1", "money"),
        ("n4", "n5", "co_target"), ("a2", "n4", "account_number"),
        ("a9", "a1", "money"), ("a9", "a2", "money"),  # one victim paid both rings
        ("a6", "a7", "money"),
    ]
    members = run_clusters(spark, ["n1", "n2", "n3", "a1", "n4", "n5", "a2", "n6"], ties)

    found = groups(members)
    ring_one = next(g for g in found if "n1" in g)
    assert ring_one - {"a9"} == {"n1", "n2", "n3", "a1", "d1", "i1", "n9", "a8"}
    assert frozenset({"n6"}) in found  # a flagged party with no strong tie is a case of its own
    ring_two = next(g for g in found if "n4" in g)
    assert {"n4", "n5", "a2"} <= ring_two and not ring_two & {"n1", "a1"}
    assert sum("a9" in g for g in found) == 1  # the shared victim joins one ring, merging nothing
    assert "a6" not in members and "a7" not in members
    assert members["d1"]["role"] == CONNECTOR and members["n9"]["role"] == LINKED and members["n1"]["role"] == FLAGGED
    assert members["n2"]["centrality"] > members["n3"]["centrality"]  # n2 ties d1 and i1, n3 only i1
    assert members["n2"]["ties"] == 2 and members["n9"]["ties"] == 1
    assert members["d1"]["kind"] == G.DEVICE and members["a1"]["kind"] == G.ACCOUNT


@pytest.mark.parametrize("shape", ["sparse", "hubby"])
def test_clusters_are_the_components_of_the_core_as_networkx_finds_them(spark, shape):
    rng = random.Random(5 if shape == "sparse" else 6)
    numbers, devices = [f"n{i}" for i in range(60)], [f"d{i}" for i in range(12)]
    ties = [(rng.choice(numbers), rng.choice(numbers), "co_target") for _ in range(25)]
    hub_share = 0.5 if shape == "hubby" else 0.0
    ties += [(rng.choice(numbers), "d0" if rng.random() < hub_share else rng.choice(devices), "number_device") for _ in range(40)]
    ties += [("n0", "n0", "co_target")]  # a self-loop is no tie
    flagged = sorted(rng.sample(numbers, 30))
    members = run_clusters(spark, flagged, ties, max_linked=1000)

    graph = nx.Graph()
    graph.add_nodes_from(flagged)
    connectors = {d for s, d, _ in ties if d.startswith("d") and s in flagged}
    core = set(flagged) | connectors
    graph.add_edges_from((s, d) for s, d, _ in ties if s in core and d in core and s != d)
    expected = {frozenset(c) for c in nx.connected_components(graph)}
    core_groups = {frozenset(n for n in g if members[n]["role"] != LINKED) for g in groups(members)}
    assert core_groups == expected
    linked = {n for n, r in members.items() if r["role"] == LINKED}
    # Unflagged numbers tied to the core (on a connector handset, or co-targeting with a flagged number).
    assert linked == {x for s, d, _ in ties for x, y in ((s, d), (d, s)) if y in core and x not in core and x.startswith("n")}
    # Linked parties are bounded per cluster, the most tied kept; the core does not change.
    capped = run_clusters(spark, flagged, ties, max_linked=2)
    per_cluster = pd.Series([r["cluster"] for r in capped.values() if r["role"] == LINKED]).value_counts()
    assert per_cluster.max() <= 2
    assert {frozenset(n for n in g if capped[n]["role"] != LINKED) for g in groups(capped)} == expected


def test_a_large_cluster_is_split_into_its_communities_and_every_part_is_bounded(spark):
    left, right = [f"n{i}" for i in range(15)], [f"n{i}" for i in range(15, 30)]
    ties = [(a, b, "co_target") for team in (left, right) for i, a in enumerate(team) for b in team[i + 1 :]]
    ties.append(("n0", "n15", "co_target"))
    members = run_clusters(spark, left + right, ties, max_members=20)
    assert groups(members) == {frozenset(left), frozenset(right)}

    # A star has no communities to cut: chunks in breadth-first order, none above the bound, nobody lost.
    edges = pd.DataFrame({"src": [0] * 49, "dst": list(range(1, 50))})
    parts = split_parts(edges, list(range(50)), max_members=20)
    sizes = pd.Series([p for p, _ in parts.values()]).value_counts()
    assert set(parts) == set(range(50)) and sizes.max() <= 20 and len(sizes) == 3
    assert split_parts(edges, list(range(50)), max_members=20) == parts  # the same cut on a re-run


def test_the_split_does_not_depend_on_the_order_the_edges_arrive_in():
    """A component's rows reach its group in shuffle order, which differs between runs and between local
    mode and a cluster; Louvain's cut must not follow it."""
    graph = nx.connected_watts_strogatz_graph(80, 4, 0.3, seed=2)
    edges = pd.DataFrame(list(graph.edges()), columns=["src", "dst"])
    parts = split_parts(edges, list(range(80)), max_members=20)
    assert len({p for p, _ in parts.values()}) > 1
    for seed in range(10):
        assert split_parts(edges.sample(frac=1, random_state=seed), list(range(80)), max_members=20) == parts


def members_of(spark, clusters_: dict[str, list[str]]):
    return spark.createDataFrame([(c, t) for c, tokens in clusters_.items() for t in tokens], f"cluster string, {ENTITY} string")


def as_previous(cases, today):
    """The day's case members, as the next day reads them."""
    return today.join(cases.select("cluster", "case_id", "first_seen"), on="cluster").drop("cluster")


def test_case_ids_survive_a_ring_that_grows_one_that_splits_and_a_merge(spark):
    day1, day2, day3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    today1 = members_of(spark, {"k1": ["a", "b", "c"], "k2": ["d", "e", "f", "g"]})
    cases1, gone1 = assign_case_ids(today1, None, day=day1)
    first = {r["cluster"]: r.asDict() for r in cases1.collect()}
    assert {r["change"] for r in first.values()} == {"new"} and gone1.count() == 0
    ring_a, ring_b = first["k1"]["case_id"], first["k2"]["case_id"]
    assert ring_a != ring_b and ring_a.startswith("C20260301-")

    # Day 2: ring A grows; ring B splits, its larger part keeps the id.
    today2 = members_of(spark, {"x1": ["a", "b", "c", "h"], "x2": ["d", "e", "f"], "x3": ["g", "y"]})
    cases2, gone2 = assign_case_ids(today2, as_previous(cases1, today1), day=day2)
    second = {r["cluster"]: r.asDict() for r in cases2.collect()}
    assert second["x1"]["case_id"] == ring_a and second["x1"]["change"] == "grown"
    assert second["x1"]["first_seen"] == day1 and second["x1"]["previous_members"] == 3
    assert second["x2"]["case_id"] == ring_b and second["x2"]["change"] == "shrunk"
    assert second["x3"]["change"] == "split" and second["x3"]["split_from"] == ring_b
    assert second["x3"]["case_id"].startswith("C20260302-") and second["x3"]["first_seen"] == day2
    assert gone2.count() == 0
    # A re-run of the day gives the same ids.
    again, _ = assign_case_ids(today2, as_previous(cases1, today1), day=day2)
    assert {r["cluster"]: r["case_id"] for r in again.collect()} == {k: v["case_id"] for k, v in second.items()}

    # Day 3: A and B's remainder merge under A's id (more shared members); the split-off part goes quiet.
    today3 = members_of(spark, {"z1": ["a", "b", "c", "h", "d", "e", "f"], "z2": ["q"]})
    cases3, gone3 = assign_case_ids(today3, as_previous(cases2, today2), day=day3)
    third = {r["cluster"]: r.asDict() for r in cases3.collect()}
    assert third["z1"]["case_id"] == ring_a and third["z1"]["change"] == "merged"
    assert third["z1"]["merged_from"] == [ring_b]
    assert third["z2"]["change"] == "new" and third["z2"]["split_from"] is None
    assert {r["case_id"] for r in gone3.collect()} == {second["x3"]["case_id"]}


RING_START = dt.datetime(2026, 3, 1, 10)


def ring_cases(spark, day=dt.date(2026, 3, 2)):
    """Two cases built from hand-made ties: a SIM farm with a mule chain, and a lone flagged number."""
    from cases.assemble import build_cases

    # A SIM farm (n1-n3 on handset d1) whose accounts a1 -> a2 forward money paid in by two victims.
    names_ = {"n1", "n2", "n3", "n4", "a1", "a2", "a8", "a9", "d1"}
    vid = ids_of(spark, names_)
    t0 = RING_START
    ties = [
        ("n1", "d1", "number_device", None, None, None), ("n2", "d1", "number_device", None, None, None),
        ("n3", "d1", "number_device", None, None, None), ("a1", "n1", "account_number", None, None, None),
        ("a8", "a1", "money", 1, 5000.0, t0), ("a9", "a1", "money", 2, 3000.0, t0 + dt.timedelta(hours=2)),
        ("a1", "a2", "money", 1, 7900.0, t0 + dt.timedelta(hours=3)),
    ]
    ties_df = spark.createDataFrame(
        [(vid[s], vid[d], t, n, a, w, w) for s, d, t, n, a, w in ties],
        "src long, dst long, tie string, transfers long, amount double, first_time timestamp_ntz, last_time timestamp_ntz",
    )
    flagged = ["n1", "n2", "n3", "a1", "a2", "n4"]
    members = clusters(spark.createDataFrame([(vid[n],) for n in flagged], "id long"), ties_df, max_members=50, max_linked=10)
    parties = [n for n in names_ if n[0] in "na"]
    names_df = spark.createDataFrame(
        [(vid[n], "msisdn" if n[0] == "n" else "account", f"tok-{n}", f"138****000{n[1]}") for n in parties],
        "id long, entity_type string, entity_token string, masked string",
    )
    scores = spark.createDataFrame(
        [("msisdn" if n[0] == "n" else "account", f"tok-{n}", 0.9 - i / 100, i + 1, [f"reason {n}"]) for i, n in enumerate(flagged)],
        "entity_type string, entity_token string, risk_score double, risk_rank int, reasons array<string>",
    )
    return build_cases(members, ties_df, scores, names_df, None, day=day, max_transfers=2)


def test_a_case_holds_its_members_evidence_and_typology(spark):
    cases, membership, gone = ring_cases(spark)
    t0 = RING_START
    rows = {r["flagged_numbers"] + r["flagged_accounts"]: r.asDict(recursive=True) for r in cases.collect()}
    ring, lone = rows[5], rows[1]
    assert ring["typology"] == "mixed"  # a SIM farm and a mule chain at once
    assert lone["typology"] == "single" and lone["case_rank"] == 2 and ring["case_rank"] == 1
    assert (ring["shared_handsets"], ring["linked"], ring["victims"], ring["loss"]) == (1, 2, 2, 8000.0)
    assert [t["amount"] for t in ring["transfers"]] == [7900.0, 5000.0]  # largest first, at most max_transfers
    assert ring["transfers"][0]["src"] == "tok-a1" and ring["transfers"][0]["dst"] == "tok-a2"
    assert ring["first_time"] == t0 and ring["last_time"] == t0 + dt.timedelta(hours=3)
    assert ring["max_risk"] == pytest.approx(0.9) and ring["risk"] == pytest.approx(1 - 0.1 * 0.11 * 0.12 * 0.13 * 0.14)
    assert lone["risk"] == pytest.approx(lone["max_risk"]) and [m["role"] for m in ring["members"]][:5] == ["flagged"] * 5
    assert ring["members"][0]["entity_token"] == "tok-n1" and ring["members"][0]["reasons"] == ["reason n1"]
    assert ring["members"][0]["masked"] == "138****0001"
    assert len(ring["edges"]) == 7 and gone.count() == 0
    by_token = {r["entity_token"]: r["case_id"] for r in membership.collect()}
    assert by_token["tok-a8"] == by_token["tok-n1"] == ring["case_id"] and by_token["tok-n4"] == lone["case_id"]


def test_the_leak_sources_a_case_dials_from_are_ranked_with_their_lift(spark):
    from cases.assemble import case_sources

    vid = ids_of(spark, {"n1", "n2", "n3", *[f"n{i}" for i in range(10, 30)]})
    membership = spark.createDataFrame([("msisdn", "n1", "C1"), ("msisdn", "n2", "C1"), ("account", "a1", "C1"),
                                        ("msisdn", "n3", "C2")], "entity_type string, entity_token string, case_id string")
    # The ring calls n10-n19; eight of them are in the courier leak, which holds 10 of 100 subscribers.
    calls = [(vid["n1"], vid[f"n{i}"]) for i in range(10, 15)] + [(vid["n2"], vid[f"n{i}"]) for i in range(13, 20)]
    calls += [(vid["n3"], vid["n25"])]
    exposed = [(vid[f"n{i}"], "courier") for i in list(range(10, 18)) + [25, 26]] + [(vid["n10"], "hotel")]
    sources = spark.createDataFrame([("courier", "Courier waybills", "breach"), ("hotel", "Hotel bookings", "breach")],
                                    "source_id string, name string, source_type string")
    rows = case_sources(
        membership, spark.createDataFrame(calls, "src long, dst long"),
        spark.createDataFrame(exposed, "id long, source_id string"), sources, people=100,
    ).collect()
    found = {r["case_id"]: [s.asDict() for s in r["leak_sources"]] for r in rows}
    courier, hotel = found["C1"]
    assert (courier["name"], courier["contacts"], courier["share"]) == ("Courier waybills", 8, 0.8)
    assert courier["lift"] == pytest.approx(0.8 / (10 / 100))
    assert (hotel["source_id"], hotel["contacts"]) == ("hotel", 1)
    assert [s["contacts"] for s in found["C2"]] == [1]


def test_case_ties_build_each_money_and_bridge_edge_once_around_the_flagged(spark):
    """The money and bridge ties touching a flagged party, each once (both ends flagged included), from one
    reading of the window's transfers: the edges are flagged by broadcast lookups of both ends, where a union
    of a join on each end computed the money graph and the bridge events (calls joined with transfers) twice
    (bench/README.md, "The cases' plan"). The ring of tests/test_network.py: F1 and F2 called V1 to V3, whose
    accounts then paid the mule M1 (M1 paid M2, M2 withdrew at an ATM)."""
    from cases.ties import TIE, case_ties
    from features.window import event_window
    from tests.test_network import AS_OF, ring_frames

    f = ring_frames(spark)
    window = event_window(f["calls"], f["sms"], as_of=AS_OF, window_days=2)
    vid = {**{n: G.vertex(G.NUMBER, F.lit(n)) for n in ("F1", "F2")},
           **{a: G.vertex(G.ACCOUNT, F.lit(a)) for a in ("AV1", "AV2", "AV3", "AN1", "M1", "M2", "ATM")}}
    names = spark.range(1).select(*[c.alias(n) for n, c in vid.items()]).first().asDict()
    name_of = {v: k for k, v in names.items()}
    flagged = spark.createDataFrame([(names[n],) for n in ("F1", "M1", "M2")], "id long")
    ties = case_ties(window, f["transactions"], f["subscribers"], f["accounts"], flagged,
                     params=GraphConf()).where(F.col(TIE).isin("money", "bridge"))
    plan = ties._jdf.queryExecution().executedPlan().toString()
    got = sorted((name_of[r[G.SRC]], name_of[r[G.DST]], r[TIE], r["transfers"]) for r in ties.collect())
    assert got == [
        ("AV1", "M1", "money", 1),
        ("AV2", "M1", "money", 1),
        ("AV3", "M2", "money", 1),
        ("F1", "M1", "bridge", 2),  # V1's and V2's accounts paid M1 within a day of F1's calls
        ("F2", "M1", "bridge", 1),  # F2 is not flagged, M1 is; V3's payment to M2 came 26 h after F2's call
        ("M1", "M2", "money", 1),  # both ends flagged: once
        ("M2", "ATM", "money", 1),
    ]
    # The transfers are read once for the money graph and twice for the bridge events (the payers of the
    # flagged accounts, then the transfers the calls around the flagged meet), not once more per end.
    assert plan.count("Scan ExistingRDD[txn_id") == 3, plan
