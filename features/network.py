"""Network features: what a number's or an account's neighbourhood says about it.

A single fraud SIM looks like a courier; a ring gives itself away through its
network. This module builds the window's graphs (:mod:`features.graphs`) and
turns them into per-entity features:

- identity sharing: handsets shared between numbers, numbers and accounts
  registered to one ID number, accounts bound to a number;
- co-targeting: how many of a high-volume caller's callees other high-volume
  callers also dial, and with how many such callers it shares several callees;
- neighbourhood: contacts' degrees, contacts and counterparties already
  labelled fraud or mule, and for accounts the share of such counterparties
  and the money triangles they close (:func:`features.accounts.known_fraud_features`);
- propagated risk: the share of known-fraud vertices one and two hops away in
  the joint graph (calls, SMS, money, identity links, money bridges), with a
  vertex's own label never counted (the two-hop walks that return to the
  vertex itself are subtracted exactly);
- the strong-tie component: vertices joined by shared handsets, shared ID
  numbers, bound numbers, call-then-transfer bridges paid by several people and
  money forwarded by pass-through accounts; its size and make-up, and how many
  other known-fraud parties it holds;
- money bridges: people a number called who then paid an account within hours.

Labels enter only as seeds, and only those reported before the as-of day.
The graphs run on 64-bit vertex ids (:mod:`features.graphs`); every output is
keyed by ``entity_token``, joined back from the snapshot's numbers and
accounts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features import graphs as G
from features.accounts import MoneyPairs, known_fraud_by_id
from features.accounts import money_pairs as pair_graph_of
from features.common import (
    ID,
    JOIN_HUB_DEGREE,
    Hubs,
    join_with_hubs,
    require_columns,
    safe_ratio,
    with_member_flag,
)
from features.graph_algos import connected_components
from features.window import EventWindow, event_window
from fraudgraph.config import GraphConf

LABELS = ("entity_type", "entity_id", "label", "reported_time")
# Vertex kind -> (entity_type in labels, labels that make a seed).
SEED_LABELS = {G.NUMBER: ("msisdn", ("fraud",)), G.ACCOUNT: ("account", ("mule", "fraud"))}
SEED = "seed"

# Both entity types: propagated risk and the strong-tie component.
GRAPH_POSITION_FEATURES = (
    "risk_1hop",
    "risk_2hop",
    "component_size",
    "component_numbers",
    "component_accounts",
    "component_devices",
    "component_ids",
    "component_known_fraud",
)

PHONE_NETWORK_FEATURES = (
    "shared_device_numbers",
    "device_max_numbers",
    "id_numbers",
    "id_accounts",
    "bound_accounts",
    "contact_mean_degree",
    "contact_max_degree",
    "known_fraud_contacts",
    "callees_hit_by_known_fraud_share",
    "co_target_share",
    "co_target_callers",
    "co_target_max_overlap",
    *GRAPH_POSITION_FEATURES,
    "bridge_payers",
    "bridge_accounts",
    "bridge_amount",
    "bridge_fresh_accounts",
    "bridge_payer_share",
    "bridge_min_lag_h",
)

ACCOUNT_NETWORK_FEATURES = (
    "holder_numbers",
    "known_mule_counterparties",
    "known_fraud_share",
    "known_fraud_triangles",
    "bridge_callers",
    "bridge_payers",
    "bridge_payers_high_volume_caller",
    "bridge_payers_known_fraud_caller",
    "bridge_payer_share",
    *GRAPH_POSITION_FEATURES,
)

COUNT_FEATURES = {
    "shared_device_numbers", "device_max_numbers", "id_numbers", "id_accounts", "bound_accounts",
    "known_fraud_contacts", "co_target_callers", "co_target_max_overlap", "component_known_fraud",
    "bridge_payers", "bridge_accounts", "bridge_amount", "bridge_fresh_accounts", "holder_numbers",
    "known_mule_counterparties", "bridge_callers", "bridge_payers_high_volume_caller",
    "bridge_payers_known_fraud_caller", "risk_1hop", "risk_2hop", "known_fraud_triangles",
}
_COMPONENT_ONE = {"component_size"}


@dataclass(frozen=True)
class NetworkFeatures:
    phones: DataFrame
    accounts: DataFrame


def _seed_labels(labels_df: DataFrame, kind: int, as_of: dt.date) -> DataFrame:
    """The labels of ``kind``'s seeds (see :data:`SEED_LABELS`) reported on a day before ``as_of``."""
    entity_type, labels = SEED_LABELS[kind]
    return labels_df.where(
        (F.col("entity_type") == entity_type)
        & F.col("label").isin(list(labels))
        & (F.to_date("reported_time") < F.lit(as_of))
        & F.col("entity_id").isNotNull()
    )


