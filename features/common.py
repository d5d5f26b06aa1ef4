"""Column-contract helpers shared by the feature modules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ENTITY = "entity_token"
# A vertex id (a long): features.graphs.vertex of a token and its kind.
ID = "id"
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


def with_member_flag(df: DataFrame, members: DataFrame, *, key: str, on: str, name: str) -> DataFrame:
    """``df`` with a 0/1 column ``name``: is its ``on`` among ``members[key]`` (one row each).

    ``members`` is small next to ``df`` (labelled seeds, the day's flagged parties): it is broadcast, so
    ``df`` is read where it lies, whatever its partitioning.
    """
    flags = F.broadcast(members.select(F.col(key).alias(on), F.lit(1).alias(name)))
    return df.join(flags, on=on, how="left").fillna(0, subset=[name])


# A vertex with more neighbours than this is a hub for joins keyed by a vertex: its rows meet the vertex's
# row by broadcast where they sit (join_with_hubs), never all in one task.
JOIN_HUB_DEGREE = 500


# Up to this many hubs are written into the plans as literals (Hubs.of); more are broadcast as a table.
MAX_INLINE_HUBS = 1_000
_HUB_KEY = "hub_key"


@dataclass(frozen=True)
class Hubs:
    """The keys of a table's hubs, for :func:`join_with_hubs` and :func:`without_hubs`, read once.

    ``keys``: the hubs themselves when there are at most :data:`MAX_INLINE_HUBS` (possibly none); ``table``
    (column ``hub_key``) otherwise. Inlined keys cost a join no Spark job and no second reading of the hubs'
    table: a membership test where the rows lie, and the plain join when there is no hub at all (a broadcast
    of the hubs was a job of its own for each join that took it, and every such join read its rows twice;
    bench/README.md, "Hubs read once"). Many hubs stay a table and are broadcast to each join.
    """

    keys: tuple | None
    table: DataFrame | None = None

    @classmethod
    def of(cls, df: DataFrame, column: str, *, inline_max: int = MAX_INLINE_HUBS) -> Hubs:
        """The distinct non-null values of ``df``'s ``column``: one job (it materialises ``df`` if cached)."""
        keys = df.where(F.col(column).isNotNull()).select(F.col(column).alias(_HUB_KEY)).distinct()
        first = keys.limit(inline_max + 1).collect()
        if len(first) <= inline_max:
            return cls(tuple(sorted(row[0] for row in first)))
        return cls(None, keys)

    @property
    def empty(self) -> bool:
        """No hub at all: the joins are the plain ones."""
        return self.keys == ()

    def _broadcast(self, on: str) -> DataFrame:
        return F.broadcast(self.table.select(F.col(_HUB_KEY).alias(on)))  # distinct already (Hubs.of)

    def _is_hub(self, on: str) -> Column:
        """True for a hub's key, false for any other and for null (inlined keys only)."""
        return F.coalesce(F.col(on).isin(list(self.keys)), F.lit(False))


def join_with_hubs(
    rows_df: DataFrame, table_df: DataFrame, *, on: str, hubs: Hubs, how: str = "inner"
) -> DataFrame:
    """``rows_df.join(table_df, on=on, how=how)`` (inner or left), without one task holding a hub's rows.

    ``table_df`` has one row per key; ``hubs`` (:meth:`Hubs.of`) lists the keys that very many rows of
    ``rows_df`` share: a collection account with a million payers, a number that dialed a million others. A
    shuffle on ``on`` would send all of a hub's rows to one task. Here the hubs' rows stay where they are and
    meet their few table rows by broadcast; the other rows shuffle as usual. A hub missing from ``table_df``
    is no match, as in the plain join; rows with a null key behave as in the plain join. With hubs,
    ``rows_df`` is read twice: pass a materialised table.
    """
    if how not in ("inner", "left"):
        raise ValueError(f"join_with_hubs: how must be inner or left, got {how!r}")
    if hubs.empty:
        return rows_df.join(table_df, on=on, how=how)
    if hubs.keys is not None:
        is_hub = hubs._is_hub(on)
        hub_rows, other_rows = rows_df.where(is_hub), rows_df.where(~is_hub)
        hub_table = table_df.where(is_hub)
    else:
        keys = hubs._broadcast(on)
        hub_rows = rows_df.join(keys, on=on, how="left_semi")
        other_rows = rows_df.join(keys, on=on, how="left_anti")
        hub_table = table_df.join(keys, on=on, how="left_semi")
    by_hub = hub_rows.join(F.broadcast(hub_table), on=on, how=how)
    return other_rows.join(table_df, on=on, how=how).unionByName(by_hub)


def without_hubs(rows_df: DataFrame, *, on: str, hubs: Hubs) -> DataFrame:
    """The rows of ``rows_df`` whose ``on`` is not a hub (see :func:`join_with_hubs`): no shuffle."""
    if hubs.empty:
        return rows_df
    if hubs.keys is not None:
        return rows_df.where(~hubs._is_hub(on))
    return rows_df.join(hubs._broadcast(on), on=on, how="left_anti")
