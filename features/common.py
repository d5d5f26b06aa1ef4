"""Column-contract helpers shared by the feature modules."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

ENTITY = "entity_token"
AS_OF = "as_of"


class MissingColumns(ValueError):
    """A transform's input lacks columns it needs."""


def require_columns(df: DataFrame, required: Iterable[str], what: str) -> None:
    """Raise naming the missing and the present columns."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise MissingColumns(f"{what}: missing columns {missing}; present: {sorted(df.columns)}")


def safe_ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator, null when the denominator is 0 or null."""
    return F.when(denominator > 0, numerator / denominator)


def count_if(cond: Column) -> Column:
    return F.sum(F.when(cond, 1).otherwise(0))


def cut_lineage(df: DataFrame, *, eager: bool = True) -> DataFrame:
    """``df`` materialised with its lineage cut: now, or with ``eager=False`` on first use.

    A reliable checkpoint when the session has a checkpoint folder (``spark.checkpoint_dir``: shared storage on
    a cluster), so that losing an executor recomputes nothing before the cut. It is always written at once: a
    lazy one would compute ``df`` twice, for its first reader and for the files. Otherwise a local checkpoint
    in the executors' block stores, which needs no folder and writes nothing, but fails the job if an executor
    holding its blocks is lost.
    """
    if df.sparkSession.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=eager)


# The JVM plans (LogicalRDD) of the frames kept by local checkpoint since the last release_kept().
_kept: list = []


def keep(df: DataFrame) -> DataFrame:
    """``df`` for its several readers: computed once, on first use; in local mode a leaf in the plans that read it.

    A cached frame still carries its whole lineage: every query that reads it analyses and optimises that
    lineage again (Spark swaps the cache in only when it plans), and a join of two frames that share an input
    makes Spark rename the shared relations throughout both (``DeduplicateRelations``). In local mode, where
    a feature window on a small world is mostly such planning, the frame is a lazy local checkpoint instead:
    the analyser and optimiser time of a window halves (bench/README.md, "Planning"). On a cluster it is
    cached: a checkpoint's blocks die with their executor (a job then fails), while a lost cached block is
    recomputed from the lineage, and a reliable checkpoint would write every kept frame to shared storage.
    ``spark.catalog.clearCache()`` does not free a checkpoint: :func:`release_kept` does, once the frames'
    outputs are written.
    """
    if not df.sparkSession.sparkContext.master.startswith("local"):
        return df.cache()
    out = df.localCheckpoint(eager=False)
    _kept.append(out._jdf.queryExecution().analyzed())
    return out


def release_kept(spark: SparkSession) -> None:
    """Free the cache and the blocks of every frame kept since the last call; they must not be read again."""
    spark.catalog.clearCache()
    while _kept:
        _kept.pop().rdd().unpersist(False)


# A vertex with more neighbours than this is a hub for joins keyed by a vertex: its rows meet the vertex's
# row by broadcast where they sit (join_with_hubs), never all in one task.
JOIN_HUB_DEGREE = 500


def join_with_hubs(rows_df: DataFrame, table_df: DataFrame, *, on: str, hubs_df: DataFrame, how: str = "inner") -> DataFrame:
    """``rows_df.join(table_df, on=on, how=how)`` (inner or left), without one task holding a hub's rows.

    ``table_df`` has one row per key; ``hubs_df`` (column ``on``) lists the keys that very many rows of
    ``rows_df`` share: a collection account with a million payers, a number that dialed a million others.
    A shuffle on ``on`` would send all of a hub's rows to one task. Here the hubs' rows stay where they are
    and meet their few table rows by broadcast; the other rows shuffle as usual. ``hubs_df`` must be small
    (hubs are rare by definition) and is broadcast; a key missing from it is joined the ordinary way. Rows
    with a null key behave as in the plain join. ``rows_df`` is read twice: pass a materialised table.
    """
    if how not in ("inner", "left"):
        raise ValueError(f"join_with_hubs: how must be inner or left, got {how!r}")
    hubs = F.broadcast(hubs_df.select(on).distinct())
    hub_rows = rows_df.join(hubs, on=on, how="left_semi")
    other_rows = rows_df.join(hubs, on=on, how="left_anti")
    hub_table = F.broadcast(table_df.join(hubs, on=on, how="left_semi"))
    return other_rows.join(table_df, on=on, how=how).unionByName(hub_rows.join(hub_table, on=on, how=how))


def without_hubs(rows_df: DataFrame, *, on: str, hubs_df: DataFrame) -> DataFrame:
    """The rows of ``rows_df`` whose ``on`` is not a hub of ``hubs_df`` (small, broadcast): no shuffle."""
    return rows_df.join(F.broadcast(hubs_df.select(on).distinct()), on=on, how="left_anti")
