"""fraud reveal: a token's raw identifier, found only in the raw feeds, every call written to an audit log.

Nothing in the lake can be reversed: tokens are HMACs, masks keep 7 of 11
digits at most. The only way back is to recompute tokens over the raw feeds
with the key (``FRAUD_PSEUDO_KEY``) and find the one that matches. Each call,
found or not, appends one JSON line to ``LAKE/audit/reveal.jsonl``: when, who,
the token, the reason given, where it was found. The raw value itself is never
written there; it goes to the caller's standard output only.

Each feed is read once (one Spark job per feed, the snapshots first, stopping
at the first feed that holds the token); only the matching value reaches the
driver.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import reduce
from operator import or_
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudgraph import contract as C
from fraudgraph.errors import FraudError, MissingInput
from fraudgraph.lake import Lake, Raw
from fraudgraph.pseudo import normalise, token_col

AUDIT_FILE = Path("audit") / "reveal.jsonl"
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


def audit_path(lake: Lake) -> Path:
    return lake.root / AUDIT_FILE


def _identifier_columns(feed: C.Feed) -> list[tuple[str, str | None]]:
    """(column, kind) of a feed's identifiers; the labels' ``entity_id`` has its kind in ``entity_type``."""
    found = [(c.name, c.identifier) for c in feed.columns if c.identifier is not None]
    if feed.name == "labels":
        found.append(("entity_id", None))
    return found


def _search_order() -> list[C.Feed]:
    feeds = list(C.FEEDS.values())
    return [f for f in feeds if f.kind == "snapshot"] + [f for f in feeds if f.kind != "snapshot"]


def run_reveal(spark: SparkSession, *, raw: Raw, lake: Lake, token: str, reason: str, key: bytes, by: str) -> dict:
    """The raw identifier behind ``token``; raises MissingInput when no raw feed holds it (the attempt is logged)."""
    if not reason.strip():
        raise FraudError("a reveal needs a --reason; it is written to the audit log")
    token = token.strip().lower()
    if not _TOKEN.match(token):
        raise FraudError("a token is 64 lowercase hex characters (a member's token in the case report)")
    lake.check_key(key)  # only the lake's key recomputes its tokens
    found: dict | None = None
    for feed in _search_order():
        if not _identifier_columns(feed):
            continue
        try:
            days = raw.days(feed)
        except MissingInput:
            continue
        df = raw.read(spark, feed, days)
        matches = []
        for column, kind in _identifier_columns(feed):
            if kind is None:  # labels: an account or a number, by entity_type
                account = F.lower(F.trim(F.col("entity_type"))) == C.ACCOUNT
                hit = F.when(account, token_col(key, C.ACCOUNT, F.col(column))).otherwise(token_col(key, C.MSISDN, F.col(column)))
                kind_col = F.when(account, F.lit(C.ACCOUNT)).otherwise(F.lit(C.MSISDN))
            else:
                hit, kind_col = token_col(key, kind, F.col(column)), F.lit(kind)
            matches.append((column, hit == F.lit(token), kind_col))
        def holding(column: str, kind_col: F.Column) -> F.Column:
            return F.struct(F.lit(column).alias("column"), kind_col.alias("kind"), F.col(column).cast("string").alias("raw"))

        which = F.when(matches[0][1], holding(matches[0][0], matches[0][2]))
        for column, hit, kind_col in matches[1:]:
            which = which.when(hit, holding(column, kind_col))
        row = df.where(reduce(or_, [m[1] for m in matches])).select(which.alias("m")).limit(1).collect()
        if row:
            m = row[0]["m"]
            found = {"feed": feed.name, "column": m["column"], "kind": m["kind"], "raw": normalise(m["kind"], m["raw"])}
            break
    record = {
        "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), "by": by, "token": token, "reason": reason,
        "found_in": f"{found['feed']}.{found['column']}" if found else None,
    }
    path = audit_path(lake)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:  # append only; never the raw value
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if found is None:
        raise MissingInput(f"no raw feed under {raw.root} holds token {token[:12]}... (the attempt is in the audit log)")
    return {"token": token, "kind": found["kind"], "raw": found["raw"], "found_in": record["found_in"], "audit": str(path)}
