"""Leaked personal information as a risk signal, and confirmed fraud fed back into it.

Rings dial from leaked lists. Three things follow, each computed here on
Spark, joined only through tokens (as 64-bit vertex ids,
:func:`features.graphs.vertex`):

- **Exposure** of a number: the leak sources its number or its registered ID
  number was seen in (``exposures`` up to the as-of day), of which types,
  with which sensitive fields, how recently (:data:`EXPOSURE_FEATURES`).
- **Targeting** by a caller, an SMS sender or a receiving account: the share
  of its contacts (payers, for an account) who are exposed, and the highest
  *lift* of one source among them against that source's share of the
  population. A number that dials from one list stands out even at a modest
  volume. The lift is shrunk: with ``h`` of ``n`` contacts in a source of
  population share ``p`` and a prior of ``a`` contacts,
  ``lift = ((h + a p) / (n + a)) / p``, so a caller with three contacts never
  outranks one with three hundred.
- **Exploitation** of a source, the feedback loop: for every number known as
  fraud before the as-of day, the shrunk lift of each source among its
  callees and SMS receivers; and the same for the people reported as victims
  of each case. A source's *evidence* is the sum of ``ln lift`` over the
  groups whose lift reaches ``exposure.exploit_lift`` (they dial from its
  list), its *exploitation score* ``1 - exp(-evidence)`` (0..1). A group that
  dials at random, or from another list, adds nothing to a source. The targeting features weight each contact by the highest
  exploitation score among the contact's sources
  (``*_exploited_score``), so a case confirmed today raises tomorrow's risk
  of every other number dialing the same list.

The population of a source's share is the parties of the window: numbers in a
call or SMS pair (for callers and senders) and accounts in a transfer (for
payers). Accounts are exposed through their holder's ID number and their
bound number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from features import graphs as G
from features.common import ENTITY, require_columns, safe_ratio
from features.network import ID, seeds_before
from features.window import EventWindow
from fraudgraph.config import ExposureConf

EXPOSURES = ("source_id", "msisdn", "id_number", "fields", "observed_date")
SOURCES = ("source_id", "source_type", "name", "discovered_date")
NONCOMPLIANT_APP = "noncompliant_app"
SOURCE = "source_id"

EXPOSURE_FEATURES = (
    "exposed_sources",
    "exposed_source_types",
    "exposed_id_number",
    "exposed_bank_card",
    "exposed_noncompliant_apps",
    "days_since_exposed",
)
PHONE_TARGETING_FEATURES = (
    "callees_exposed_share",
    "callees_max_source_lift",
    "callees_exploited_score",
    "sms_exposed_share",
    "sms_max_source_lift",
    "sms_exploited_score",
)
PHONE_EXPOSURE_FEATURES = (*EXPOSURE_FEATURES, *PHONE_TARGETING_FEATURES)
ACCOUNT_EXPOSURE_FEATURES = (
    "holder_exposed_sources",
    "holder_exposed_bank_card",
    "payers_exposed_share",
    "payers_max_source_lift",
    "payers_exploited_score",
)
# 0, not null, for a party with nothing of their kind (a ratio or a lift stays null without contacts).
COUNT_FEATURES = {
    "exposed_sources", "exposed_source_types", "exposed_id_number", "exposed_bank_card",
    "exposed_noncompliant_apps", "holder_exposed_sources", "holder_exposed_bank_card",
}

SOURCE_COLUMNS = (
    "source_id", "source_type", "name", "discovered_date", "members", "population_share", "groups",
    "exploiting_numbers", "rings", "targets", "hits", "evidence", "exploitation", "exploitation_rank",
    "previous_exploitation", "trend", "exploited_since",
)


@dataclass(frozen=True)
class ExposureOutputs:
    # entity_token + PHONE_EXPOSURE_FEATURES, every subscriber number (by_id: id + the features, see there)
    phones: DataFrame
    # entity_token + ACCOUNT_EXPOSURE_FEATURES, every snapshot account (by_id: as phones)
    accounts: DataFrame
    sources: DataFrame  # SOURCE_COLUMNS, one row per known source
    memberships: DataFrame  # id (number vertex), source_id, has_id_number, has_bank_card, last_seen


def _fields(column: str) -> Column:
    """The comma-separated leaked fields as an array of lower-case names."""
    return F.split(F.lower(F.regexp_replace(column, r"\s", "")), ",")


def memberships(exposures_df: DataFrame, subscribers_df: DataFrame, *, as_of: dt.date) -> DataFrame:
    """(number vertex ``id``, ``source_id``) for every number seen in a source up to ``as_of``.

    A number is in a source when the source holds the number itself, or the
    ID number it is registered to (the subscriber snapshot). Columns:
    ``has_id_number``, ``has_bank_card`` (the source leaked those fields for
    this person), ``last_seen`` (the latest observation).
    """
    require_columns(exposures_df, EXPOSURES, "exposure memberships exposures")
    require_columns(subscribers_df, ("msisdn", "id_number"), "exposure memberships subscribers")
    seen = exposures_df.where((F.col("observed_date") <= F.lit(as_of)) & F.col(SOURCE).isNotNull()).select(
        SOURCE,
        "msisdn",
        "id_number",
        _fields("fields").alias("fields"),
        "observed_date",
    )
    by_number = seen.where(F.col("msisdn").isNotNull()).select(
        G.vertex(G.NUMBER, "msisdn").alias(ID), SOURCE, "fields", "observed_date"
    )
    owners = subscribers_df.where(F.col("msisdn").isNotNull() & F.col("id_number").isNotNull()).select(
        "id_number", G.vertex(G.NUMBER, "msisdn").alias(ID)
    ).distinct()
    by_id = seen.where(F.col("id_number").isNotNull()).join(owners, on="id_number").select(
        ID, SOURCE, "fields", "observed_date"
    )
    return (
        by_number.unionByName(by_id)
        .groupBy(ID, SOURCE)
        .agg(
            F.max(F.array_contains("fields", "id_number").cast("int")).alias("has_id_number"),
            F.max(F.array_contains("fields", "bank_card").cast("int")).alias("has_bank_card"),
            F.max("observed_date").alias("last_seen"),
        )
    )


def _account_memberships(number_members: DataFrame, exposures_df: DataFrame, accounts_df: DataFrame, *, as_of: dt.date) -> DataFrame:
    """(account vertex ``id``, ``source_id``, ``has_bank_card``): through the bound number or the holder's ID number."""
    bound = accounts_df.where(F.col("account_id").isNotNull() & F.col("bound_msisdn").isNotNull()).select(
        G.vertex(G.ACCOUNT, "account_id").alias("account"), G.vertex(G.NUMBER, "bound_msisdn").alias(ID)
    )
    via_number = bound.join(number_members, on=ID).select(F.col("account").alias(ID), SOURCE, "has_bank_card")
    holders = accounts_df.where(F.col("account_id").isNotNull() & F.col("holder_id_number").isNotNull()).select(
        G.vertex(G.ACCOUNT, "account_id").alias(ID), F.col("holder_id_number").alias("id_number")
    )
    via_id = (
        exposures_df.where((F.col("observed_date") <= F.lit(as_of)) & F.col("id_number").isNotNull())
        .select(SOURCE, "id_number", F.array_contains(_fields("fields"), "bank_card").cast("int").alias("has_bank_card"))
        .join(holders, on="id_number")
        .select(ID, SOURCE, "has_bank_card")
    )
    return via_number.unionByName(via_id).groupBy(ID, SOURCE).agg(F.max("has_bank_card").alias("has_bank_card"))


