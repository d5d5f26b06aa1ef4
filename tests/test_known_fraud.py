"""Known-fraud neighbourhood features: a hand-made graph, networkx on random graphs, and leave-self-out.

The random graphs are built from the same transaction rows as the Spark
frames; networkx and plain Python count the seeded neighbours and triangles
(the reference never calls the code under test).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random

import networkx as nx
import pytest

from features.accounts import KNOWN_FRAUD_FEATURES, known_fraud_features, money_pairs
from features.common import ENTITY, MissingColumns

T = dt.datetime(2026, 5, 2, 10)
TXN_SCHEMA = "src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string"
SEED_SCHEMA = "entity_token string"


def txn(src: str | None, dst: str | None, channel: str | None = "online") -> tuple:
    return (src, dst, 100.0, T, channel)


def computed(spark, rows: list[tuple], seeds: set[str | None], *, shared: bool = False) -> dict[str, tuple]:
    """``shared``: with the pair graph built apart (:func:`money_pairs`), as the feature job shares it."""
    transactions = spark.createDataFrame(rows, TXN_SCHEMA)
    seeds_df = spark.createDataFrame([(s,) for s in sorted(seeds, key=str)], SEED_SCHEMA)
    out = known_fraud_features(transactions, seeds_df, pairs=money_pairs(transactions) if shared else None)
    assert out.columns == [ENTITY, *KNOWN_FRAUD_FEATURES]
    return {r[ENTITY]: tuple(r[c] for c in KNOWN_FRAUD_FEATURES) for r in out.collect()}


def assert_same(actual: dict[str, tuple], expected: dict[str, tuple]) -> None:
    assert actual.keys() == expected.keys()
    for token, (peers, share, triangles) in expected.items():
        got_peers, got_share, got_triangles = actual[token]
        assert (got_peers, got_triangles) == (peers, triangles), token
        assert got_share == pytest.approx(share), token


def test_seeded_neighbours_and_triangles_on_a_hand_made_graph(spark):
    rows = [
        txn("A", "B"),
        txn("B", "C", "mobile"),
        txn("C", "A", None),  # no channel: still a transfer
        txn("C", "D"),
        txn("D", "C"),  # both directions: one neighbour
        txn("A", "A"),  # self-transfer: no edge
        txn("E", "T1", "atm"),  # ATM only: no edge, no row for E or T1
        txn(None, "B"),  # null end: no edge
        txn("F", "G"),
        txn("F", "G"),  # repeated: one neighbour
    ]
    # B and D are seeds, Z is no node, the null row is ignored.
    actual = computed(spark, rows, {"B", "D", "Z", None})
    assert_same(
        actual,
        {
            "A": (1, 1 / 2, 1),  # neighbours B (seed), C; triangle A-B-C has seed B
            "B": (0, 0.0, 0),  # a seed itself: its own flag never counts; A, C are not seeds
            "C": (2, 2 / 3, 1),  # B and D of A, B, D; triangle A-B-C has seed B
            "D": (0, 0.0, 0),
            "F": (0, 0.0, 0),
            "G": (0, 0.0, 0),
        },
    )


def test_known_fraud_features_name_missing_columns(spark):
    transactions = spark.createDataFrame([txn("A", "B")], TXN_SCHEMA).drop("channel")
    seeds = spark.createDataFrame([("A",)], SEED_SCHEMA)
    with pytest.raises(MissingColumns, match=r"missing columns \['channel'\]; present: \['amount'"):
        known_fraud_features(transactions, seeds)
    with pytest.raises(MissingColumns, match=r"seeds: missing columns \['entity_token'\]; present: \['id'\]"):
        known_fraud_features(spark.createDataFrame([txn("A", "B")], TXN_SCHEMA), seeds.toDF("id"))


# ---- against networkx on random graphs ----


def random_rows(shape: str, rng: random.Random) -> list[tuple]:
    """Transactions of a random graph of ``shape``, with the edge cases every shape carries."""
    nodes = [f"n{i:02d}" for i in range(24)]
    if shape == "sparse":
        graph = nx.gnm_random_graph(len(nodes), 30, seed=rng.randrange(10**6))
    elif shape == "dense":
        graph = nx.gnp_random_graph(14, 0.5, seed=rng.randrange(10**6))
    elif shape == "hub":
        # a hub paying everyone, plus chords between its payees: triangles through the hub
        graph = nx.star_graph(len(nodes) - 1)
        graph.add_edges_from(rng.sample(list(itertools.combinations(range(1, len(nodes)), 2)), 25))
    else:  # "clustered": small dense communities joined by a few edges
        graph = nx.relaxed_caveman_graph(4, 5, 0.2, seed=rng.randrange(10**6))
    rows = []
    for u, v in graph.edges():
        src, dst = (nodes[u], nodes[v]) if rng.random() < 0.5 else (nodes[v], nodes[u])
        rows.append(txn(src, dst, rng.choice(["online", "mobile", None])))
        if rng.random() < 0.2:
            rows.append(txn(src, dst))  # repeated on the pair
        if rng.random() < 0.2:
            rows.append(txn(dst, src))  # and back
    rows += [
        txn("iso_self", "iso_self"),  # isolated: a self-transfer only
        txn("iso_atm", "ATM9", "atm"),  # isolated: an ATM withdrawal only
        txn("iso_null", None),  # isolated: a null payee
        txn(None, "iso_null"),
        txn(nodes[0], nodes[0]),  # a self-transfer on a graph node
        txn(nodes[1], "ATM9", "atm"),  # an ATM withdrawal is no money edge
    ]
    rng.shuffle(rows)
    return rows


def money_graph(rows: list[tuple]) -> nx.Graph:
    graph = nx.Graph()
    for src, dst, _, _, channel in rows:
        if src is not None and dst is not None and src != dst and channel != "atm":
            graph.add_edge(src, dst)
    return graph


def reference(graph: nx.Graph, seeds: set[str | None]) -> dict[str, tuple]:
    """Per node with a neighbour: seeded neighbours, their share, triangles with another seeded corner."""
    out = {}
    for node in graph.nodes:
        peers = set(graph.neighbors(node))
        seeded = len(peers & seeds)
        triangles = sum(
            1
            for u, w in itertools.combinations(sorted(peers), 2)
            if graph.has_edge(u, w) and (u in seeds or w in seeds)
        )
        out[node] = (seeded, seeded / len(peers), triangles)
    return out


SHAPES = ("sparse", "dense", "hub", "clustered")


@pytest.mark.parametrize("shared", (False, True), ids=("own pairs", "shared pairs"))
@pytest.mark.parametrize("shape", SHAPES)
def test_known_fraud_features_match_networkx(spark, shape, shared):
    rng = random.Random(SHAPES.index(shape))
    rows = random_rows(shape, rng)
    graph = money_graph(rows)
    nodes = sorted(graph.nodes)
    # n00 (the hub of "hub": a seeded neighbour of every payee), a seed that is no node, a null row
    seeds = set(rng.sample(nodes, len(nodes) // 4)) | {"n00", "not-a-node", None}
    expected = reference(graph, seeds)
    # The reference is not trivial: seeded triangles and neighbours occur, in varying numbers.
    assert any(t > 0 for _, _, t in expected.values()) and len({p for p, _, _ in expected.values()}) > 1
    assert not {"iso_self", "iso_atm", "iso_null", "ATM9"} & set(expected)
    assert_same(computed(spark, rows, seeds, shared=shared), expected)


@pytest.mark.parametrize("shape", ("dense", "hub"))
def test_toggling_an_account_own_seed_flag_never_changes_its_own_values(spark, shape):
    """Every node's values with itself a seed equal those with itself not a seed.

    The nodes are toggled one colour class at a time: nodes of one class are
    not neighbours, so no toggled node is a neighbour or a triangle corner of
    another, and a node's values may change only through its own flag.
    """
    rng = random.Random(100 + len(shape))
    rows = random_rows(shape, rng)
    graph = money_graph(rows)
    seeds = set(rng.sample(sorted(graph.nodes), graph.number_of_nodes() // 3))
    base = computed(spark, rows, seeds)
    classes: dict[int, set[str]] = {}
    for node, colour in nx.greedy_color(graph).items():
        classes.setdefault(colour, set()).add(node)
    changed_elsewhere = False
    for toggled in classes.values():
        flipped = computed(spark, rows, seeds ^ toggled)  # seeds become non-seeds and the reverse
        for node in toggled:
            assert flipped[node] == base[node], node
        changed_elsewhere |= any(flipped[n] != base[n] for n in set(base) - toggled)
    # The toggles did reach the features, just never a node's own.
    assert changed_elsewhere