def seeds_before(labels_df: DataFrame, *, as_of: dt.date) -> DataFrame:
    """Vertex ids (``id``) labelled fraud (numbers) or mule/fraud (accounts) on a day before ``as_of``."""
    require_columns(labels_df, LABELS, "seeds_before labels")
    parts = [
        _seed_labels(labels_df, kind, as_of).select(G.vertex(kind, "entity_id").alias(ID)) for kind in SEED_LABELS
    ]
    return parts[0].unionByName(parts[1]).distinct()


def _with_seed(df: DataFrame, seeds: DataFrame, on: str, name: str) -> DataFrame:
    """``df`` with a 0/1 column ``name``: is ``on`` a seed (seeds' vertex ``id``, few: broadcast)."""
    return with_member_flag(df, seeds, key=ID, on=on, name=name)


def _identity(links: DataFrame, max_shared: int) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Per-number and per-account identity sharing, and the strong identity edges (hubs above ``max_shared`` dropped).

    Each link learns how many parties share its shared vertex (handset, ID
    number, bound number) from a window over that vertex: one shuffle and a
    sort, where a count per shared vertex joined back to the links took two
    shuffles and two sorts. Then one conditional aggregation per linked party.
    """

    def members_of(kind: str) -> F.Column:
        return F.count(F.when(F.col(G.KIND) == kind, 1)).over(Window.partitionBy(G.DST))

    # Per link, the parties linked to its shared vertex, by kind.
    linked = links.select(
        G.SRC,
        G.DST,
        G.KIND,
        members_of(G.NUMBER_DEVICE).alias("device_numbers"),
        members_of(G.NUMBER_ID).alias("id_numbers"),
        members_of(G.ACCOUNT_ID).alias("id_accounts"),
        members_of(G.ACCOUNT_NUMBER).alias("bound_accounts"),
    )

    def on(kind: str, column: str) -> F.Column:
        return F.when(F.col(G.KIND) == kind, F.col(column))

    per_party = linked.groupBy(F.col(G.SRC).alias(ID)).agg(
        F.sum(on(G.NUMBER_DEVICE, "device_numbers") - 1).alias("shared_device_numbers"),
        F.max(on(G.NUMBER_DEVICE, "device_numbers")).alias("device_max_numbers"),
        F.max(on(G.NUMBER_ID, "id_numbers")).alias("id_numbers"),
        F.max(on(G.NUMBER_ID, "id_accounts")).alias("id_accounts"),
        F.max(on(G.ACCOUNT_ID, "id_numbers")).alias("holder_numbers"),
    )
    # Accounts bound to a number: the number is the shared side of those links.
    bound = (
        links.where(F.col(G.KIND) == G.ACCOUNT_NUMBER)
        .groupBy(F.col(G.DST).alias(ID))
        .agg(F.count(F.lit(1)).alias("bound_accounts"))
    )
    phones = per_party.where(G.is_kind(ID, G.NUMBER)).unionByName(bound, allowMissingColumns=True)
    accounts = per_party.where(G.is_kind(ID, G.ACCOUNT))
    members = (
        F.when(F.col(G.KIND) == G.NUMBER_DEVICE, F.col("device_numbers"))
        .when(F.col(G.KIND) == G.NUMBER_ID, F.col("id_numbers"))
        .when(F.col(G.KIND) == G.ACCOUNT_ID, F.col("id_accounts"))
        .otherwise(F.col("bound_accounts"))
    )
    # A handset, ID number or bound number shared by more than max_shared parties is a hub, not a tie.
    strong = linked.where(members <= max_shared).select(G.SRC, G.DST)
    return phones, accounts, strong


def _contact_features(window: EventWindow, seeds: DataFrame, params: GraphConf) -> list[DataFrame]:
    """Contacts' degrees, known-fraud contacts and co-targeting, per number of the window's call pairs.

    Co-targeting asks of each caller how many of its callees other
    high-volume (or known-fraud) callers also dial, and with how many such
    callers it shares several callees. The caller itself is never counted
    among the "other" callers, so a seed's own label never counts.

    Three passes over the contacts (each pair from both ends): the peers'
    degrees, seeds and volume summed per number, which also gives each
    callee its high-volume and known-fraud callers; those callee counts summed
    per caller; and the caller-to-caller overlaps among high-volume callers
    of callees with a bounded number of them.

    The per-number peer figures and the called contacts with their callee
    figures are cached: each has several readers whose column pruning
    differs, so Spark would not reuse their shuffles and would join the
    contacts again for each reader (four joins of the contacts and three of
    the called ones: 127 s -> 101 s on the 10M-call benchmark, bench/README.md).
    """
    numbers = _with_seed(
        window.numbers.select(
            ID,
            F.col("contacts").alias("degree"),
            (F.col("out_distinct") >= params.high_volume_contacts).cast("int").alias("hv"),
        ),
        seeds,
        ID,
        SEED,
    )
    contacts = window.contacts()
    peer = numbers.select(
        F.col(ID).alias("peer"),
        F.col("degree").alias("peer_degree"),
        F.col("hv").alias("peer_hv"),
        F.col(SEED).alias("peer_seed"),
    )
    called_me = F.col("in_n") > 0
    # A number that dialed a leaked list is the peer of every number on it: its rows meet by broadcast.
    hubs = Hubs.of(numbers.where(F.col("degree") > JOIN_HUB_DEGREE), ID)
    per_number = (
        join_with_hubs(contacts, peer, on="peer", hubs=hubs)
        .groupBy(ID)
        .agg(
            F.avg("peer_degree").alias("contact_mean_degree"),
            F.max("peer_degree").alias("contact_max_degree"),
            F.sum("peer_seed").alias("known_fraud_contacts"),
            F.coalesce(F.sum(F.when(called_me, F.col("peer_hv"))), F.lit(0)).alias("hv_callers"),
            F.coalesce(F.sum(F.when(called_me, F.col("peer_seed"))), F.lit(0)).alias("fraud_callers"),
        )
        .cache()
    )
    callee = per_number.select(F.col(ID).alias("peer"), "hv_callers", "fraud_callers")
    callers = contacts.where(F.col("out_n") > 0).select(ID, "peer")
    called = join_with_hubs(callers, callee, on="peer", hubs=hubs).cache()

    def count_above(column: str, n: int) -> F.Column:
        return F.count(F.when(F.col(column) > n, 1))

    own = numbers.select(ID, "hv", SEED)
    shares = (
        called.groupBy(ID)
        .agg(
            F.count(F.lit(1)).alias("callees"),
            count_above("hv_callers", 0).alias("hv_gt0"),
            count_above("hv_callers", 1).alias("hv_gt1"),
            count_above("fraud_callers", 0).alias("fraud_gt0"),
            count_above("fraud_callers", 1).alias("fraud_gt1"),
        )
        .join(own, on=ID)
        .select(
            ID,
            # A callee counts when a caller other than this one is high-volume (known fraud).
            safe_ratio(
                F.when(F.col("hv") == 1, F.col("hv_gt1")).otherwise(F.col("hv_gt0")), F.col("callees")
            ).alias("co_target_share"),
            safe_ratio(
                F.when(F.col(SEED) == 1, F.col("fraud_gt1")).otherwise(F.col("fraud_gt0")), F.col("callees")
            ).alias("callees_hit_by_known_fraud_share"),
        )
    )
    # Caller-to-caller overlaps only among high-volume callers of callees with a bounded number of them.
    # High-volume callers are few (1,186 of 400,000 numbers on the 10M-call benchmark): broadcast, so the
    # called contacts are filtered where they lie, not shuffled by caller to meet them (once per side).
    hv_callers = F.broadcast(own.where(F.col("hv") == 1).select(ID))
    hv = (
        called.where(F.col("hv_callers").between(2, params.co_target_max_callers))
        .join(hv_callers, on=ID)
        .select(ID, "peer")
    )
    other = hv.select(F.col(ID).alias("other"), "peer")
    # Each unordered pair of callers is counted once (the overlap is symmetric), then credited to both: half
    # the rows of the self-join and of its shuffle (7.2M -> 3.6M on the 10M-call benchmark).
    pairs = (
        hv.join(other, on="peer")
        .where(F.col(ID) < F.col("other"))
        .groupBy(ID, "other")
        .agg(F.count(F.lit(1)).alias("overlap"))
    )
    both_ends = F.array(
        F.struct(F.col(ID).alias(ID), F.col("overlap").alias("overlap")),
        F.struct(F.col("other").alias(ID), F.col("overlap").alias("overlap")),
    )
    overlaps = (
        pairs.select(F.inline(both_ends))
        .groupBy(ID)
        .agg(
            F.sum((F.col("overlap") >= params.co_target_min_overlap).cast("int")).alias("co_target_callers"),
            F.max("overlap").alias("co_target_max_overlap"),
        )
    )
    return [per_number.drop("hv_callers", "fraud_callers"), shares, overlaps]


def _propagation(nb: DataFrame, seeds: DataFrame) -> DataFrame:
    """Share of known-fraud vertices 1 and 2 hops away, a vertex's own label excluded.

    ``nb`` is the undirected joint graph (both directions, no self-loops), best materialised clustered by
    ``dst`` (:func:`features.graphs.undirected`): the degrees (by ``dst``: the graph is symmetric) and the
    second hop's join then read it where it lies, and only partial sums are shuffled, by ``src``.

    ``risk_1hop(v)`` is the mean seed indicator over v's distinct neighbours;
    ``risk_2hop(v)`` the mean of the neighbours' ``risk_1hop``, less the walks
    v -> u -> v that would bring back v's own label: s(v) * mean(1 / deg(u)).

    Both hops follow the seeds, which are few: the first hop counts, for each vertex, its edges to a seed (the
    seeds broadcast to the edges where they lie), and the second hop sums ``risk_1hop`` over the neighbours
    where it is not 0, the seeds' neighbours only. Every neighbour of a seed is such a vertex, so the same sums
    give a seed's own correction. The means over all neighbours are these sums over the degree: no hop joins
    every edge with every vertex (bench/README.md, "Propagation from the seeds").
    """
    degree = nb.groupBy(G.DST).agg(F.count(F.lit(1)).alias("deg")).withColumnRenamed(G.DST, ID).cache()
    hubs = Hubs.of(degree.where(F.col("deg") > JOIN_HUB_DEGREE), ID)
    seed_peers = (
        nb.join(F.broadcast(seeds.select(F.col(ID).alias(G.DST))), on=G.DST, how="left_semi")
        .groupBy(F.col(G.SRC).alias(ID))
        .agg(F.count(F.lit(1)).alias("seed_peers"))
    )
    # One row per vertex, in the degrees' order; the seeds' neighbours are those with a seed peer.
    hop1 = (
        degree.join(seed_peers, on=ID, how="left")
        .select(ID, "deg", (F.coalesce(F.col("seed_peers"), F.lit(0)) / F.col("deg")).alias("risk_1hop"))
        .cache()
    )
    near = hop1.where(F.col("risk_1hop") > 0).select(
        F.col(ID).alias(G.DST), F.col("risk_1hop").alias("peer_risk"), (1.0 / F.col("deg")).alias("inv_peer_deg")
    )
    hop2 = (
        join_with_hubs(nb, near, on=G.DST, hubs=hubs)
        .groupBy(F.col(G.SRC).alias(ID))
        .agg(F.sum("peer_risk").alias("peer_risk"), F.sum("inv_peer_deg").alias("inv_peer_deg"))
    )
    walks_back = F.col(SEED) * F.coalesce(F.col("inv_peer_deg"), F.lit(0.0))
    return _with_seed(hop1.join(hop2, on=ID, how="left"), seeds, ID, SEED).select(
        ID,
        "risk_1hop",
        F.greatest(
            F.lit(0.0), (F.coalesce(F.col("peer_risk"), F.lit(0.0)) - walks_back) / F.col("deg")
        ).alias("risk_2hop"),
    )


def _strong_edges(
    identity_strong: DataFrame, money: DataFrame, bridges: DataFrame, params: GraphConf
) -> DataFrame:
    """Strong ties: identity sharing, bridges paid by several people, money forwarded by pass-through accounts."""
    inflow = money.groupBy(F.col(G.DST).alias(ID)).agg(
        F.count(F.lit(1)).alias("payers"), F.sum("amount").alias("in_amount")
    )
    outflow = money.groupBy(F.col(G.SRC).alias(ID)).agg(F.sum("amount").alias("out_amount"))
    pass_through = (
        inflow.join(outflow, on=ID)
        .where((F.col("payers") >= 2) & (F.col("out_amount") >= 0.5 * F.col("in_amount")))
        .select(F.col(ID).alias(G.SRC))
    )
    # Money out of a pass-through account, unless it goes to a hub (an ATM, a merchant).
    forwarded = (
        money.join(pass_through, on=G.SRC)
        .join(inflow.select(F.col(ID).alias(G.DST), F.col("payers").alias("dst_payers")), on=G.DST)
        .where(F.col("dst_payers") <= params.max_shared)
        .select(G.SRC, G.DST)
    )
    paid_bridges = bridges.where(F.col("payers") >= params.min_bridge_payers).select(G.SRC, G.DST)
    return identity_strong.unionByName(forwarded).unionByName(paid_bridges)


def _components(strong: DataFrame, seeds: DataFrame) -> DataFrame:
    """Per vertex of a strong tie: its component's size, make-up and other known-fraud members."""
    members = _with_seed(connected_components(strong), seeds, ID, SEED)
    kind = G.kind_of(ID)
    make_up = members.groupBy("component").agg(
        F.count(F.lit(1)).alias("component_size"),
        F.sum((kind == G.NUMBER).cast("int")).alias("component_numbers"),
        F.sum((kind == G.ACCOUNT).cast("int")).alias("component_accounts"),
        F.sum((kind == G.DEVICE).cast("int")).alias("component_devices"),
        F.sum((kind == G.ID_NUMBER).cast("int")).alias("component_ids"),
        F.sum(SEED).alias("component_seeds"),
    )
    return members.join(make_up, on="component").select(
        ID,
        "component_size",
        "component_numbers",
        "component_accounts",
        "component_devices",
        "component_ids",
        (F.col("component_seeds") - F.col(SEED)).alias("component_known_fraud"),
    )