def _population_shares(members: DataFrame, population: DataFrame) -> DataFrame:
    """Per source: ``share``, its members' share of the one-column frame of vertex ids ``population``."""
    size = population.agg(F.count(F.lit(1)).alias("size"))
    return (
        members.join(population, on=ID)
        .groupBy(SOURCE)
        .agg(F.count(F.lit(1)).alias("in_population"))
        .crossJoin(size)
        .select(SOURCE, (F.col("in_population") / F.col("size")).alias("share"))
    )


def _shrunk_lift(hits: Column, n: Column, share: Column, prior: float) -> Column:
    return ((hits + prior * share) / (n + prior)) / share


def _group_lifts(edges: DataFrame, members: DataFrame, shares: DataFrame, prior: float) -> DataFrame:
    """Per (``src``, source with a hit among its ``dst``): ``hits``, ``n`` (distinct dst) and the shrunk ``lift``.

    ``edges`` are distinct (src, dst) pairs; ``members`` (id, source_id) of the dst side.
    """
    n = edges.groupBy(G.SRC).agg(F.count(F.lit(1)).alias("n"))
    hits = (
        edges.join(members.select(F.col(ID).alias(G.DST), SOURCE), on=G.DST)
        .groupBy(G.SRC, SOURCE)
        .agg(F.count(F.lit(1)).alias("hits"))
    )
    return (
        hits.join(n, on=G.SRC)
        .join(F.broadcast(shares), on=SOURCE)  # one row per leak source: a handful
        .withColumn("lift", _shrunk_lift(F.col("hits"), F.col("n"), F.col("share"), prior))
    )


