"""Graph algorithms written with DataFrame operations: connected components and PageRank.

GraphFrames needs a JAR the deployment cannot fetch, so both algorithms are
plain joins and aggregations. Inputs follow GraphFrames' column names: edges
``src, dst`` (``src -> dst`` where direction matters), vertices ``id``.

Shared conventions:

- vertex ids are strings or 64-bit integers: integer edge ids (any integral
  type) are cast to long, anything else to string, and ids compare in that
  type's order (the vertices and seeds are cast to the edges' type);
- an edge with a null endpoint is dropped whole: its other endpoint is a
  vertex only if it appears elsewhere. Null vertex ids are dropped;
- the vertices are those of ``vertices_df`` (when given) plus every endpoint
  of an edge, each once;
- no per-vertex data reaches the driver: each iteration sends back one or two
  scalars to decide convergence.

Iterative state is persisted every iteration and the previous state released
once the new one is materialised. Every ``checkpoint_every`` iterations, and
once on return, the lineage is cut (:func:`features.common.cut_lineage`): local
checkpoints on one machine, reliable ones in the session's checkpoint folder
on a cluster, where an executor can be lost. Local checkpoints stay in the
block stores until unpersisted (the driver's garbage collection did not free
them): the jobs free them with :func:`fraudgraph.spark.released_at_end`.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features.common import cut_lineage, require_columns

ID = "id"
SRC = "src"
DST = "dst"
COMPONENT = "component"
RANK = "rank"
WEIGHT = "weight"

# Internal working columns, never in an output.
_MIN = "_min"
_EDGES = "_edges"
_OUT_WEIGHT = "_out_weight"
_SHARE = "_share"
_CONTRIBUTION = "_contribution"
_SEED = "_seed"
_IS_DANGLING = "_is_dangling"
_IS_SELF = "_is_self"
_PREVIOUS = "_previous_rank"

log = logging.getLogger(__name__)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def _id_type(edges_df: DataFrame) -> str:
    """``long`` when the edges' ids are integers (hashed vertex ids), else ``string``."""
    integral = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    return "long" if isinstance(edges_df.schema[SRC].dataType, integral) else "string"


def _clean_edges(edges_df: DataFrame, *extra: Column) -> DataFrame:
    """``src, dst`` as longs or strings (:func:`_id_type`) plus ``extra``; rows with a null endpoint dropped."""
    id_type = _id_type(edges_df)
    return edges_df.select(
        F.col(SRC).cast(id_type).alias(SRC), F.col(DST).cast(id_type).alias(DST), *extra
    ).where(F.col(SRC).isNotNull() & F.col(DST).isNotNull())


def _vertex_ids(clean_edges_df: DataFrame, vertices_df: DataFrame | None) -> DataFrame:
    """Distinct non-null ids of ``vertices_df`` and of the edges' endpoints, column ``id``."""
    ids = clean_edges_df.select(F.col(SRC).alias(ID)).unionByName(clean_edges_df.select(F.col(DST).alias(ID)))
    if vertices_df is not None:
        id_type = _id_type(clean_edges_df)
        ids = ids.unionByName(vertices_df.select(F.col(ID).cast(id_type).alias(ID)))
    return ids.where(F.col(ID).isNotNull()).distinct()


def _cut_lineage(df: DataFrame) -> DataFrame:
    """A checkpointed copy of a persisted frame (read from its cache), and the cache released."""
    checkpointed = cut_lineage(df)
    df.unpersist()
    return checkpointed


def undirected_edges(edges_df: DataFrame) -> DataFrame:
    """Each undirected edge once, as ``src > dst`` in the ids' order.

    Output columns: ``src, dst``. Direction and parallel edges collapse into
    one row; self-loops and edges with a null endpoint are dropped, so a
    vertex whose only edges are self-loops has no row. Empty input gives an
    empty frame.
    """
    require_columns(edges_df, (SRC, DST), "undirected_edges edges")
    return (
        _clean_edges(edges_df)
        .where(F.col(SRC) != F.col(DST))
        .select(F.greatest(SRC, DST).alias(SRC), F.least(SRC, DST).alias(DST))
        .distinct()
    )


def _explode_pairs(df: DataFrame, *pairs: tuple[Column, Column]) -> DataFrame:
    """One ``src, dst`` row per pair per input row, the input referenced once."""
    structs = [F.struct(src.alias(SRC), dst.alias(DST)) for src, dst in pairs]
    return df.select(F.explode(F.array(*structs)).alias("_pair")).select(f"_pair.{SRC}", f"_pair.{DST}")


