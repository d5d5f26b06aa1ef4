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
