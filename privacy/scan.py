"""A person's values in any table of the lake: every string field, inside structs and lists too.

A value matches a field whole (a token is a column's whole value, never a
part of a sentence). Two transforms share one rule of what holds a value:

- :func:`rows_holding`: the rows where any field, at any depth, holds one;
- :func:`without_values`: the rows whose own fields (top-level columns and
  the structs and maps among them) hold none, with each list column (a
  case's members, money paths, ties) stripped of the elements that hold one.
  So a call between the person and someone else goes, while a case that
  listed the person among others stays, without them.

Both are Spark expressions over the table's schema: only the matching rows
ever reach the driver, and only when the caller collects them.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def _has_strings(dtype: T.DataType) -> bool:
    if isinstance(dtype, T.StringType):
        return True
    if isinstance(dtype, T.ArrayType):
        return _has_strings(dtype.elementType)
    if isinstance(dtype, T.StructType):
        return any(_has_strings(f.dataType) for f in dtype.fields)
    if isinstance(dtype, T.MapType):
        return _has_strings(dtype.keyType) or _has_strings(dtype.valueType)
    return False


def _holds(col: Column, dtype: T.DataType, values: list[str]) -> Column:
    """True where ``col`` holds one of ``values`` at any depth, never null; ``dtype`` must hold strings."""
    if isinstance(dtype, T.StringType):
        found = col.isin(values)
    elif isinstance(dtype, T.ArrayType):
        found = F.exists(col, lambda x: _holds(x, dtype.elementType, values))
    elif isinstance(dtype, T.StructType):
        found = reduce(or_, [_holds(col[f.name], f.dataType, values) for f in dtype.fields if _has_strings(f.dataType)])
    else:  # a map: its keys or its values
        parts = [(F.map_keys(col), dtype.keyType), (F.map_values(col), dtype.valueType)]
        found = reduce(or_, [_holds(c, T.ArrayType(t), values) for c, t in parts if _has_strings(t)])
    return F.coalesce(found, F.lit(False))


def _fields(df: DataFrame) -> list[T.StructField]:
    return [f for f in df.schema.fields if _has_strings(f.dataType)]


def holding(df: DataFrame, values: list[str]) -> Column:
    """True for a row of ``df`` holding one of ``values`` anywhere (False for a frame with no string field)."""
    fields = _fields(df)
    if not values or not fields:
        return F.lit(False)
    return reduce(or_, [_holds(F.col(f.name), f.dataType, values) for f in fields])


def rows_holding(df: DataFrame, values: list[str]) -> DataFrame:
    """The rows of ``df`` holding one of ``values`` in any field, at any depth; the same columns."""
    return df.where(holding(df, values))


def _lacking(element: T.DataType, values: list[str]):
    # One argument only: Spark reads a second one as the element's index.
    return lambda x: ~_holds(x, element, values)


def without_values(df: DataFrame, values: list[str]) -> DataFrame:
    """``df`` without the person: same columns, rows whose own fields hold a value dropped, lists stripped.

    A top-level column that is not a list (a string, a struct, a map) is the
    row's own field: a value there drops the row. A list column keeps the row
    and loses the elements holding a value (an empty list stays empty; a null
    list stays null). Columns with no string are left alone.
    """
    if not values:
        return df
    own = [f for f in _fields(df) if not isinstance(f.dataType, T.ArrayType)]
    lists = [f for f in _fields(df) if isinstance(f.dataType, T.ArrayType)]
    out = df.where(~reduce(or_, [_holds(F.col(f.name), f.dataType, values) for f in own])) if own else df
    for f in lists:
        out = out.withColumn(f.name, F.filter(F.col(f.name), _lacking(f.dataType.elementType, values)))
    return out.select(*df.columns)
