"""Identifier checks against independent Python implementations, and masks."""

from __future__ import annotations

import datetime as dt
import random

from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.contract import spark_schema
from fraudgraph.lake import DT
from ingestion.identifiers import is_valid_id_number, is_valid_imei, mask
from ingestion.pseudonymise import number_class
from ingestion.quality import validation_view
from ingestion.rules import REASON
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


def test_the_validation_view_masks_classes_and_matches_each_number_as_the_column_functions_do(spark):
    """The view normalises each identifier once and reads it several times; what it shows must be what
    :func:`mask`, :func:`number_class` and :func:`is_valid_imei` give on the raw value, and a number in any
    written form must match the subscriber it normalises to."""
    feed = C.FEEDS["calls"]
    numbers = ["+86 138-0013-8000", "008613900139000", "95588", "010-12345678", "+44 20 7946 0000", " ", None]
    imeis = ["35-209900-176148-1", "1", None, "", "490154203237518", "x", None]
    rows = [
        (f"c{i}", caller, callee, dt.datetime(2026, 3, 1, 12), 30, imei, "cell", "2026-03-01", None)
        for i, (caller, callee, imei) in enumerate(zip(numbers, reversed(numbers), imeis, strict=True))
    ]
    schema = spark_schema(feed).add(DT, "string").add(REASON, "string")
    df = spark.createDataFrame(rows, schema)
    known = spark.createDataFrame([("13800138000",), ("95588",)], "key string")
    got = validation_view(df, feed, known_df=known).orderBy("call_id").collect()
    expected = df.select(
        mask(C.MSISDN, F.col("caller")).alias("caller"), number_class(F.col("caller")).alias("caller_class"),
        mask(C.MSISDN, F.col("callee")).alias("callee"), number_class(F.col("callee")).alias("callee_class"),
        mask(C.IMEI, F.col("caller_imei")).alias("caller_imei"), is_valid_imei(F.col("caller_imei")).alias("caller_imei_valid"),
    ).collect()
    columns = ["caller", "caller_class", "callee", "callee_class", "caller_imei", "caller_imei_valid"]
    assert [[r[c] for c in columns] for r in got] == [list(r) for r in expected]
    assert [r["caller"] for r in got][:2] == ["138****8000", "139****9000"]
    assert [r["caller_class"] for r in got] == ["cn_mobile", "cn_mobile", "service", "landline", "overseas", None, None]
    assert [r["caller_imei_valid"] for r in got] == [True, False, None, False, True, False, None]
    # Caller 138..., 95588 and the callee 95588, 138... (the list reversed) touch a subscriber; nobody else does.
    assert [r["touches_subscriber"] for r in got] == [True, False, True, False, True, False, True]