def _bridge_features(
    events: DataFrame, bridges: DataFrame, numbers: DataFrame, money: DataFrame, accounts_df: DataFrame,
    seeds: DataFrame, *, as_of: dt.date, params: GraphConf,
) -> tuple[DataFrame, DataFrame]:
    """Money after calls, per calling number and per receiving account."""
    fresh = accounts_df.select(
        G.vertex(G.ACCOUNT, "account_id").alias(G.DST),
        (F.datediff(F.lit(as_of), F.col("open_date")) <= params.fresh_account_days).cast("int").alias("fresh"),
    ).dropDuplicates([G.DST])
    answered = numbers.select(ID, F.col("out_answered_distinct").alias("answered_callees"))
    payers_per_caller = events.groupBy(F.col(G.SRC).alias(ID)).agg(F.count_distinct("payer").alias("bridge_payers"))
    phones = (
        bridges.join(fresh, on=G.DST, how="left")
        .groupBy(F.col(G.SRC).alias(ID))
        .agg(
            F.count(F.lit(1)).alias("bridge_accounts"),
            F.sum("amount").alias("bridge_amount"),
            F.sum(F.coalesce(F.col("fresh"), F.lit(0))).alias("bridge_fresh_accounts"),
            (F.min("min_lag_s") / 3600.0).alias("bridge_min_lag_h"),
        )
        .join(payers_per_caller, on=ID)
        .join(answered, on=ID, how="left")
        .withColumn("bridge_payer_share", safe_ratio(F.col("bridge_payers"), F.col("answered_callees")))
        .drop("answered_callees")
    )
    out_degree = numbers.select(F.col(ID).alias(G.SRC), F.col("out_distinct").alias("caller_degree"))
    flagged = _with_seed(events.join(out_degree, on=G.SRC, how="left"), seeds, G.SRC, "caller_seed")
    payers_in = money.groupBy(F.col(G.DST).alias(ID)).agg(F.count(F.lit(1)).alias("money_payers"))
    high_volume = F.col("caller_degree") >= params.high_volume_contacts
    accounts = (
        flagged.groupBy(F.col(G.DST).alias(ID))
        .agg(
            F.count_distinct(G.SRC).alias("bridge_callers"),
            F.count_distinct("payer").alias("bridge_payers"),
            F.count_distinct(F.when(high_volume, F.col("payer"))).alias("bridge_payers_high_volume_caller"),
            F.count_distinct(F.when(F.col("caller_seed") == 1, F.col("payer"))).alias(
                "bridge_payers_known_fraud_caller"
            ),
        )
        .join(payers_in, on=ID, how="left")
        .withColumn("bridge_payer_share", safe_ratio(F.col("bridge_payers"), F.col("money_payers")))
        .drop("money_payers")
    )
    return phones, accounts


