"""The graphs of one look-back window, as edge lists on Spark.

Every function takes the lake's clean tables (tokens only), already restricted
to the window by the caller, and returns one row per edge. Vertices of
different kinds share one id space, so the call, money and identity graphs can
be joined into one graph without collisions between kinds:

A vertex id is a 64-bit integer: the kind in its two top bits, a 62-bit
xxhash64 of the token below. Grouping, joining and shuffling longs costs a
fraction of the 64-character tokens (the call graph's contacts' degrees on
10 million calls: 31 s against 74 s with prefixed strings, bench/README.md).
Two tokens of one kind share an id with odds of about n^2 / 2^63 for n
vertices (one in 100,000 for 10 million), and then only their graph features
merge; every feature leaves the graph joined back to the token it describes.

========  ====================================
kind      vertex
========  ====================================
0         phone number (msisdn token)
1         bank account (account token)
2         handset (IMEI token)
3         registered ID number (id_number token)
========  ====================================

Identity links are vertex-to-vertex edges: number to handset (seen as the
caller's IMEI), number to the ID number it is registered to, account to its
holder's ID number and account to its bound number. The money bridge links the
two worlds: number X called party P, and P then paid account A within a set
number of hours (through an account bound to P's number), giving X -> A.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.common import ENTITY, ID, require_columns, with_member_flag

SRC = "src"
DST = "dst"
KIND = "kind"

NUMBER, ACCOUNT, DEVICE, ID_NUMBER = 0, 1, 2, 3
_KIND_SHIFT = 62
_HASH_BITS = (1 << _KIND_SHIFT) - 1

# Identity link kinds (the ``kind`` column of identity_links).
NUMBER_DEVICE = "number_device"
NUMBER_ID = "number_id"
ACCOUNT_ID = "account_id"
ACCOUNT_NUMBER = "account_number"

CALLS = ("caller", "callee", "start_time", "duration_s", "caller_imei")
SMS = ("sender", "receiver", "send_time", "has_url")
TRANSACTIONS = ("src_account", "dst_account", "amount", "txn_time", "channel")
SUBSCRIBERS = ("msisdn", "id_number")
ACCOUNTS = ("account_id", "holder_id_number", "bound_msisdn", "open_date")

CALL_EDGE = (SRC, DST, "calls", "answered", "duration_s", "first_time", "last_time")
SMS_EDGE = (SRC, DST, "messages", "with_url")
MONEY_EDGE = (SRC, DST, "transfers", "amount", "atm_transfers", "first_time", "last_time")
LINK = (SRC, DST, KIND)
BRIDGE_EVENT = (SRC, "payer", "txn_id", DST, "amount", "txn_time", "lag_s")
BRIDGE = (SRC, DST, "payers", "transfers", "amount", "first_time", "min_lag_s")


def _kind_bits(kind: int) -> int:
    """``kind`` in the two top bits of a signed 64-bit integer."""
    bits = kind << _KIND_SHIFT
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def vertex(kind: int, token: Column | str) -> Column:
    """The vertex id of a token of ``kind`` (a long); null when the token is null."""
    token = F.col(token) if isinstance(token, str) else token
    hashed = F.xxhash64(token).bitwiseAND(F.lit(_HASH_BITS)).bitwiseOR(F.lit(_kind_bits(kind)))
    return F.when(token.isNotNull(), hashed)


def by_token(rows: DataFrame, tokens: DataFrame, kind: int, *, how: str = "inner") -> DataFrame:
    """``rows`` keyed by vertex ``id``, keyed by ``entity_token`` instead: the tokens of ``kind`` in the
    one-column frame ``tokens`` (nulls and repeats ignored) joined to their rows by vertex id, ``how``
    ``"inner"`` (tokens with a row) or ``"left"`` (every token, nulls where it has none)."""
    token = F.col(tokens.columns[0])
    dictionary = tokens.where(token.isNotNull()).select(token.alias(ENTITY)).distinct()
    return dictionary.withColumn(ID, vertex(kind, ENTITY)).join(rows, on=ID, how=how).select(
        ENTITY, *[c for c in rows.columns if c != ID]
    )


def kind_of(vertex_id: Column | str) -> Column:
    """The kind (0-3) of a vertex id."""
    return F.shiftrightunsigned(F.col(vertex_id) if isinstance(vertex_id, str) else vertex_id, _KIND_SHIFT)


def is_kind(vertex_id: Column | str, kind: int) -> Column:
    return kind_of(vertex_id) == kind


def call_graph(calls_df: DataFrame) -> DataFrame:
    """Directed call graph of the window's keyed calls (:data:`features.window.KEYED_CALL`), one row per (caller, callee).

    Output :data:`CALL_EDGE`: ``calls`` made, ``answered`` (duration > 0),
    total ``duration_s``, first and last call time. Calls with a null callee
    are dropped; a number calling itself is a self-loop edge.
    """
    require_columns(calls_df, (SRC, DST, "duration_s", "start_time"), "call_graph calls")
    return (
        calls_df.where(F.col(SRC).isNotNull() & F.col(DST).isNotNull())
        .groupBy(SRC, DST)
        .agg(
            F.count(F.lit(1)).alias("calls"),
            F.count(F.when(F.col("duration_s") > 0, 1)).alias("answered"),
            F.coalesce(F.sum("duration_s"), F.lit(0)).cast("long").alias("duration_s"),
            F.min("start_time").alias("first_time"),
            F.max("start_time").alias("last_time"),
        )
        .select(*CALL_EDGE)
    )


def sms_graph(sms_df: DataFrame) -> DataFrame:
    """Directed SMS graph, one row per (sender, receiver): ``messages`` and ``with_url`` counts."""
    require_columns(sms_df, SMS, "sms_graph sms")
    messages = sms_df.where(F.col("sender").isNotNull() & F.col("receiver").isNotNull()).select(
        vertex(NUMBER, "sender").alias(SRC), vertex(NUMBER, "receiver").alias(DST), "has_url"
    )
    # Most pairs exchange one or two messages in a window, so a map-side partial aggregation would shrink
    # little: the messages are shuffled raw, as the call pairs are (features/window.py).
    return (
        messages.repartition(SRC, DST)
        .groupBy(SRC, DST)
        .agg(F.count(F.lit(1)).alias("messages"), F.sum(F.col("has_url").cast("int")).alias("with_url"))
        .select(*SMS_EDGE)
    )


def money_graph(transactions_df: DataFrame) -> DataFrame:
    """Directed money graph, one row per (source, destination) account pair.

    Output :data:`MONEY_EDGE`: number of ``transfers``, total ``amount`` (CNY,
    double), transfers through an ATM, first and last transfer time.
    """
    require_columns(transactions_df, TRANSACTIONS, "money_graph transactions")
    return (
        transactions_df.where(F.col("src_account").isNotNull() & F.col("dst_account").isNotNull())
        .groupBy(vertex(ACCOUNT, "src_account").alias(SRC), vertex(ACCOUNT, "dst_account").alias(DST))
        .agg(
            F.count(F.lit(1)).alias("transfers"),
            F.sum(F.col("amount").cast("double")).alias("amount"),
            F.sum((F.col("channel") == "atm").cast("int")).alias("atm_transfers"),
            F.min("txn_time").alias("first_time"),
            F.max("txn_time").alias("last_time"),
        )
        .select(*MONEY_EDGE)
    )


def identity_links(handsets_df: DataFrame, subscribers_df: DataFrame, accounts_df: DataFrame) -> DataFrame:
    """Distinct identity links of the window, :data:`LINK` (``kind`` names the link).

    Number to handset comes from the window's handsets (distinct number and
    caller IMEI vertex pairs, :mod:`features.window`); number to ID number
    from the subscriber snapshot; account to ID number and account to number
    from the account snapshot. Rows with a null on either side are dropped.
    """
    require_columns(handsets_df, (SRC, DST), "identity_links handsets")
    require_columns(subscribers_df, SUBSCRIBERS, "identity_links subscribers")
    require_columns(accounts_df, ACCOUNTS, "identity_links accounts")

    def links(df: DataFrame, src: str, dst: str, kinds: tuple[int, int, str]) -> DataFrame:
        src_kind, dst_kind, kind = kinds
        pairs = df.where(F.col(src).isNotNull() & F.col(dst).isNotNull())
        return pairs.select(vertex(src_kind, src).alias(SRC), vertex(dst_kind, dst).alias(DST)).distinct().select(
            SRC, DST, F.lit(kind).alias(KIND)
        )

    # The kinds join different vertex kinds, so the union of distinct parts is distinct.
    parts = [
        handsets_df.select(SRC, DST, F.lit(NUMBER_DEVICE).alias(KIND)),
        links(subscribers_df, "msisdn", "id_number", (NUMBER, ID_NUMBER, NUMBER_ID)),
        links(accounts_df, "account_id", "holder_id_number", (ACCOUNT, ID_NUMBER, ACCOUNT_ID)),
        links(accounts_df, "account_id", "bound_msisdn", (ACCOUNT, NUMBER, ACCOUNT_NUMBER)),
    ]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union


def bridge_events(
    calls_df: DataFrame,
    transactions_df: DataFrame,
    accounts_df: DataFrame,
    *,
    hours: int,
    min_duration_s: int,
    around: DataFrame | None = None,
) -> DataFrame:
    """Transfers that followed a call: :data:`BRIDGE_EVENT`, one row per (caller, transfer).

    ``calls_df`` is the window's keyed calls (:data:`features.window.KEYED_CALL`:
    ``src``, ``dst`` vertex ids, ``duration_s``, ``start_time``). Number X
    (``src``) made an answered call of at least ``min_duration_s`` to number
    P (``payer``); within ``hours`` after the call started, an account bound
    to P transferred money to account A (``dst``), which is not bound to P
    itself. ``lag_s`` is the shortest call-to-transfer delay when X called P
    several times. Transfers out of accounts with no bound number never
    bridge. ``src``, ``payer`` and ``dst`` are vertex ids.

    ``around``: vertex ids (column ``id``, a small set: the day's flagged parties). When given, the events
    whose caller or receiving account is among them come out whole (the same rows, ``lag_s`` included) and
    most others are never built: only the calls from those callers, or to a payer of one of those
    accounts, meet the transfers. The calls are then filtered where they lie instead of all answered ones
    being shuffled to the transfers.
    """
    require_columns(calls_df, (SRC, DST, "duration_s", "start_time"), "bridge_events calls")
    require_columns(transactions_df, (*TRANSACTIONS, "txn_id"), "bridge_events transactions")
    require_columns(accounts_df, ACCOUNTS, "bridge_events accounts")
    bound = accounts_df.where(F.col("bound_msisdn").isNotNull() & F.col("account_id").isNotNull()).select(
        F.col("account_id").alias("payer_account"), vertex(NUMBER, "bound_msisdn").alias("payer")
    ).distinct()
    # Only transfers out of accounts bound to a number can bridge; attach the number first.
    paid = transactions_df.join(bound, transactions_df["src_account"] == bound["payer_account"]).select(
        "payer", "txn_id", "dst_account", F.col("amount").cast("double").alias("amount"), "txn_time"
    )
    calls = calls_df.where((F.col("duration_s") >= min_duration_s) & F.col(DST).isNotNull()).select(
        F.col(SRC).alias("caller"), F.col(DST).alias("payer"), "start_time"
    )
    if around is not None:
        # Every call of a touching event is from one of them, or to a payer of one of their accounts.
        near = around.select(F.col("id").alias("_near")).distinct()
        payers_in = paid.join(F.broadcast(near), vertex(ACCOUNT, "dst_account") == F.col("_near"), "left_semi")
        calls = with_member_flag(calls, near, key="_near", on="caller", name="_from_near")
        calls = with_member_flag(calls, payers_in.select("payer").distinct(), key="payer", on="payer", name="_pays_near")
        calls = calls.where((F.col("_from_near") + F.col("_pays_near")) > 0).drop("_from_near", "_pays_near")
    # Works for timestamps with and without a zone (a cast to long does not).
    lag = F.timestamp_diff("SECOND", F.col("start_time"), F.col("txn_time"))
    events = (
        calls.join(paid, on="payer")
        .where((lag >= 0) & (lag <= hours * 3600) & (F.col("caller") != F.col("payer")))
        .groupBy("caller", "txn_id", "payer", "dst_account", "amount", "txn_time")
        .agg(F.min(lag).alias("lag_s"))
    )
    own = bound.select(F.col("payer_account").alias("dst_account"), F.col("payer").alias("_own"))
    return (
        events.join(own, on=["dst_account"], how="left")
        .groupBy("caller", "txn_id", "payer", "dst_account", "amount", "txn_time", "lag_s")
        .agg(F.max(F.coalesce(F.col("_own") == F.col("payer"), F.lit(False))).alias("_to_own"))
        .where(~F.col("_to_own"))
        .select(
            F.col("caller").alias(SRC),
            "payer",
            "txn_id",
            vertex(ACCOUNT, "dst_account").alias(DST),
            "amount",
            "txn_time",
            "lag_s",
        )
    )


def money_bridges(events_df: DataFrame) -> DataFrame:
    """Call-then-transfer edges X -> A from :func:`bridge_events`, :data:`BRIDGE`.

    ``payers`` counts the distinct people X called who then paid A,
    ``transfers`` and ``amount`` their transfers, ``min_lag_s`` the shortest
    call-to-transfer delay.
    """
    require_columns(events_df, BRIDGE_EVENT, "money_bridges events")
    return (
        events_df.groupBy(SRC, DST)
        .agg(
            F.count_distinct("payer").alias("payers"),
            F.count(F.lit(1)).alias("transfers"),
            F.sum("amount").alias("amount"),
            F.min("txn_time").alias("first_time"),
            F.min("lag_s").alias("min_lag_s"),
        )
        .select(*BRIDGE)
    )


def undirected(edges_df: DataFrame, *, clustered_by: str | None = None) -> DataFrame:
    """Both directions of every edge, distinct ``(src, dst)``, self-loops dropped.

    ``clustered_by`` (``src`` or ``dst``): the edges come hash-partitioned by that end (one shuffle, the one
    the distinct needs anyway) and sorted by it within each partition, so that a materialised copy is read by
    joins and groupings on that end without a shuffle or a sort of its own.
    """
    require_columns(edges_df, (SRC, DST), "undirected edges")
    if clustered_by not in (None, SRC, DST):
        raise ValueError(f"undirected edges: clustered_by must be {SRC!r} or {DST!r}, got {clustered_by!r}")
    pairs = edges_df.select(SRC, DST)
    both = pairs.unionByName(pairs.select(F.col(DST).alias(SRC), F.col(SRC).alias(DST))).where(
        F.col(SRC) != F.col(DST)
    )
    if clustered_by is None:
        return both.distinct()
    return both.repartition(clustered_by).distinct().sortWithinPartitions(clustered_by)
