"""Graph algorithms checked against networkx on seeded graphs of several shapes.

The networkx graphs are built from the same edge lists as the Spark frames,
never from the code under test. Each Spark call covers several shapes at once
(a disjoint union of them) because every iteration is a Spark job.
"""

from __future__ import annotations

import random
from collections import defaultdict

import networkx as nx
import pytest

from features.common import MissingColumns
from features.graph_algos import COMPONENT, ID, RANK, connected_components, pagerank

EDGES = "src string, dst string"
WEIGHTED_EDGES = "src string, dst string, amount double"
VERTICES = "id string"
# Edge rows with a null endpoint are dropped whole: these two tokens are no vertex.
NULL_EDGES = [(None, "ghost-a"), ("ghost-b", None)]
# networkx's default, given to both sides: the same iterates in a third of the Spark jobs of 1e-9.
TOL = 1e-6


def tokens(rng: random.Random, n: int) -> list[str]:
    """n distinct random tokens: random ids, so string order is unrelated to graph shape."""
    out: set[str] = set()
    while len(out) < n:
        out.add(f"{rng.getrandbits(40):010x}")
    return sorted(out, key=lambda _: rng.random())


def mixed_graph(seed: int, n: int = 1000) -> tuple[list[str], list[tuple[str, str]]]:
    """Listed vertices and directed edges: a sparse Erdős–Rényi graph on n vertices (some
    isolated, some dangling), self-loops (one on a vertex with no other edge), parallel edges,
    and small separate cycles whose vertices appear only in edges.

    A thousand vertices rather than tens: PageRank stops at an L1 change below N * tol, so a
    larger N needs fewer iterations (Spark jobs) for the same per-vertex precision."""
    rng = random.Random(seed)
    names = tokens(rng, n + 9)
    er = nx.gnp_random_graph(n, 1.6 / n, seed=seed, directed=True)
    edges = [(names[u], names[v]) for u, v in er.edges()]
    vertices = names[: n + 3]  # the last three have no edge at all
    edges += [(v, v) for v in rng.sample(names[:n], 3)] + [(names[n + 3], names[n + 3])]
    edges += rng.sample(edges, 6)  # parallel edges
    a, b, c, d, e = names[n + 4 :]
    edges += [(a, b), (b, c), (c, a), (d, e), (e, d)]
    rng.shuffle(edges)
    return vertices, edges


def edges_frame(spark, edges):
    return spark.createDataFrame([*edges, *NULL_EDGES], EDGES)


def vertices_frame(spark, vertices):
    return spark.createDataFrame([(v,) for v in [*vertices, None]], VERTICES)


def assert_components_match(components_df, graph: nx.Graph) -> None:
    rows = [(r[ID], r[COMPONENT]) for r in components_df.collect()]
    assert sorted(i for i, _ in rows) == sorted(graph.nodes)
    members = defaultdict(set)
    for vertex, component in rows:
        members[component].add(vertex)
    assert {frozenset(m) for m in members.values()} == {frozenset(c) for c in nx.connected_components(graph)}
    assert all(component == min(m) for component, m in members.items())


def summed_digraph(vertices, weighted_edges) -> nx.DiGraph:
    """A DiGraph whose edge weight is the sum over parallel edges."""
    graph = nx.DiGraph()
    graph.add_nodes_from(vertices)
    for src, dst, weight in weighted_edges:
        graph.add_nodes_from((src, dst))
        previous = graph.get_edge_data(src, dst, {"weight": 0.0})["weight"]
        graph.add_edge(src, dst, weight=previous + weight)
    return graph


def assert_ranks_match(ranks_df, expected: dict[str, float]) -> None:
    ranks = {r[ID]: r[RANK] for r in ranks_df.collect()}
    assert ranks.keys() == expected.keys()
    for vertex, rank in expected.items():
        assert ranks[vertex] == pytest.approx(rank, abs=1e-6), vertex
    assert sum(ranks.values()) == pytest.approx(1.0, abs=1e-9)


def test_components_match_networkx_on_sparse_graph_with_loops_and_pieces(spark):
    vertices, edges = mixed_graph(seed=7)
    graph = nx.Graph()
    graph.add_nodes_from(vertices)
    graph.add_edges_from(edges)

    out = connected_components(edges_frame(spark, edges), vertices_frame(spark, vertices))

    assert out.columns == [ID, COMPONENT]
    assert_components_match(out, graph)


def test_components_absorb_a_high_degree_hub_and_a_long_chain(spark):
    rng = random.Random(11)
    names = tokens(rng, 5_200)
    hub = "8" + "0" * 9  # about half of the spokes sort before it, half after
    spokes, chain = names[:5_000], names[5_000:]
    edges = [(hub, s) if i % 2 else (s, hub) for i, s in enumerate(spokes)]
    edges += list(zip(chain, chain[1:], strict=False))  # 200 vertices in random id order
    graph = nx.Graph(edges)

    out = connected_components(spark.createDataFrame(edges, EDGES), checkpoint_every=3)

    assert_components_match(out, graph)


def test_pagerank_matches_networkx_with_self_loops_parallel_edges_and_dangling_vertices(spark):
    vertices, edges = mixed_graph(seed=3)
    expected = nx.pagerank(summed_digraph(vertices, [(s, d, 1.0) for s, d in edges]), tol=TOL)

    out = pagerank(edges_frame(spark, edges), vertices_frame(spark, vertices), tol=TOL)

    assert out.columns == [ID, RANK]
    assert_ranks_match(out, expected)


