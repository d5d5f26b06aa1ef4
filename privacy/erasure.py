"""The erasure list: people deleted by ``fraud subject delete``, whom no later run may use or bring back.

``LAKE/subjects/erased.jsonl`` is append-only, one line per deletion: the
request id, when, and a digest of each of the person's tokens
(``sha256("erased:" + token)``, lowercase hex), never a token or a raw value.
A digest joins with nothing in the lake (the prefix keeps it apart from the
plain hashes of tokens that case ids are cut from); a run recognises the
person by hashing the tokens it computes or reads.

- ingestion marks the person's rows with the reason :data:`ERASED` and
  drops them (neither clean nor quarantined, counted in the report): a
  re-run over raw feeds that still hold them does not bring them back;
- training drops their labels and feature rows, scoring their feature rows
  (:func:`without_erased`), should anything still hold them.

The list is kept for as long as the lake (retention never touches it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import reduce
from operator import or_
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.lake import Lake
from ingestion.pseudonymise import identifier_tokens
from ingestion.rules import REASON

ERASED = "subject_erased"  # the ingest reason of a row of an erased person
ERASED_FILE = Path("subjects") / "erased.jsonl"
DIGEST_PREFIX = "erased:"


def digest(token: str) -> str:
    """The digest a token is listed under: SHA-256 of ``erased:<token>``, lowercase hex (:func:`is_erased` in Spark)."""
    return hashlib.sha256((DIGEST_PREFIX + token).encode("utf-8")).hexdigest()


def erased_path(lake: Lake) -> Path:
    return lake.root / ERASED_FILE


def erased_digests(lake: Lake) -> frozenset[str]:
    """Every digest of the list; empty when nobody was erased."""
    path = erased_path(lake)
    if not path.is_file():
        return frozenset()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return frozenset(d for record in lines for d in record["digests"])


def record_erasure(lake: Lake, *, request_id: str, tokens: list[str], at: dt.datetime) -> Path:
    """Append the person's digests to the list; returns its path."""
    path = erased_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"request_id": request_id, "at": at.isoformat(), "digests": sorted({digest(t) for t in tokens})}
    with path.open("a", encoding="utf-8") as out:  # append only
        out.write(json.dumps(record) + "\n")
    return path


def is_erased(token: Column, digests: frozenset[str]) -> Column:
    """True where ``token`` belongs to an erased person; False for a null token."""
    return F.coalesce(F.sha2(F.concat(F.lit(DIGEST_PREFIX), token), 256).isin(sorted(digests)), F.lit(False))


def without_erased(df: DataFrame, column: str, *, digests: frozenset[str]) -> DataFrame:
    """``df`` without the rows whose ``column`` (a token) is an erased person's; ``df`` itself when none is."""
    return df.where(~is_erased(F.col(column), digests)) if digests else df


def with_erased_reason(df: DataFrame, feed: C.Feed, *, key: bytes, digests: frozenset[str]) -> DataFrame:
    """Raw rows (with ``reason``) where any identifier's token is an erased person's get ``reason`` :data:`ERASED`,
    whatever other rule they broke; ``df`` itself when nobody was erased or the feed has no identifier."""
    tokens = identifier_tokens(feed, key=key)
    if not digests or not tokens:
        return df
    hit = reduce(or_, [is_erased(token, digests) for token in tokens.values()])
    return df.withColumn(REASON, F.when(hit, F.lit(ERASED)).otherwise(F.col(REASON)))
