"""Leak exposure, targeting and the feedback loop on a hand-made world.

Sources: S1 (a hotel breach, with ID numbers) is dialled by ring R (F1, F2) and
by X, a number nobody has labelled yet; S2 (a loan app) is dialled by ring G,
known as fraud from the start; S3 is dialled by nobody. Y calls people
outside every source.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from features.exposure import (
    ACCOUNT_EXPOSURE_FEATURES,
    AT_RISK_COLUMNS,
    PHONE_EXPOSURE_FEATURES,
    SOURCE_COLUMNS,
    at_risk,
    exposure_features,
)
from features.window import event_window
from fraudgraph.config import ExposureConf
from jobs.report import sources_page

AS_OF = dt.date(2026, 5, 3)
T = dt.datetime
PARAMS = ExposureConf(prior_contacts=2.0, exploit_lift=2.0, exploited_score=0.5)
CALL = "caller string, callee string, start_time timestamp_ntz, duration_s int, caller_imei string"
LABEL = "entity_type string, entity_id string, label string, reported_time timestamp_ntz, source string, case_id string"

S1 = [f"V{i}" for i in range(1, 6)]
S2 = [f"W{i}" for i in range(1, 6)]
OTHERS = [f"N{i}" for i in range(1, 11)]


@pytest.fixture(scope="module")
def world(spark):
    def calls_from(caller, callees, hour):
        return [(caller, c, T(2026, 5, 2, hour), 60, None) for c in callees]

    calls = spark.createDataFrame(
        calls_from("F1", S1[:4], 9)
        + calls_from("F2", S1[1:5], 10)
        + calls_from("X", S1[:3] + OTHERS[:1], 11)
        + calls_from("Q", S1[4:5], 11)
        + calls_from("G1", S2[:4], 12)
        + calls_from("G2", S2[1:5], 13)
        + calls_from("Y", OTHERS[1:6], 14)
        + calls_from("N7", OTHERS[7:10], 15),
        CALL,
    )
    sms = spark.createDataFrame([], "sender string, receiver string, send_time timestamp_ntz, has_url boolean")
    subscribers = spark.createDataFrame(
        [(n, f"ID-{n}") for n in ["F1", "F2", "X", "Q", "G1", "G2", "Y", *S1, *S2, *OTHERS]], "msisdn string, id_number string"
    )
    exposures = spark.createDataFrame(
        # V1..V5 through their ID numbers (the hotel leaked ID numbers), W1..W5 through their numbers.
        [("S1", None, f"ID-{v}", "name,msisdn,id_number", dt.date(2026, 4, 1)) for v in S1]
        + [("S2", w, None, "name,msisdn,bank_card", dt.date(2026, 4, 20)) for w in S2]
        + [("S3", "N9", None, "name,msisdn", dt.date(2026, 4, 2))]
        + [("S3", "N10", None, "name,msisdn", dt.date(2026, 5, 9))],  # seen after the as-of day: not yet
        "source_id string, msisdn string, id_number string, fields string, observed_date date",
    )
    sources = spark.createDataFrame(
        [
            ("S1", "breach", "Hotel booking breach", dt.date(2026, 3, 1)),
            ("S2", "noncompliant_app", "Cash loan app", dt.date(2026, 4, 1)),
            ("S3", "underground_market", "Bulk listing", dt.date(2026, 4, 1)),
        ],
        "source_id string, source_type string, name string, discovered_date date",
    )
    accounts = spark.createDataFrame(
        [("A-V1", "ID-V1", "V1"), ("A-W1", None, "W1"), ("M", "ID-M", None)],
        "account_id string, holder_id_number string, bound_msisdn string",
    )
    transactions = spark.createDataFrame(
        [("A-V1", "M", 100.0, T(2026, 5, 2, 16), "mobile"), ("A-W1", "M", 50.0, T(2026, 5, 2, 17), "mobile")],
        "src_account string, dst_account string, amount double, txn_time timestamp_ntz, channel string",
    )
    window = event_window(calls, sms, as_of=AS_OF, window_days=2)
    ring_g = [("msisdn", g, "fraud", T(2026, 4, 30, 9), "police", "CASE-G") for g in ("G1", "G2")]
    ring_r = [("msisdn", f, "fraud", T(2026, 5, 1, 9), "police", "CASE-R") for f in ("F1", "F2")]
    late = [("msisdn", "X", "fraud", T(2026, 5, 3, 8), "police", None)]  # on the as-of day: not known yet

    def run(labels):
        out = exposure_features(
            window, transactions, exposures, sources, subscribers, accounts,
            spark.createDataFrame(labels, LABEL), previous_sources=None, params=PARAMS,
        )
        phones = {r["entity_token"]: r.asDict() for r in out.phones.collect()}
        accts = {r["entity_token"]: r.asDict() for r in out.accounts.collect()}
        srcs = {r["source_id"]: r.asDict() for r in out.sources.collect()}
        return out, phones, accts, srcs

    frames = {
        "calls": calls, "sms": sms, "subscribers": subscribers,
        "labels_after": spark.createDataFrame(ring_g + ring_r + late, LABEL),
        "labels_before": spark.createDataFrame(ring_g + late, LABEL),
        "window": window, "transactions": transactions, "exposures": exposures, "sources": sources,
        "accounts": accounts,
    }
    return {"before": run(ring_g + late), "after": run(ring_g + ring_r + late), "frames": frames}


def test_outputs_follow_their_column_contracts(world):
    out, phones, accounts, sources = world["before"]
    assert out.phones.columns == ["entity_token", *PHONE_EXPOSURE_FEATURES]
    assert out.accounts.columns == ["entity_token", *ACCOUNT_EXPOSURE_FEATURES]
    assert out.sources.columns == list(SOURCE_COLUMNS)
    assert set(sources) == {"S1", "S2", "S3"}
    assert len(phones) == 7 + 20  # every subscriber number
    assert set(accounts) == {"A-V1", "A-W1", "M"}


def test_the_feature_job_joins_them_by_vertex_id_with_the_same_values(spark, world):
    """The feature job takes the features keyed by vertex id (``by_id``) and joins them to its base rows by id
    (``jobs.features._with_network``, no dictionary of tokens): the same values as by token, the counts 0 for
    a party with no row of its own."""
    from features import graphs as G
    from features.common import ENTITY, ID
    from jobs.features import _with_network

    _, phones, accounts, _ = world["before"]
    f = world["frames"]
    by_id = exposure_features(
        f["window"], f["transactions"], f["exposures"], f["sources"], f["subscribers"], f["accounts"],
        f["labels_before"], previous_sources=None, params=PARAMS, by_id=True,
    )
    no_network = spark.createDataFrame([], f"{ID} long")
    for kind, tokens, part, expected, columns in (
        (G.NUMBER, f["subscribers"].select("msisdn"), by_id.phones, phones, PHONE_EXPOSURE_FEATURES),
        (G.ACCOUNT, f["accounts"].select("account_id"), by_id.accounts, accounts, ACCOUNT_EXPOSURE_FEATURES),
    ):
        assert part.columns == [ID, *columns]
        token = tokens.columns[0]
        base = tokens.select(G.vertex(kind, token).alias(ID), F.col(token).alias(ENTITY))
        joined = {r[ENTITY]: r.asDict() for r in _with_network(base, columns, no_network, part).collect()}
        assert joined.keys() == expected.keys()
        for party, values in expected.items():
            assert [joined[party][c] for c in columns] == pytest.approx([values[c] for c in columns]), party
    # Parties without a row of their own (callees with no exposure): their zeros come from the join's fill.
    assert by_id.phones.count() < len(phones)


def test_exposure_counts_sources_fields_and_recency(world):
    _, phones, accounts, _ = world["before"]
    # V1 through its ID number: one breach with the ID number, seen 32 days before the as-of day.
    assert {k: phones["V1"][k] for k in ("exposed_sources", "exposed_id_number", "exposed_bank_card", "days_since_exposed")} == {
        "exposed_sources": 1, "exposed_id_number": 1, "exposed_bank_card": 0, "days_since_exposed": 32,
    }
    assert phones["W2"]["exposed_noncompliant_apps"] == 1 and phones["W2"]["exposed_bank_card"] == 1
    # N10's only observation is after the as-of day.
    assert phones["N10"]["exposed_sources"] == 0 and phones["N10"]["days_since_exposed"] is None
    assert phones["N9"]["exposed_sources"] == 1
    # Accounts: through the holder's ID number (A-V1) or the bound number (A-W1, with the card).
    assert (accounts["A-V1"]["holder_exposed_sources"], accounts["A-W1"]["holder_exposed_bank_card"]) == (1, 1)
    assert accounts["M"]["payers_exposed_share"] == 1.0


def test_targeting_lift_is_shrunk_towards_the_population(world):
    _, phones, _, _ = world["before"]
    # Population: the 27 numbers in a call pair; S1 holds 5 of them (p = 5/27). X: 3 of its 4 callees in S1.
    p, a = 5 / 27, PARAMS.prior_contacts
    assert phones["X"]["callees_exposed_share"] == pytest.approx(3 / 4)
    assert phones["X"]["callees_max_source_lift"] == pytest.approx(((3 + a * p) / (4 + a)) / p)
    # Y dials no source: the lift of an absent source, a / (n + a), below 1.
    assert phones["Y"]["callees_max_source_lift"] == pytest.approx(a / (5 + a))
    assert phones["V1"]["callees_max_source_lift"] is None  # never called anyone


def test_confirming_a_ring_raises_its_source_and_the_other_numbers_dialing_it(world):
    _, before, _, src_before = world["before"]
    _, after, _, src_after = world["after"]
    # S1 was not exploited before R was confirmed; it is after.
    assert src_before["S1"]["exploitation"] == 0.0
    assert src_after["S1"]["exploitation"] > PARAMS.exploited_score
    assert (src_after["S1"]["exploiting_numbers"], src_after["S1"]["rings"]) == (2, 1)
    assert src_after["S1"]["exploited_since"] == AS_OF
    # X dials S1's members: its targeting score rises; Y's does not move.
    assert before["X"]["callees_exploited_score"] == 0.0
    assert after["X"]["callees_exploited_score"] > 0.5
    assert after["Y"]["callees_exploited_score"] == before["Y"]["callees_exploited_score"] == 0.0
    # S2 (exploited by G all along) and S3 (by nobody) stay where they were.
    assert src_before["S2"]["exploitation"] > PARAMS.exploited_score
    assert src_after["S2"]["exploitation"] == pytest.approx(src_before["S2"]["exploitation"])
    assert src_after["S3"]["exploitation"] == src_before["S3"]["exploitation"] == 0.0
    # The label reported on the as-of day itself (X) is not used.
    assert src_before["S1"]["groups"] == 2 and src_after["S1"]["groups"] == 4


def test_shrinkage_ranks_more_evidence_above_a_higher_share_of_few_contacts(world):
    out, phones, _, _ = world["after"]
    # Q's only callee is in S1 (share 1), X has 3 of 4: X's lift is the higher one.
    assert phones["Q"]["callees_exposed_share"] == 1.0 > phones["X"]["callees_exposed_share"]
    assert phones["Q"]["callees_max_source_lift"] < phones["X"]["callees_max_source_lift"]
    ranks = {r["source_id"]: r["exploitation_rank"] for r in out.sources.collect()}
    assert ranks == {"S1": 1, "S2": 1, "S3": 3}  # S1 and S2 have the same evidence
    assert out.sources.where(F.col("evidence") < 0).count() == 0


def test_people_called_by_high_risk_numbers_from_an_exploited_list_are_at_risk(spark, world):
    out, _, _, _ = world["after"]
    calls, sms, subscribers, labels = (world["frames"][k] for k in ("calls", "sms", "subscribers", "labels_after"))
    victim = spark.createDataFrame([("msisdn", "V3", "victim", T(2026, 5, 2, 20), "police", "CASE-R")], LABEL)
    scores = spark.createDataFrame([("X", 0.9), ("Y", 0.95), ("Q", 0.2)], "entity_token string, risk_score double")
    people = at_risk(
        calls, sms, scores, out.memberships, out.sources, subscribers, labels.unionByName(victim),
        as_of=AS_OF, window_days=2, params=PARAMS,
    )
    assert people.columns == list(AT_RISK_COLUMNS)
    rows = {r["entity_token"]: r.asDict() for r in people.collect()}
    # X (0.9) called V1..V3 and N1; F1, F2 (known fraud, score 1) called V1..V5; Q is not high-risk; Y's
    # callees are in no exploited source. V3 is already a reported victim; S2's members were called by G only.
    assert set(rows) == {"V1", "V2", "V4", "V5"} | {f"W{i}" for i in range(1, 6)}
    s1 = next(r for r in out.sources.collect() if r["source_id"] == "S1")["exploitation"]
    # Noisy-or of F1 (known fraud, capped at 0.99) and X (0.9), times the exploitation factor.
    assert rows["V1"]["at_risk_score"] == pytest.approx((1 - 0.01 * 0.1) * (1 + s1) / 2)
    assert rows["V1"]["at_risk_score"] > rows["V5"]["at_risk_score"]  # V5: F2 only
    assert rows["V1"]["high_risk_contacts"] == 2  # F1 and X
    assert rows["V1"]["sources"] == ["Hotel booking breach"] and rows["V1"]["exposed_id_number"] == 1
    assert any("exploited by 1 ring(s)" in r for r in rows["V2"]["reasons"])
    assert any("an app found collecting personal information unlawfully" in r for r in rows["W1"]["reasons"])
    assert sorted(r["at_risk_rank"] for r in rows.values()) == list(range(1, len(rows) + 1))


def test_the_sources_page_names_unlawful_apps_and_shows_no_identifier(world):
    out, _, _, _ = world["after"]
    page = sources_page([r.asDict() for r in out.sources.orderBy("exploitation_rank").collect()], AS_OF)
    assert "app found collecting personal information unlawfully" in page and "Cash loan app" in page
    assert page.index("Hotel booking breach") < page.index("Bulk listing")  # most exploited first
    assert "<script" not in page and "http" not in page
    assert not any(n in page for n in ("F1", "V1", "ID-V1"))