# Each step reads its input once (a window, not a self-join, finds the minimum):
# the logical plan then grows linearly between checkpoints, not geometrically.


def _adjacency(edges_df: DataFrame) -> DataFrame:
    """Each edge from both ends (``src`` the vertex, ``dst`` a neighbour), with the vertex's smallest neighbour
    (``_min``) and its number of neighbours (``_edges``): one window, one shuffle by ``src``."""
    by_vertex = Window.partitionBy(SRC)
    return _explode_pairs(edges_df, (F.col(SRC), F.col(DST)), (F.col(DST), F.col(SRC))).select(
        SRC, DST, F.min(DST).over(by_vertex).alias(_MIN), F.count(F.lit(1)).over(by_vertex).alias(_EDGES)
    )


def _large_star(adjacency_df: DataFrame) -> DataFrame:
    """Link every neighbour larger than a vertex to the vertex's smallest neighbour or itself.

    Duplicates are left for the small-star step to remove: at most one row per
    adjacency, so no blow-up, and one shuffle less per iteration.
    """
    # neighbour > vertex >= smallest, so every output row keeps src > dst
    return adjacency_df.where(F.col(DST) > F.col(SRC)).select(
        F.col(DST).alias(SRC), F.least(F.col(_MIN), F.col(SRC)).alias(DST)
    )


def _small_star(edges_df: DataFrame) -> DataFrame:
    """Link every vertex and its smaller neighbours to the smallest of them."""
    with_min = edges_df.withColumn(_MIN, F.min(DST).over(Window.partitionBy(SRC)))
    links = _explode_pairs(with_min, (F.col(DST), F.col(_MIN)), (F.col(SRC), F.col(_MIN)))
    return links.where(F.col(SRC) != F.col(DST)).distinct()


def _leaves(adjacency_df: DataFrame) -> DataFrame:
    """One row per vertex with a smaller neighbour (the ``src`` of an edge kept as ``src > dst``): ``src`` the
    vertex, ``dst`` its smallest neighbour."""
    return adjacency_df.where((F.col(DST) == F.col(_MIN)) & (F.col(_MIN) < F.col(SRC)))


def _count_not_star(adjacency_df: DataFrame) -> int:
    """Vertices that keep the edges (``src > dst``, distinct) from being a forest of stars: the ``src`` of an edge
    with another edge (a second one as ``src``, or one as ``dst``). None: every component is a star whose
    centre, smaller than all its leaves, is the component's smallest id. Read from the adjacency's window,
    with no shuffle of its own."""
    return _leaves(adjacency_df).where(F.col(_EDGES) > 1).count()


def connected_components(
    edges_df: DataFrame,
    vertices_df: DataFrame | None = None,
    *,
    checkpoint_every: int = 2,
    max_iterations: int = 100,
) -> DataFrame:
    """Undirected connected components by large-star / small-star (Kiveris et al. 2014).

    Output columns: ``id, component``, one row per vertex, where ``component``
    is the smallest id (in the ids' order) in the vertex's component. Edge
    direction is ignored. A vertex with no edges, or only self-loops, is its
    own component; with empty edges every vertex of ``vertices_df`` is. Nulls
    are dropped (see the module docstring). Empty input gives an empty frame.

    Each iteration is one large-star and one small-star step over the edges
    kept as ``src > dst``. The iterations needed grow slowly with the length
    of the longest shortest path (8 for a chain of 200 vertices), not with
    degree: a hub's edges are relinked in one large-star step, with no
    per-pair blow-up. Stops at the first iteration whose edges form stars
    (each vertex the ``src`` of one edge at most, and never both a ``src`` and
    a ``dst``): the steps keep every component, and a star's centre is its
    smallest id, so each leaf's one neighbour is its component. A star forest
    is a fixed point of both steps. The test reads the new edges from both
    ends with each vertex's smallest neighbour and neighbour count, the window
    the next large-star step reads too: one materialised window per iteration
    serves both (three shuffles an iteration: the two steps' windows and the
    small-star's distinct), and a star forest's components need no further
    shuffle. Raises ``RuntimeError`` after ``max_iterations`` iterations
    without stars (the networkx comparisons in the tests, chains and hubs
    included, all reach stars).
    """
    require_columns(edges_df, (SRC, DST), "connected_components edges")
    if vertices_df is not None:
        require_columns(vertices_df, (ID,), "connected_components vertices")
    _check_positive(checkpoint_every=checkpoint_every, max_iterations=max_iterations)

    vertex_ids = _vertex_ids(_clean_edges(edges_df), vertices_df)
    adjacency = _adjacency(undirected_edges(edges_df))  # read once, by the first iteration
    for iteration in range(1, max_iterations + 1):
        updated = _adjacency(_small_star(_large_star(adjacency))).persist()
        not_star = _count_not_star(updated)  # materialises the new window before the old one is released
        adjacency.unpersist()
        adjacency = updated
        if not not_star:
            log.debug("connected_components converged after %d iterations", iteration)
            break
        if iteration % checkpoint_every == 0:
            adjacency = _cut_lineage(adjacency)
    else:
        adjacency.unpersist()
        raise RuntimeError(f"connected_components did not converge in {max_iterations} iterations")

    # Stars: every leaf's smallest (only) neighbour is its component's smallest id; a centre has no such row.
    component = _leaves(_cut_lineage(adjacency)).select(F.col(SRC).alias(ID), F.col(DST).alias(COMPONENT))
    return vertex_ids.join(component, on=ID, how="left").select(
        ID, F.coalesce(F.col(COMPONENT), F.col(ID)).alias(COMPONENT)
    )