def _targeting(
    edges: DataFrame, members: DataFrame, shares: DataFrame, weights: DataFrame, prior: float, prefix: str
) -> DataFrame:
    """Per ``src``: ``<prefix>_exposed_share``, ``<prefix>_max_source_lift``, ``<prefix>_exploited_score``.

    A source absent among a party's contacts has the lift ``a / (n + a)``
    (below 1); the maximum never falls under it. The edges are joined once
    with one row per exposed ``dst`` (its sources and its most exploited
    one's score): the per-party counts and the per-source hits both group
    that join, and ``n`` is counted once.
    """
    exposed = (
        members.join(F.broadcast(weights), on=SOURCE, how="left")
        .groupBy(F.col(ID).alias(G.DST))
        .agg(F.collect_set(SOURCE).alias("sources"), F.max("exploitation").alias("weight"))
    )
    contacts = edges.join(exposed, on=G.DST, how="left")
    per_src = contacts.groupBy(G.SRC).agg(
        F.count(F.lit(1)).alias("n"),
        F.count("sources").alias("exposed"),
        F.avg(F.coalesce("weight", F.lit(0.0))).alias("weight"),
    )
    hits = (
        contacts.select(G.SRC, F.explode("sources").alias(SOURCE))
        .groupBy(G.SRC, SOURCE)
        .agg(F.count(F.lit(1)).alias("hits"))
    )
    best = (
        hits.join(per_src.select(G.SRC, "n"), on=G.SRC)
        .join(F.broadcast(shares), on=SOURCE)  # one row per leak source: a handful
        .groupBy(G.SRC)
        .agg(F.max(_shrunk_lift(F.col("hits"), F.col("n"), F.col("share"), prior)).alias("best"))
    )
    return per_src.join(best, on=G.SRC, how="left").select(
        F.col(G.SRC).alias(ID),
        safe_ratio(F.col("exposed"), F.col("n")).alias(f"{prefix}_exposed_share"),
        F.greatest(F.coalesce("best", F.lit(0.0)), F.lit(prior) / (F.col("n") + F.lit(prior))).alias(
            f"{prefix}_max_source_lift"
        ),
        F.col("weight").alias(f"{prefix}_exploited_score"),
    )


