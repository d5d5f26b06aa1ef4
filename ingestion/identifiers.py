"""Identifier checks and masks as Spark built-in expressions (no Python UDF).

- :func:`is_valid_id_number`: an 18-character PRC resident ID number whose
  last character is the GB 11643-1999 check character of the first 17 digits;
- :func:`is_valid_imei`: 15 digits whose last is the Luhn check digit;
- :func:`mask`: the only form of a raw identifier a report may show.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraudgraph.contract import MSISDN
from fraudgraph.pseudo import normalise_col

GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
GB11643_CHECK = "10X98765432"


def _digits(value: Column) -> Column:
    """The characters of ``value`` as their digit values (character code - 48), built once per row.

    Higher-order functions over one array instead of one expression per
    position: Spark would otherwise recompute the normalised string for
    every position of every row.
    """
    return F.transform(F.split(value, ""), lambda ch: F.ascii(ch) - 48)


def _sum(values: Column) -> Column:
    return F.aggregate(values, F.lit(0), lambda acc, x: acc + x)


def is_valid_id_number(raw: Column) -> Column:
    """True for a well-formed resident ID number with a valid check character; null for null."""
    value = F.upper(F.trim(raw))
    weights = F.array(*[F.lit(w) for w in GB11643_WEIGHTS])
    total = _sum(F.zip_with(F.slice(_digits(value), 1, 17), weights, lambda d, w: d * w))
    check = F.substring(F.lit(GB11643_CHECK), (total % 11) + 1, 1)
    return F.when(raw.isNull(), F.lit(None).cast("boolean")).otherwise(
        F.coalesce(value.rlike(r"^[0-9]{17}[0-9X]$") & (F.substring(value, 18, 1) == check), F.lit(False))
    )


def is_valid_imei(raw: Column) -> Column:
    """True for 15 digits (after dropping separators) passing the Luhn check; null for null."""
    value = F.regexp_replace(raw, "[^0-9]", "")
    # From the right, every second digit is doubled: 0-based positions 1, 3, ..., 13 of 15.
    terms = F.transform(_digits(value), lambda d, i: F.when(i % 2 == 1, F.when(d * 2 > 9, d * 2 - 9).otherwise(d * 2)).otherwise(d))
    return F.when(raw.isNull(), F.lit(None).cast("boolean")).otherwise(
        F.coalesce((F.length(value) == 15) & (_sum(terms) % 10 == 0), F.lit(False))
    )


def mask(kind: str, raw: Column) -> Column:
    """``138****8000`` for numbers; first two and last two characters for other identifiers."""
    value = normalise_col(kind, raw)
    keep_head, keep_tail = (3, 4) if kind == MSISDN else (2, 2)
    stars = F.greatest(F.length(value) - keep_head - keep_tail, F.lit(0))
    return F.when(
        F.length(value) > keep_head + keep_tail,
        F.concat(F.substring(value, 1, keep_head), F.repeat(F.lit("*"), stars), F.substring(value, -keep_tail, keep_tail)),
    ).otherwise(F.repeat(F.lit("*"), F.length(value)))