def pagerank(
    edges_df: DataFrame,
    vertices_df: DataFrame | None = None,
    *,
    damping: float = 0.85,
    max_iterations: int = 100,
    tol: float = 1e-9,
    weight_col: str | None = None,
    personalisation_df: DataFrame | None = None,
    checkpoint_every: int = 10,
) -> DataFrame:
    """Directed PageRank with the semantics of ``networkx.pagerank``.

    Output columns: ``id, rank``, one row per vertex; ranks sum to 1.

    - Edges go ``src -> dst``. Each edge row weighs ``weight_col`` (1 when
      None); parallel edges add up, as in networkx on a graph whose edge
      weights are the sums. Weights should be non-negative; rows with a null
      weight carry no rank but their endpoints remain vertices. Self-loops
      count like any edge.
    - A vertex whose out-weight is 0 (no out-edges, or isolated) is dangling:
      its rank is spread by the personalisation vector, as networkx does by
      default.
    - ``personalisation_df`` (``id, weight``) is the teleport vector of a
      personalised PageRank, e.g. a random walk restarting at known fraud.
      Weights of one id add up, null rows and ids that are not vertices are
      ignored (as networkx ignores keys not in the graph), and the rest is
      normalised to sum 1; vertices not in it get 0. Without it, teleport is
      uniform.
    - If ``personalisation_df`` is given but holds no weight on any vertex
      (no seeds yet, e.g. on the first days of labels), every vertex gets
      rank 0.0 instead of failing: there is no walk to restart.
    - With empty edges every vertex is dangling and the rank equals the
      teleport vector (uniform without personalisation). Empty input gives an
      empty frame.

    Power iteration from the uniform vector; stops when the L1 change of an
    iteration is below ``N * tol`` (networkx's criterion) and raises
    ``RuntimeError`` after ``max_iterations`` iterations without that.
    """
    require_columns(edges_df, (SRC, DST, *([weight_col] if weight_col else [])), "pagerank edges")
    if vertices_df is not None:
        require_columns(vertices_df, (ID,), "pagerank vertices")
    if personalisation_df is not None:
        require_columns(personalisation_df, (ID, WEIGHT), "pagerank personalisation")
    _check_positive(checkpoint_every=checkpoint_every, max_iterations=max_iterations)

    weight = F.col(weight_col).cast("double") if weight_col else F.lit(1.0)
    edges = _clean_edges(edges_df, weight.alias(WEIGHT))
    vertex_ids = _vertex_ids(edges, vertices_df)

    summed = edges.where(F.col(WEIGHT).isNotNull()).groupBy(SRC, DST).agg(F.sum(WEIGHT).alias(WEIGHT))
    out_weight = summed.groupBy(SRC).agg(F.sum(WEIGHT).alias(_OUT_WEIGHT)).where(F.col(_OUT_WEIGHT) != 0)
    transitions = summed.join(out_weight, on=SRC, how="inner").select(
        SRC, DST, (F.col(WEIGHT) / F.col(_OUT_WEIGHT)).alias(_SHARE)
    )

    if personalisation_df is None:
        seed = F.lit(1.0)
    else:
        seeds = (
            personalisation_df.select(
                F.col(ID).cast(_id_type(edges)).alias(ID), F.col(WEIGHT).cast("double").alias(_SEED)
            )
            .where(F.col(ID).isNotNull() & F.col(_SEED).isNotNull())
            .groupBy(ID)
            .agg(F.sum(_SEED).alias(_SEED))
        )
        vertex_ids = vertex_ids.join(seeds, on=ID, how="left")
        seed = F.coalesce(F.col(_SEED), F.lit(0.0))
    vertices = (
        vertex_ids.join(
            out_weight.select(F.col(SRC).alias(ID), F.lit(False).alias(_IS_DANGLING)), on=ID, how="left"
        )
        .select(ID, F.coalesce(F.col(_IS_DANGLING), F.lit(True)).alias(_IS_DANGLING), seed.alias(_SEED))
        .persist()
    )
    walk = None
    try:
        totals = vertices.agg(
            F.count("*").alias("n"),
            F.sum(_SEED).alias("seed"),
            F.sum(F.col(_IS_DANGLING).cast("int")).alias("dangling"),
        ).first()
        n = totals["n"]
        if n == 0 or not totals["seed"]:
            return vertex_ids.select(ID, F.lit(0.0).alias(RANK))

        # The out-edges with their share of the source's rank, plus one row per vertex that
        # brings the vertex's own constants and previous rank, so one join per iteration
        # gathers everything and each iteration reads the previous ranks once. Partitioned
        # by source once: the ranks come out of each iteration partitioned by vertex, so
        # the join of ranks with out-edges shuffles neither side.
        no_double = F.lit(None).cast("double")
        walk = (
            transitions.select(
                SRC,
                DST,
                _SHARE,
                F.lit(False).alias(_IS_SELF),
                no_double.alias(_SEED),
                F.lit(None).cast("boolean").alias(_IS_DANGLING),
            )
            .unionByName(
                vertices.select(
                    F.col(ID).alias(SRC),
                    F.col(ID).alias(DST),
                    no_double.alias(_SHARE),
                    F.lit(True).alias(_IS_SELF),
                    (F.col(_SEED) / F.lit(totals["seed"])).alias(_SEED),
                    _IS_DANGLING,
                )
            )
            .repartition(SRC)
            .persist()
        )
        # Dangling mass of the iterate, sent back with each iteration's error.
        dangling_mass = totals["dangling"] / n
        ranks = vertices.select(ID, F.lit(1.0 / n).alias(RANK))
        for iteration in range(1, max_iterations + 1):
            ranks, error, dangling_mass = _pagerank_step(ranks, walk, damping, dangling_mass)
            if error < n * tol:
                log.debug("pagerank converged after %d iterations", iteration)
                break
            if iteration % checkpoint_every == 0:
                ranks = _cut_lineage(ranks)
        else:
            ranks.unpersist()
            raise RuntimeError(f"pagerank did not converge in {max_iterations} iterations")
        return _cut_lineage(ranks).select(ID, RANK)
    finally:
        vertices.unpersist()
        if walk is not None:
            walk.unpersist()