def exploitation(
    window: EventWindow,
    members: DataFrame,
    sources_df: DataFrame,
    labels_df: DataFrame,
    previous: DataFrame | None,
    params: ExposureConf,
) -> DataFrame:
    """Each known source's exploitation on the window's as-of day (:data:`SOURCE_COLUMNS`).

    Groups: every number labelled fraud before the as-of day, with its callees
    and SMS receivers in the window as targets; and the people labelled
    victims before the as-of day, one group per case (one for those without
    a case). ``exploiting_numbers`` counts the fraud numbers whose lift
    towards the source reaches ``params.exploit_lift``; ``rings``, their
    distinct cases (a number without a case is its own). ``previous`` is the
    last earlier day's table (or None): ``trend`` is the change of the score
    since then, ``exploited_since`` the first day the score reached
    ``params.exploited_score``, carried forward.
    """
    require_columns(sources_df, SOURCES, "exploitation sources")
    as_of = window.as_of
    seeds = seeds_before(labels_df, as_of=as_of).where(G.is_kind(ID, G.NUMBER))
    known = labels_df.where(
        (F.col("entity_type") == "msisdn") & F.col("entity_id").isNotNull() & (F.to_date("reported_time") < F.lit(as_of))
    )
    case_of = (
        known.where(F.col("label") == "fraud")
        .groupBy(G.vertex(G.NUMBER, "entity_id").alias(G.SRC))
        .agg(F.max("case_id").alias("case_id"))
    )
    fraud_targets = (
        window.contacts()
        .where(F.col("out_n") > 0)
        .select(F.col(ID).alias(G.SRC), F.col("peer").alias(G.DST))
        .unionByName(window.sms.select(G.SRC, G.DST))
        .join(seeds.select(F.col(ID).alias(G.SRC)), on=G.SRC, how="left_semi")
        .where(F.col(G.SRC) != F.col(G.DST))
    )
    # Victims of one case are one group, keyed by a vertex id no number can have (the case's hash, kind bits of a device).
    victims = known.where(F.col("label") == "victim").select(
        G.vertex(G.DEVICE, F.concat(F.lit("case:"), F.coalesce("case_id", F.lit("")))).alias(G.SRC),
        G.vertex(G.NUMBER, "entity_id").alias(G.DST),
    )
    edges = fraud_targets.unionByName(victims).distinct()
    population = window.numbers.select(ID).unionByName(
        window.sms.select(F.col(G.SRC).alias(ID))
    ).unionByName(window.sms.select(F.col(G.DST).alias(ID))).unionByName(
        victims.select(F.col(G.DST).alias(ID))
    ).distinct()
    shares = _population_shares(members, population).cache()
    lifts = _group_lifts(edges, members, shares, params.prior_contacts).join(case_of, on=G.SRC, how="left")
    is_number = G.is_kind(G.SRC, G.NUMBER)
    # Only groups that dial from a list count: a group's lift at random hovers around 1, and summing the
    # positive parts of that noise over many groups would make every source look exploited.
    dialing = F.col("lift") >= params.exploit_lift
    exploiting = is_number & dialing
    per_source = lifts.groupBy(SOURCE).agg(
        F.sum(F.when(dialing, F.log("lift")).otherwise(0.0)).alias("evidence"),
        F.count_distinct(F.when(exploiting, F.col(G.SRC))).alias("exploiting_numbers"),
        F.count_distinct(
            F.when(exploiting, F.coalesce(F.col("case_id"), F.col(G.SRC).cast("string")))
        ).alias("rings"),
        F.sum("hits").alias("hits"),
    )
    totals = edges.agg(
        F.count_distinct(G.SRC).alias("groups"), F.count_distinct(G.DST).alias("targets")
    )
    member_counts = members.groupBy(SOURCE).agg(F.count(F.lit(1)).alias("members"))
    table = (
        sources_df.select(*SOURCES)
        .dropDuplicates([SOURCE])
        .join(member_counts, on=SOURCE, how="left")
        .join(shares.withColumnRenamed("share", "population_share"), on=SOURCE, how="left")
        .join(per_source, on=SOURCE, how="left")
        .crossJoin(totals)
        .fillna(0, subset=["members", "evidence", "exploiting_numbers", "rings", "hits"])
        .withColumn("exploitation", 1.0 - F.exp(-F.col("evidence")))
    )
    if previous is None:
        before = table.select(SOURCE, F.lit(None).cast("double").alias("previous_exploitation"),
                              F.lit(None).cast("date").alias("since_before"))
    else:
        before = previous.select(
            SOURCE, F.col("exploitation").alias("previous_exploitation"), F.col("exploited_since").alias("since_before")
        )
    exploited_now = F.col("exploitation") >= params.exploited_score
    return (
        table.join(before, on=SOURCE, how="left")
        .withColumn("trend", F.col("exploitation") - F.col("previous_exploitation"))
        .withColumn(
            "exploited_since",
            F.when(exploited_now, F.coalesce(F.col("since_before"), F.lit(as_of))),
        )
        .withColumn("exploitation_rank", F.rank().over(_by_exploitation()))
        .select(*SOURCE_COLUMNS)
    )