def _known_mule_counterparties(money: DataFrame, seeds: DataFrame) -> DataFrame:
    return (
        _with_seed(G.undirected(money), seeds, G.DST, "peer_seed")
        .groupBy(F.col(G.SRC).alias(ID))
        .agg(F.sum("peer_seed").alias("known_mule_counterparties"))
    )


def _known_fraud_money(transactions_df: DataFrame, seeds: DataFrame, pairs: MoneyPairs | None) -> DataFrame:
    """``known_fraud_share`` and ``known_fraud_triangles`` per account vertex (``id``).

    Their money neighbours are the account features' (pairs with a non-ATM
    transfer); ``known_fraud_peers`` is left out, ``known_mule_counterparties``
    already counts the seeded neighbours (ATM-only pairs included, which have
    no labelled end in practice).
    """
    pairs = pair_graph_of(transactions_df) if pairs is None else pairs
    return known_fraud_by_id(pairs, seeds.where(G.is_kind(ID, G.ACCOUNT))).select(
        ID, "known_fraud_share", "known_fraud_triangles"
    )


def network_features(
    calls_df: DataFrame,
    sms_df: DataFrame,
    transactions_df: DataFrame,
    subscribers_df: DataFrame,
    accounts_df: DataFrame,
    labels_df: DataFrame,
    *,
    as_of: dt.date,
    window_days: int,
    params: GraphConf,
) -> NetworkFeatures:
    """Network features of every number and account seen in the graphs of the window ending ``as_of``.

    Calls and SMS outside the ``window_days`` days ending ``as_of`` are
    ignored; the transactions must already hold only the window; the
    snapshots are those of the window's last day; ``labels_df`` may hold any
    labels, only those reported on a day before ``as_of`` are used.

    Output: ``phones`` (``entity_token`` then :data:`PHONE_NETWORK_FEATURES`)
    and ``accounts`` (``entity_token`` then :data:`ACCOUNT_NETWORK_FEATURES`),
    one row per number of the subscriber snapshot and account of the
    accounts snapshot that is a vertex of the joint graph (the entities the
    base features describe; other numbers and accounts are neighbours, never
    rows). The values: :func:`network_features_of`.
    """
    window = event_window(calls_df, sms_df, as_of=as_of, window_days=window_days)
    by_id = network_features_of(window, transactions_df, subscribers_df, accounts_df, labels_df, params=params)
    return NetworkFeatures(
        phones=G.by_token(by_id.phones, subscribers_df.select("msisdn"), G.NUMBER),
        accounts=G.by_token(by_id.accounts, accounts_df.select("account_id"), G.ACCOUNT),
    )


