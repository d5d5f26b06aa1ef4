from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from pyspark.sql import functions as F

from fraudgraph.pseudo import normalise, token, token_col

KEY = b"test-key-not-a-secret"


def python_hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def test_three_spellings_of_one_number_give_one_token():
    spellings = ["+86 138-0013-8000", "8613800138000", "13800138000", "0086 138 0013 8000"]
    assert {token(KEY, "msisdn", s) for s in spellings} == {python_hmac(KEY, "msisdn:13800138000")}


def test_overseas_number_keeps_its_country_code():
    assert normalise("msisdn", "+855 12 345 678") == "85512345678"
    assert token(KEY, "msisdn", "+855 12 345 678") == python_hmac(KEY, "msisdn:85512345678")
    # 86 followed by a landline is not a mobile: it keeps every digit
    assert normalise("msisdn", "86 10 1234 5678") == "861012345678"


def test_other_kinds_follow_the_contract():
    assert normalise("id_number", " 11010519491231002x ") == "11010519491231002X"
    assert normalise("imei", "35-209900-176148-1") == "352099001761481"
    assert normalise("account", " 6222 0202 ") == "6222 0202"
    assert token(KEY, "account", " 6222 ") == python_hmac(KEY, "account:6222")
    assert normalise("msisdn", " - ") is None


def _random_identifier(rng: random.Random) -> str:
    pieces = [rng.choice(["+86 ", "0086", "86", "", "+855", "00", " "])]
    pieces += [rng.choice("0123456789- ") for _ in range(rng.randint(0, 20))]
    return "".join(pieces)


@pytest.mark.parametrize("kind", ["msisdn", "id_number", "imei", "account"])
def test_spark_token_equals_python_hmac(spark, kind):
    rng = random.Random(kind)
    values = [_random_identifier(rng) for _ in range(300)]
    values += ["13800138000", "+86 138-0013-8000", "", "   ", "中文", "x" * 200, None]
    long_key = b"k" * 100  # longer than SHA-256's block: hashed first, as HMAC says
    for key in (KEY, long_key):
        df = spark.createDataFrame([(v,) for v in values], "value string")
        got = [r["t"] for r in df.select(token_col(key, kind, F.col("value")).alias("t")).collect()]
        assert got == [token(key, kind, v) for v in values]