def _by_exploitation() -> WindowSpec:
    # One row per leak source (a handful): a global window is fine here.
    return Window.orderBy(F.col("evidence").desc(), F.col("hits").desc())


def exposure_features(
    window: EventWindow,
    transactions_df: DataFrame,
    exposures_df: DataFrame,
    sources_df: DataFrame,
    subscribers_df: DataFrame,
    accounts_df: DataFrame,
    labels_df: DataFrame,
    *,
    previous_sources: DataFrame | None,
    params: ExposureConf,
    by_id: bool = False,
) -> ExposureOutputs:
    """Exposure and targeting features of the window's numbers and accounts, and the sources' exploitation.

    ``exposures_df`` may hold any days (only those up to the as-of day
    count); ``labels_df`` any labels (only those reported before the as-of
    day count); the snapshots are the as-of day's. A party with no exposure
    has 0 for its counts and null for ``days_since_exposed``; a party with no
    contacts of a kind has nulls for that kind's targeting features.

    ``by_id``: ``phones`` and ``accounts`` keyed by vertex ``id`` instead, one row per party with an
    exposure or contacts (in the snapshots or not): a party without a row has 0 for the counts of
    :data:`COUNT_FEATURES` and nulls elsewhere (the caller joins and fills them).
    """
    as_of = window.as_of
    members = memberships(exposures_df, subscribers_df, as_of=as_of).cache()
    sources = exploitation(window, members, sources_df, labels_df, previous_sources, params).cache()
    weights = sources.select(SOURCE, "exploitation")
    types = sources_df.select(SOURCE, "source_type").dropDuplicates([SOURCE])
    prior = params.prior_contacts

    own = (
        members.join(F.broadcast(types), on=SOURCE, how="left")
        .groupBy(ID)
        .agg(
            F.count(F.lit(1)).alias("exposed_sources"),
            F.count_distinct("source_type").alias("exposed_source_types"),
            F.max("has_id_number").alias("exposed_id_number"),
            F.max("has_bank_card").alias("exposed_bank_card"),
            F.count(F.when(F.col("source_type") == NONCOMPLIANT_APP, 1)).alias("exposed_noncompliant_apps"),
            F.datediff(F.lit(as_of), F.max("last_seen")).alias("days_since_exposed"),
        )
    )
    numbers_population = window.numbers.select(ID)
    call_edges = window.contacts().where(F.col("out_n") > 0).select(F.col(ID).alias(G.SRC), F.col("peer").alias(G.DST))
    sms_edges = window.sms.where(F.col(G.SRC) != F.col(G.DST)).select(G.SRC, G.DST)
    sms_population = sms_edges.select(F.col(G.SRC).alias(ID)).unionByName(sms_edges.select(F.col(G.DST).alias(ID))).distinct()
    calls_part = _targeting(call_edges, members, _population_shares(members, numbers_population), weights, prior, "callees")
    sms_part = _targeting(sms_edges, members, _population_shares(members, sms_population), weights, prior, "sms")

    phone_rows = own.unionByName(calls_part, allowMissingColumns=True).unionByName(sms_part, allowMissingColumns=True)
    phones = _merged(phone_rows, PHONE_EXPOSURE_FEATURES)

    account_members = _account_memberships(members, exposures_df, accounts_df, as_of=as_of).cache()
    holder = account_members.groupBy(ID).agg(
        F.count(F.lit(1)).alias("holder_exposed_sources"), F.max("has_bank_card").alias("holder_exposed_bank_card")
    )
    money = G.money_graph(transactions_df).where(F.col(G.SRC) != F.col(G.DST))
    # Payers of an account: the edges reversed (src = receiving account, dst = payer).
    payer_edges = money.select(F.col(G.DST).alias(G.SRC), F.col(G.SRC).alias(G.DST))
    accounts_population = money.select(F.col(G.SRC).alias(ID)).unionByName(money.select(F.col(G.DST).alias(ID))).distinct()
    payers_part = _targeting(
        payer_edges, account_members, _population_shares(account_members, accounts_population), weights, prior, "payers"
    )
    accounts = _merged(holder.unionByName(payers_part, allowMissingColumns=True), ACCOUNT_EXPOSURE_FEATURES)
    if not by_id:
        phones = _per_token(phones, subscribers_df.select("msisdn"), G.NUMBER)
        accounts = _per_token(accounts, accounts_df.select("account_id"), G.ACCOUNT)
    return ExposureOutputs(phones=phones, accounts=accounts, sources=sources, memberships=members)


