"""Pseudonymisation by the rule of CONTRACT.md section 2, in Spark and in Python.

``token = hex(HMAC-SHA256(key, f"{kind}:{normalised}"))``. The Spark version
uses built-in functions only: HMAC is ``H((K ^ opad) || H((K ^ ipad) || m))``
with the key padded to the hash's 64-byte block, so both pads are constants
computed once on the driver and the two SHA-256 passes are ``sha2`` calls.
The Python version is the reference the tests hold the Spark one to.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraudgraph.contract import ACCOUNT, ID_NUMBER, IMEI, MSISDN

_BLOCK = 64
_NON_DIGITS = re.compile(r"[^0-9]")


def normalise(kind: str, raw: str | None) -> str | None:
    """The contract's normal form of a raw identifier; None stays None, as does an empty result."""
    if raw is None:
        return None
    if kind == MSISDN:
        digits = _NON_DIGITS.sub("", raw)
        if len(digits) == 13 and digits.startswith("861"):
            digits = digits[2:]
        elif len(digits) == 15 and digits.startswith("00861"):
            digits = digits[4:]
        value = digits
    elif kind == ID_NUMBER:
        value = raw.strip().upper()
    elif kind == IMEI:
        value = _NON_DIGITS.sub("", raw)
    elif kind == ACCOUNT:
        value = raw.strip()
    else:
        raise ValueError(f"unknown identifier kind {kind!r}")
    return value or None


def token(key: bytes, kind: str, raw: str | None) -> str | None:
    """The token of a raw identifier, or None when it normalises to nothing."""
    value = normalise(kind, raw)
    if value is None:
        return None
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def key_fingerprint(key: bytes) -> str:
    """A non-reversible fingerprint of the key, stored in a lake to refuse mixing keys."""
    return hmac.new(key, b"fraudgraph:key-fingerprint", hashlib.sha256).hexdigest()[:16]


def normalise_col(kind: str, col: Column) -> Column:
    """Spark twin of :func:`normalise`."""
    if kind == MSISDN:
        digits = F.regexp_replace(col, "[^0-9]", "")
        value = (
            F.when((F.length(digits) == 13) & digits.startswith("861"), F.substring(digits, 3, 11))
            .when((F.length(digits) == 15) & digits.startswith("00861"), F.substring(digits, 5, 11))
            .otherwise(digits)
        )
    elif kind == ID_NUMBER:
        value = F.upper(F.trim(col))
    elif kind == IMEI:
        value = F.regexp_replace(col, "[^0-9]", "")
    elif kind == ACCOUNT:
        value = F.trim(col)
    else:
        raise ValueError(f"unknown identifier kind {kind!r}")
    return F.when(value != "", value)


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def token_col(key: bytes, kind: str, col: Column) -> Column:
    """Spark twin of :func:`token`: built-in ``sha2`` twice, no Python UDF."""
    inner_pad, outer_pad = _pads(key)
    message = F.encode(F.concat(F.lit(f"{kind}:"), normalise_col(kind, col)), "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)

