"""Who a data subject is in the lake: the tokens of their own identifiers.

A request names a person by one raw identifier (a mobile number, a resident
ID number or an account number) and its kind; it is tokenised at once with
the lake's key and never written anywhere. The person is then expanded to
their own identifiers, through the registrations the clean snapshots hold
(any snapshot day):

1. to their ID number: the given one; or the ID number a number is
   registered to (``subscribers``); or the holder's of an account
   (``accounts``);
2. from that ID number, to every number registered to it and every account
   held under it.

No further: a number an account is merely bound to (``bound_msisdn``) may
be someone else's, and handsets (IMEIs) are devices, not the person, so
neither expands the subject. A number that is not a subscriber (an overseas
caller, another operator's number) is only itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features import graphs as G
from fraudgraph import contract as C
from fraudgraph.errors import FraudError
from fraudgraph.pseudo import normalise, token

KINDS = (C.MSISDN, C.ID_NUMBER, C.ACCOUNT)
# The graph vertex kind of each identifier kind: cases keep their members' and ties' vertex ids as strings.
VERTEX_KINDS = {C.MSISDN: G.NUMBER, C.ID_NUMBER: G.ID_NUMBER, C.ACCOUNT: G.ACCOUNT}


@dataclass(frozen=True)
class Subject:
    """The identifier a request gave (its kind, masked form and token)."""

    kind: str
    masked: str
    token: str


def mask_value(kind: str, raw: str) -> str:
    """Python twin of :func:`ingestion.identifiers.mask`: ``138****8000``; two and two characters otherwise."""
    value = normalise(kind, raw) or ""
    head, tail = (3, 4) if kind == C.MSISDN else (2, 2)
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def subject_of(key: bytes, kind: str, raw: str) -> Subject:
    """The request's identifier, tokenised; a clear error for an unknown kind or a value with nothing in it."""
    if kind not in KINDS:
        raise FraudError(f"a subject is named by one of {', '.join(KINDS)}, got {kind!r}")
    found = token(key, kind, raw)
    if found is None:
        raise FraudError(f"the {kind} given normalises to nothing: check the identifier")
    return Subject(kind, mask_value(kind, raw), found)


def _values(df: DataFrame, column: str) -> set[str]:
    return {r[0] for r in df.select(column).where(F.col(column).isNotNull()).distinct().collect()}


def own_identifiers(subject: Subject, subscribers_df: DataFrame, accounts_df: DataFrame) -> dict[str, set[str]]:
    """The person's tokens by kind (``msisdn``, ``id_number``, ``account``), the given one included.

    ``subscribers_df`` and ``accounts_df`` are clean snapshots (any days, may be empty). A handful of values
    per person reach the driver: four small Spark jobs at most.
    """
    found = {k: ({subject.token} if k == subject.kind else set()) for k in KINDS}
    if subject.kind == C.MSISDN:
        found[C.ID_NUMBER] |= _values(subscribers_df.where(F.col("msisdn") == subject.token), "id_number")
    elif subject.kind == C.ACCOUNT:
        found[C.ID_NUMBER] |= _values(accounts_df.where(F.col("account_id") == subject.token), "holder_id_number")
    ids = sorted(found[C.ID_NUMBER])
    if ids:
        found[C.MSISDN] |= _values(subscribers_df.where(F.col("id_number").isin(ids)), "msisdn")
        found[C.ACCOUNT] |= _values(accounts_df.where(F.col("holder_id_number").isin(ids)), "account_id")
    return found


def with_vertex_ids(tokens_df: DataFrame) -> DataFrame:
    """``kind, token`` rows with ``vertex_id``: the token's graph vertex id as a string (the form cases keep)."""
    vertex = F.lit(None).cast("long")
    for kind, vertex_kind in VERTEX_KINDS.items():
        vertex = F.when(F.col("kind") == kind, G.vertex(vertex_kind, F.col("token"))).otherwise(vertex)
    return tokens_df.withColumn("vertex_id", vertex.cast("string"))