def _pagerank_step(
    ranks_df: DataFrame, walk_df: DataFrame, damping: float, dangling_mass: float
) -> tuple[DataFrame, float, float]:
    """One power iteration: the persisted new ranks, their L1 change and their dangling mass."""
    is_self = F.col(_IS_SELF)
    gathered = (
        ranks_df.select(F.col(ID).alias(SRC), RANK)
        # hash table on one partition of ranks: no broadcast of all ranks, no sort of the edges
        .hint("shuffle_hash")
        .join(walk_df, on=SRC, how="inner")
        .groupBy(F.col(DST).alias(ID))
        .agg(
            F.sum(F.when(~is_self, F.col(RANK) * F.col(_SHARE))).alias(_CONTRIBUTION),
            F.max(F.when(is_self, F.col(RANK))).alias(_PREVIOUS),
            F.max(_SEED).alias(_SEED),
            F.max(_IS_DANGLING).alias(_IS_DANGLING),
        )
    )
    seed = F.col(_SEED)
    # The expression of networkx: alpha * (x @ A + dangling * p) + (1 - alpha) * p
    new_rank = (
        F.lit(damping) * (F.coalesce(F.col(_CONTRIBUTION), F.lit(0.0)) + F.lit(dangling_mass) * seed)
        + F.lit(1.0 - damping) * seed
    )
    updated = gathered.select(ID, new_rank.alias(RANK), _PREVIOUS, _IS_DANGLING).persist()
    totals = updated.agg(
        F.sum(F.abs(F.col(RANK) - F.col(_PREVIOUS))).alias("error"),
        F.sum(F.when(F.col(_IS_DANGLING), F.col(RANK)).otherwise(0.0)).alias("dangling"),
    ).first()
    ranks_df.unpersist()
    return updated, totals["error"], totals["dangling"]