def _merged(rows: DataFrame, columns: tuple[str, ...]) -> DataFrame:
    """The parts' ``columns`` merged: one row per ``id`` (each part holds at most one)."""
    return rows.groupBy(ID).agg(*[F.max(c).alias(c) for c in columns])


def _per_token(merged: DataFrame, tokens: DataFrame, kind: int) -> DataFrame:
    """One row per token of ``tokens`` (all of them) with its ``merged`` row (by vertex id), counts 0 when absent."""
    columns = [c for c in merged.columns if c != ID]
    return (
        G.by_token(merged, tokens, kind, how="left")
        .fillna(0, subset=[c for c in columns if c in COUNT_FEATURES])
        .select(ENTITY, *columns)
    )



# A caller's score counts at most this much in the at-risk noisy-or (known fraud numbers score 1).
MAX_CALLER_SCORE = 0.99

AT_RISK_COLUMNS = (
    "entity_token", "at_risk_score", "at_risk_rank", "high_risk_contacts", "max_caller_score",
    "sources", "exposed_id_number", "exposed_bank_card", "reasons",
)


def at_risk(
    calls_df: DataFrame,
    sms_df: DataFrame,
    number_scores: DataFrame,
    members: DataFrame,
    sources: DataFrame,
    subscribers_df: DataFrame,
    labels_df: DataFrame,
    *,
    as_of: dt.date,
    window_days: int,
    params: ExposureConf,
) -> DataFrame:
    """The people to warn on ``as_of`` (:data:`AT_RISK_COLUMNS`), riskiest first, at most ``params.at_risk_max_people``.

    A subscriber is at risk when a high-risk number (scored at least
    ``params.at_risk_caller_score`` on the day, or labelled fraud before it)
    called or texted them in the window, and a source exploited on the day
    (score at least ``params.exploited_score``) holds their data. People
    already reported as victims, and the high-risk numbers themselves, are
    left out. ``at_risk_score`` is the chance that at least one of the
    high-risk contacts was an attempt (a noisy-or of the callers' scores,
    each capped at :data:`MAX_CALLER_SCORE` so that two contacts outrank
    one), times ``(1 + exploitation) / 2`` of their most exploited source;
    ``reasons`` says it in words. ``calls_df``/``sms_df`` hold the window's events,
    ``number_scores`` the day's phone scores (``entity_token, risk_score``).
    """
    known = labels_df.where(
        (F.col("entity_type") == "msisdn") & F.col("entity_id").isNotNull() & (F.to_date("reported_time") < F.lit(as_of))
    )
    seeds = known.where(F.col("label") == "fraud").select(F.col("entity_id").alias("caller"), F.lit(1.0).alias("caller_score"))
    flagged = number_scores.where(F.col("risk_score") >= params.at_risk_caller_score).select(
        F.col(ENTITY).alias("caller"), F.col("risk_score").alias("caller_score")
    )
    callers = flagged.unionByName(seeds).groupBy("caller").agg(F.max("caller_score").alias("caller_score"))
    first = as_of - dt.timedelta(days=window_days - 1)

    def in_window(df: DataFrame, time_col: str) -> DataFrame:
        day = F.to_date(time_col)
        return df.where((day >= F.lit(first)) & (day <= F.lit(as_of)))

    contacted = (
        in_window(calls_df, "start_time").select("caller", F.col("callee").alias("person"))
        .unionByName(in_window(sms_df, "send_time").select(F.col("sender").alias("caller"), F.col("receiver").alias("person")))
        .where(F.col("person").isNotNull() & (F.col("caller") != F.col("person")))
        .join(callers, on="caller")
        .select("person", "caller", "caller_score")
        .distinct()
        .groupBy("person")
        .agg(
            F.count(F.lit(1)).alias("high_risk_contacts"),
            F.max("caller_score").alias("max_caller_score"),
            # Noisy-or: the chance that at least one of these contacts was an attempt (each score capped below 1).
            (1.0 - F.exp(F.sum(F.log1p(-F.least(F.col("caller_score"), F.lit(MAX_CALLER_SCORE)))))).alias("contacted"),
        )
    )
    exploited = sources.where(F.col("exploitation") >= params.exploited_score).select(SOURCE, "name", "source_type", "exploitation", "rings")
    person_sources = (
        members.join(F.broadcast(exploited), on=SOURCE)  # exploited sources: a handful
        .groupBy(ID)
        .agg(
            F.max("exploitation").alias("exploitation"),
            F.sort_array(F.collect_set(F.struct(F.col("exploitation"), F.col("name"), F.col("source_type"), F.col("rings"))), asc=False).alias("exploited"),
            F.max("has_id_number").alias("exposed_id_number"),
            F.max("has_bank_card").alias("exposed_bank_card"),
        )
    )
    already = known.where(F.col("label") == "victim").select(F.col("entity_id").alias("person")).distinct()
    people = (
        subscribers_df.where(F.col("msisdn").isNotNull()).select(F.col("msisdn").alias("person")).distinct()
        .join(contacted, on="person")
        .join(already, on="person", how="left_anti")
        .join(callers.select(F.col("caller").alias("person")), on="person", how="left_anti")
        .withColumn(ID, G.vertex(G.NUMBER, "person"))
        .join(person_sources, on=ID)
        .withColumn("at_risk_score", F.col("contacted") * (1.0 + F.col("exploitation")) / 2.0)
    )
    top = people.orderBy(F.col("at_risk_score").desc(), F.col("person")).limit(params.at_risk_max_people)
    top_source = F.col("exploited")[0]
    reasons = F.array(
        F.format_string(
            "contacted in the last %d days by %d high-risk number(s), the riskiest scored %.2f",
            F.lit(window_days), F.col("high_risk_contacts"), F.col("max_caller_score"),
        ),
        F.format_string(
            "their data is in %s (%s), exploited by %d ring(s) now (score %.2f)",
            top_source["name"],
            F.when(top_source["source_type"] == NONCOMPLIANT_APP, F.lit("an app found collecting personal information unlawfully"))
            .otherwise(F.regexp_replace(top_source["source_type"], "_", " ")),
            top_source["rings"], top_source["exploitation"],
        ),
        F.when(
            (F.col("exposed_id_number") == 1) | (F.col("exposed_bank_card") == 1),
            F.concat(
                F.lit("the leak holds their "),
                F.concat_ws(" and ", F.when(F.col("exposed_id_number") == 1, F.lit("ID number")),
                            F.when(F.col("exposed_bank_card") == 1, F.lit("bank card"))),
            ),
        ),
    )
    # At most at_risk_max_people rows: one ordered window over them is fine.
    return top.select(
        F.col("person").alias(ENTITY),
        "at_risk_score",
        F.row_number().over(Window.orderBy(F.col("at_risk_score").desc(), F.col("person"))).alias("at_risk_rank"),
        "high_risk_contacts",
        "max_caller_score",
        F.transform("exploited", lambda s: s["name"]).alias("sources"),
        "exposed_id_number",
        "exposed_bank_card",
        F.filter(reasons, lambda r: r.isNotNull()).alias("reasons"),
    )
