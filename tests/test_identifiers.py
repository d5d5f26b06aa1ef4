"""Identifier checks against independent Python implementations, and masks."""

from __future__ import annotations

import random

from pyspark.sql import functions as F

from ingestion.identifiers import is_valid_id_number, is_valid_imei, mask
from tests.oracles import gb11643_check, luhn_valid


def test_id_numbers_agree_with_the_standard(spark):
    rng = random.Random(1)
    values = []
    for _ in range(300):
        body = "".join(rng.choice("0123456789") for _ in range(17))
        values.append(body + (gb11643_check(body) if rng.random() < 0.5 else rng.choice("0123456789X")))
    values += ["11010519491231002x", " 11010519491231002X ", "1101051949123100", "A1010519491231002X", "", None]
    expected = [None if v is None else (len(v.strip()) == 18 and v.strip()[:17].isdigit() and gb11643_check(v.strip()[:17]) == v.strip()[17].upper()) for v in values]
    got = [r[0] for r in spark.createDataFrame([(v,) for v in values], "v string").select(is_valid_id_number(F.col("v"))).collect()]
    assert got == expected
    assert got[300] is True and got[-3] is False  # lower-case x accepted; a letter in the body is not


def test_imeis_agree_with_luhn(spark):
    rng = random.Random(2)
    values = ["".join(rng.choice("0123456789") for _ in range(15)) for _ in range(300)]
    values += ["35-209900-176148-1", "490154203237518", "49015420323751", None]
    expected = [None if v is None else (len(d := "".join(c for c in v if c.isdigit())) == 15 and luhn_valid(d)) for v in values]
    got = [r[0] for r in spark.createDataFrame([(v,) for v in values], "v string").select(is_valid_imei(F.col("v"))).collect()]
    assert got == expected
    assert got[-3] is True  # a known valid IMEI


def test_masks_hide_the_middle(spark):
    df = spark.createDataFrame([("+86 138-0013-8000", "6222020200112233"), ("123", None)], "m string, a string")
    got = [(r[0], r[1]) for r in df.select(mask("msisdn", F.col("m")), mask("account", F.col("a"))).collect()]
    assert got == [("138****8000", "62************33"), ("***", None)]
