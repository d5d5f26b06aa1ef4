"""Flagged parties grouped into clusters through strong ties: Spark for the graph, networkx inside each cluster.

A cluster starts from the day's flagged parties (numbers and accounts scored
above the threshold or in the top k) and the strong ties of the window
(:data:`TIES`: shared handsets and registered ID numbers, money between
accounts, call-then-transfer bridges, co-targeting of the same people):

1. **connectors**: handsets and ID numbers tied to a flagged party. They join
   the parties that share them, and are the evidence of it;
2. **core**: the flagged parties and the connectors; the clusters are the
   connected components of the ties between core vertices (large-star /
   small-star on Spark, ``features.graph_algos.connected_components``);
3. **split**: a component with more than ``max_members`` core vertices is cut
   into communities by networkx's Louvain method (seeded, so re-runs cut the
   same way), again until every part fits, and as a last resort into chunks
   in breadth-first order. Each part is a cluster. Inside each cluster the
   members' degree centrality says who is central. This runs per component
   on the executors (``applyInPandas``), never on the driver;
4. **linked parties**: numbers and accounts that are not flagged but have a
   strong tie to the core (a victim paying a mule, a number on a ring's
   handset) join the cluster they have most ties to, at most ``max_linked``
   per cluster, most tied first. They never join two clusters together: a
   victim paid by two rings does not merge them.

Output, one row per member (:data:`MEMBER`): ``cluster`` (a key for the day;
:mod:`cases.identity` gives the lasting case id), the vertex ``id``,
``kind`` (0 number, 1 account, 2 handset, 3 ID number), ``role``
(``flagged``, ``connector`` or ``linked``), ``centrality`` and ``ties``.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features import graphs as G
from features.common import require_columns
from features.graph_algos import connected_components

ID = "id"
TIE = "tie"
TIES = (G.SRC, G.DST, TIE)
CLUSTER = "cluster"
MEMBER = (CLUSTER, ID, "kind", "role", "centrality", "ties")
FLAGGED, CONNECTOR, LINKED = "flagged", "connector", "linked"
CONNECTOR_KINDS = (G.DEVICE, G.ID_NUMBER)
PARTY_KINDS = (G.NUMBER, G.ACCOUNT)

_PARTS = T.StructType(
    [
        T.StructField("component", T.LongType()),
        T.StructField(ID, T.LongType()),
        T.StructField("part", T.IntegerType()),
        T.StructField("centrality", T.DoubleType()),
    ]
)


def _both_ways(ties: DataFrame) -> DataFrame:
    """Each tie in both directions, self-loops and nulls dropped; one row per (src, dst, tie)."""
    kept = ties.select(G.SRC, G.DST, TIE).where(F.col(G.SRC).isNotNull() & F.col(G.DST).isNotNull() & (F.col(G.SRC) != F.col(G.DST)))
    return kept.unionByName(kept.select(F.col(G.DST).alias(G.SRC), F.col(G.SRC).alias(G.DST), TIE)).distinct()


def split_parts(edges: pd.DataFrame, vertices: list[int], max_members: int, seed: int = 0) -> dict[int, tuple[int, float]]:
    """Per vertex: (part, degree centrality within its part). Parts hold at most ``max_members`` vertices.

    Louvain communities of the component (networkx, seeded), again on any community still too large, and
    chunks in breadth-first order when Louvain cannot cut further. Parts are numbered by their smallest vertex.
    """
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(vertices)
    # In a fixed order: Louvain's seeded moves follow the adjacency order, and the rows of a component come
    # in whatever order the shuffle delivers them (another on a cluster than in local mode).
    graph.add_edges_from(sorted(edges[[G.SRC, G.DST]].itertuples(index=False, name=None)))
    pending, parts = [set(graph.nodes)], []
    while pending:
        group = pending.pop()
        if len(group) <= max_members:
            parts.append(group)
            continue
        sub = graph.subgraph(group)
        communities = nx.community.louvain_communities(sub, seed=seed) if sub.number_of_edges() else [group]
        if len(communities) > 1:
            pending.extend(set(c) for c in communities)
            continue
        start = min(group)
        order = [*nx.bfs_tree(sub, start)] if sub.number_of_edges() else []
        order += sorted(group - set(order))
        parts.extend(set(order[i : i + max_members]) for i in range(0, len(order), max_members))
    out: dict[int, tuple[int, float]] = {}
    for number, part in enumerate(sorted(parts, key=min)):
        centrality = nx.degree_centrality(graph.subgraph(part)) if len(part) > 1 else {next(iter(part)): 0.0}
        for vertex in part:
            out[vertex] = (number, float(centrality[vertex]))
    return out


def clusters(flagged: DataFrame, ties: DataFrame, *, max_members: int, max_linked: int, seed: int = 0) -> DataFrame:
    """Member rows (:data:`MEMBER`) of the clusters of ``flagged`` (column ``id``: vertex ids of
    ``features.graphs``) through ``ties`` (:data:`TIES`)."""
    require_columns(flagged, (ID,), "clusters flagged")
    require_columns(ties, TIES, "clusters ties")
    flagged_ids = flagged.select(ID).where(F.col(ID).isNotNull()).distinct().cache()
    both = _both_ways(ties).cache()
    connectors = (
        both.join(flagged_ids.withColumnRenamed(ID, G.SRC), on=G.SRC)
        .where(G.kind_of(G.DST).isin(list(CONNECTOR_KINDS)))
        .select(F.col(G.DST).alias(ID))
        .distinct()
    )
    core = flagged_ids.withColumn("role", F.lit(FLAGGED)).unionByName(
        connectors.join(flagged_ids, on=ID, how="left_anti").withColumn("role", F.lit(CONNECTOR))
    ).cache()
    core_ids = core.select(ID)
    core_edges = (
        both.join(core_ids.withColumnRenamed(ID, G.SRC), on=G.SRC)
        .join(core_ids.withColumnRenamed(ID, G.DST), on=G.DST)
        .where(F.col(G.SRC) < F.col(G.DST))
        .select(G.SRC, G.DST)
        .distinct()
        .cache()
    )
    components = connected_components(core_edges, core_ids)

    def cut(pdf: pd.DataFrame) -> pd.DataFrame:
        vertices = sorted(set(pdf.loc[pdf["is_vertex"], G.SRC]))
        parts = split_parts(pdf.loc[~pdf["is_vertex"]], vertices, max_members, seed)
        return pd.DataFrame(
            {
                "component": pdf["component"].iloc[0],
                ID: list(parts),
                "part": [p for p, _ in parts.values()],
                "centrality": [c for _, c in parts.values()],
            }
        )

    # One frame per component: its vertices (src = dst = the vertex) and its edges. No null in a long
    # column: pandas would turn it into a float and lose the low bits of 64-bit ids.
    grouped = components.select("component", F.col(ID).alias(G.SRC), F.col(ID).alias(G.DST), F.lit(True).alias("is_vertex")).unionByName(
        core_edges.join(components.withColumnRenamed(ID, G.SRC), on=G.SRC).select("component", G.SRC, G.DST, F.lit(False).alias("is_vertex"))
    )
    parts = grouped.groupBy("component").applyInPandas(cut, _PARTS)
    key = F.concat_ws("-", F.col("component").cast("string"), F.col("part").cast("string"))
    core_members = (
        parts.join(core, on=ID)
        .select(key.alias(CLUSTER), ID, "role", "centrality")
        .cache()
    )
    tie_counts = (
        core_edges.select(F.explode(F.array(G.SRC, G.DST)).alias(ID)).groupBy(ID).agg(F.count(F.lit(1)).alias("ties"))
    )
    # Unflagged numbers and accounts tied to the core: each to the cluster it has most ties to.
    linked = (
        both.join(core_members.select(F.col(ID).alias(G.SRC), CLUSTER), on=G.SRC)
        .where(G.kind_of(G.DST).isin(list(PARTY_KINDS)))
        .join(core_ids.withColumnRenamed(ID, G.DST), on=G.DST, how="left_anti")
        .groupBy(F.col(G.DST).alias(ID), CLUSTER)
        .agg(F.countDistinct(G.SRC).alias("ties"))
        .withColumn("_best", F.row_number().over(Window.partitionBy(ID).orderBy(F.col("ties").desc(), F.col(CLUSTER))))
        .where(F.col("_best") == 1)
        .withColumn("_rank", F.row_number().over(Window.partitionBy(CLUSTER).orderBy(F.col("ties").desc(), F.col(ID))))
        .where(F.col("_rank") <= max_linked)
        .select(CLUSTER, ID, F.lit(LINKED).alias("role"), F.lit(0.0).alias("centrality"), "ties")
    )
    members = (
        core_members.join(tie_counts, on=ID, how="left")
        .fillna(0, subset=["ties"])
        .select(CLUSTER, ID, "role", "centrality", F.col("ties").cast("long").alias("ties"))
        .unionByName(linked.withColumn("ties", F.col("ties").cast("long")))
    )
    return members.select(CLUSTER, ID, G.kind_of(ID).cast("int").alias("kind"), "role", "centrality", "ties")