def test_weighted_pagerank_sums_parallel_edge_weights_like_networkx(spark):
    vertices, edges = mixed_graph(seed=5)
    rng = random.Random(5)
    weighted = [(s, d, float(rng.randint(1, 500))) for s, d in edges]
    # a row without a weight carries no rank, but its endpoints stay vertices
    unweighted_only = "zz-unweighted"
    edges_df = spark.createDataFrame(
        [*weighted, (unweighted_only, vertices[0], None), (None, "ghost-a", 1.0)], WEIGHTED_EDGES
    )
    expected = nx.pagerank(summed_digraph([*vertices, unweighted_only], weighted), tol=TOL)

    out = pagerank(edges_df, vertices_frame(spark, vertices), weight_col="amount", tol=TOL)

    assert_ranks_match(out, expected)


def test_personalised_pagerank_restarts_at_the_seeds_like_networkx(spark):
    vertices, edges = mixed_graph(seed=3)
    linked = sorted({s for s, _ in edges})
    isolated = vertices[-1]  # no edge: dangling, its mass goes back to the seeds
    seeds = {linked[0]: 2.0, linked[1]: 1.0, isolated: 1.0}
    personalisation = [
        (linked[0], 1.5),
        (linked[0], 0.5),  # repeated ids add up
        (linked[1], 1.0),
        (isolated, 1.0),
        ("not-a-vertex", 5.0),  # ignored, as networkx ignores nodes not in the graph
        (linked[2], None),
        (None, 3.0),
    ]
    expected = nx.pagerank(
        summed_digraph(vertices, [(s, d, 1.0) for s, d in edges]), personalization=seeds, tol=TOL
    )

    out = pagerank(
        edges_frame(spark, edges),
        vertices_frame(spark, vertices),
        personalisation_df=spark.createDataFrame(personalisation, "id string, weight double"),
        tol=TOL,
    )

    assert_ranks_match(out, expected)


def test_personalised_pagerank_without_seeds_gives_every_vertex_rank_zero(spark):
    edges_df = spark.createDataFrame([("a", "b"), ("b", "c")], EDGES)
    no_seeds = spark.createDataFrame([], "id string, weight double")

    out = pagerank(edges_df, spark.createDataFrame([("d",)], VERTICES), personalisation_df=no_seeds)

    assert sorted((r[ID], r[RANK]) for r in out.collect()) == [("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0)]


def test_empty_edges_leave_every_vertex_its_own_component_and_uniform_rank(spark):
    edges_df = spark.createDataFrame([], EDGES)
    vertices_df = spark.createDataFrame([("b",), ("a",), ("c",), (None,)], VERTICES)

    components = connected_components(edges_df, vertices_df)
    ranks = pagerank(edges_df, vertices_df)

    assert sorted(tuple(r) for r in components.collect()) == [("a", "a"), ("b", "b"), ("c", "c")]
    assert {r[ID]: r[RANK] for r in ranks.collect()} == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert connected_components(edges_df).collect() == []
    assert pagerank(edges_df).collect() == []


def test_not_converging_within_max_iterations_raises(spark):
    chain = "gaebfcdh"  # a path whose ids zigzag: three iterations to a star
    edges_df = spark.createDataFrame(list(zip(chain[:-1], chain[1:], strict=True)), EDGES)

    with pytest.raises(RuntimeError, match="did not converge in 1 iterations"):
        connected_components(edges_df, max_iterations=1)
    with pytest.raises(RuntimeError, match="did not converge in 1 iterations"):
        pagerank(edges_df, max_iterations=1)


def test_missing_columns_are_named_with_the_present_ones(spark):
    edges_df = spark.createDataFrame([("a", "b")], "src string, to string")
    good_edges_df = spark.createDataFrame([("a", "b")], EDGES)

    with pytest.raises(MissingColumns, match=r"missing columns \['dst'\]; present: \['src', 'to'\]"):
        connected_components(edges_df)
    with pytest.raises(MissingColumns, match=r"missing columns \['amount'\]; present: \['dst', 'src'\]"):
        pagerank(good_edges_df, weight_col="amount")
    with pytest.raises(MissingColumns, match=r"pagerank personalisation: missing columns \['weight'\]"):
        pagerank(good_edges_df, personalisation_df=spark.createDataFrame([("a",)], VERTICES))


def test_integer_ids_stay_integers_and_negative_ids_order_as_numbers(spark):
    # Vertex ids of kinds 2 and 3 are negative longs; the component is the numerically smallest id.
    rng = random.Random(11)
    ids = [rng.randint(-(2**63), 2**63 - 1) for _ in range(40)]
    edges = [(ids[i], ids[i + 1]) for i in range(0, 19)] + [(ids[i], ids[i + 1]) for i in range(20, 39)]
    edges_df = spark.createDataFrame(edges, "src long, dst long")
    vertices_df = spark.createDataFrame([(7,)], "id int")  # an isolated vertex, given as int

    out = connected_components(edges_df, vertices_df)

    assert dict(out.dtypes) == {ID: "bigint", COMPONENT: "bigint"}
    graph = nx.Graph(edges)
    graph.add_node(7)
    expected = {v: min(c) for c in nx.connected_components(graph) for v in c}
    assert {r[ID]: r[COMPONENT] for r in out.collect()} == expected
