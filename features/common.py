"""Column-contract helpers shared by the feature modules."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame
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