def network_features_of(
    window: EventWindow,
    transactions_df: DataFrame,
    subscribers_df: DataFrame,
    accounts_df: DataFrame,
    labels_df: DataFrame,
    *,
    params: GraphConf,
    money_pairs: MoneyPairs | None = None,
) -> NetworkFeatures:
    """Network features from an :class:`~features.window.EventWindow` already keyed (see :func:`network_features`).

    ``money_pairs``: the window's pair graph of the account features (:func:`features.accounts.money_pairs`),
    when the caller shares it; the known-fraud triangles are then not listed a second time.

    Output, keyed by vertex id (:func:`features.graphs.vertex`): ``phones``
    (``id`` then :data:`PHONE_NETWORK_FEATURES`) and ``accounts`` (``id``
    then :data:`ACCOUNT_NETWORK_FEATURES`), one row per number and account
    vertex of the joint graph, in the snapshots or not: join the entities you
    describe by their vertex id (a number or account outside the snapshots is
    a neighbour, never a row of the features). An entity with no edge of a
    kind has 0 for its counts, 1 for its component size (it is alone), and
    null for ratios whose denominator is 0. The seeded features never read
    the entity's own label (its own seed flag).
    """
    as_of = window.as_of
    seeds = seeds_before(labels_df, as_of=as_of).cache()
    money = G.money_graph(transactions_df).cache()
    links = G.identity_links(window.handsets, subscribers_df, accounts_df).cache()
    events = G.bridge_events(
        window.calls, transactions_df, accounts_df, hours=params.bridge_hours, min_duration_s=params.bridge_min_call_s
    ).cache()
    bridges = G.money_bridges(events).cache()

    phone_identity, account_identity, identity_strong = _identity(links, params.max_shared)
    everything = (
        window.pairs.select(F.col("a").alias(G.SRC), F.col("b").alias(G.DST))
        .unionByName(window.sms.select(G.SRC, G.DST))
        .unionByName(money.select(G.SRC, G.DST))
        .unionByName(links.select(G.SRC, G.DST))
        .unionByName(bridges.select(G.SRC, G.DST))
    )
    joint = G.undirected(everything, clustered_by=G.DST).cache()
    # Both entity types read the propagated risk and the components: compute each once.
    propagated = _propagation(joint, seeds).cache()
    components = _components(_strong_edges(identity_strong, money, bridges, params), seeds).cache()
    bridge_phones, bridge_accounts = _bridge_features(
        events, bridges, window.numbers, money, accounts_df, seeds, as_of=as_of, params=params
    )

    def assemble(kind: int, parts: list[DataFrame], columns: tuple[str, ...]) -> DataFrame:
        # Each part holds at most one row per vertex: one union and one aggregation
        # instead of a chain of joins (one shuffle, not one per part). The
        # propagated risk has a row for every vertex of the joint graph.
        rows = propagated.where(G.is_kind(ID, kind))
        for part in parts:
            rows = rows.unionByName(part.where(G.is_kind(ID, kind)), allowMissingColumns=True)
        out = rows.groupBy(ID).agg(*[F.max(c).alias(c) for c in columns])
        components_zero = [c for c in columns if c.startswith("component_") and c not in _COMPONENT_ONE]
        out = out.fillna(0, subset=[c for c in columns if c in COUNT_FEATURES] + components_zero)
        return out.fillna(1, subset=list(_COMPONENT_ONE)).select(ID, *columns)

    phones = assemble(
        G.NUMBER,
        [phone_identity, *_contact_features(window, seeds, params), components, bridge_phones],
        PHONE_NETWORK_FEATURES,
    )
    accounts = assemble(
        G.ACCOUNT,
        [
            account_identity,
            _known_mule_counterparties(money, seeds),
            _known_fraud_money(transactions_df, seeds, money_pairs),
            components,
            bridge_accounts,
        ],
        ACCOUNT_NETWORK_FEATURES,
    )
    return NetworkFeatures(phones=phones, accounts=accounts)
