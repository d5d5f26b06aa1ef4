"""The fraud-world simulator: contract-exact feeds, realistic dirt, and fraud that behaves like fraud.

One tiny world (1,500 people, 10 days) is written once per module; the checks
read it back with pyarrow/pandas and normalise identifiers with the rule of
CONTRACT.md section 2, written out here independently of the simulator.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fraudgraph.contract import FEEDS, arrow_schema
from simulator import WorldSummary, simulate_world
from simulator.activity import daily_calls, daily_sms
from simulator.population import IOT_PREFIX, build_population, iot_numbers
from tests.oracles import gb11643_valid, luhn_valid

PEOPLE, DAYS, SEED = 3000, 14, 11
START = date(2026, 3, 1)
END = START + timedelta(days=DAYS - 1)
MOBILE = re.compile(r"^1[3-9]\d{9}$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldSummary]:
    out = tmp_path_factory.mktemp("world")
    return out, simulate_world(out, people=PEOPLE, days=DAYS, seed=SEED, start=START)


def feed_df(root: Path, feed: str) -> pd.DataFrame:
    """All partitions of a feed, with the partition day as column ``dt``."""
    parts = []
    for path in sorted((root / "raw" / feed).glob("dt=*/*.parquet")):
        df = pq.read_table(path).to_pandas()
        parts.append(df.assign(dt=date.fromisoformat(path.parent.name[3:])))
    return pd.concat(parts, ignore_index=True)


def truth(root: Path, name: str) -> pd.DataFrame:
    return pq.read_table(root / "truth" / f"{name}.parquet").to_pandas()


def normalise_msisdn(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("00861"):
        return digits[4:]
    return digits


def fraud_calls(root: Path) -> pd.DataFrame:
    """Calls placed by fraud numbers, with the ring and the normalised callee."""
    calls = feed_df(root, "calls").dropna(subset=["callee"])
    numbers = truth(root, "numbers")
    calls["caller_n"] = calls["caller"].map(normalise_msisdn)
    calls["callee_n"] = calls["callee"].map(normalise_msisdn)
    return calls.merge(
        numbers[["msisdn", "role", "ring_id"]], left_on="caller_n", right_on="msisdn", how="inner"
    )


def test_same_seed_gives_identical_files_and_another_seed_does_not(world, tmp_path: Path) -> None:
    root, _ = world
    simulate_world(tmp_path / "again", people=PEOPLE, days=DAYS, seed=SEED, start=START)
    simulate_world(tmp_path / "other", people=PEOPLE, days=DAYS, seed=SEED + 1, start=START)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert len(files) == 8 * DAYS + 7
    assert files == sorted(
        p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file()
    )
    assert all((root / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)
    calls = Path("raw/calls") / f"dt={START.isoformat()}" / "part-00000.parquet"
    assert (root / calls).read_bytes() != (tmp_path / "other" / calls).read_bytes()


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_every_partition_has_the_contract_schema_and_its_own_days_rows(world, feed: str) -> None:
    root, summary = world
    expected = arrow_schema(FEEDS[feed])
    paths = sorted((root / "raw" / feed).glob("dt=*/part-00000.parquet"))
    assert [p.parent.name for p in paths] == [f"dt={START + timedelta(days=k)}" for k in range(DAYS)]
    for path in paths:
        schema = pq.read_schema(path)
        assert schema.names == expected.names
        assert schema.types == expected.types
    df = feed_df(root, feed)
    assert len(df) == summary.rows[feed] > 0
    time_col = FEEDS[feed].event_time
    if time_col is not None:  # event feeds are partitioned by the day of their event time
        assert (pd.to_datetime(df[time_col]).dt.date == df["dt"]).all()


def test_mules_pass_on_nine_tenths_of_their_money_within_a_day(world) -> None:
    root, _ = world
    txns = feed_df(root, "transactions")
    txns["src"], txns["dst"] = txns["src_account"].str.strip(), txns["dst_account"].str.strip()
    txns["amount"] = txns["amount"].astype(float)
    # Only the bank's own mules: a mule at another bank forwards out of sight.
    own = set(feed_df(root, "accounts")["account_id"].str.strip())
    mules = set(truth(root, "accounts").query("role in ['mule_l1', 'mule_l2']")["account_id"]) & own
    inflow = txns[txns["dst"].isin(mules)][["dst", "txn_time", "amount"]].rename(
        columns={"dst": "account", "txn_time": "in_time"}
    )
    outflow = txns[txns["src"].isin(mules)][["src", "txn_time", "amount"]].rename(columns={"src": "account"})
    # Each outflow is matched to the latest inflow of its account before it.
    matched = pd.merge_asof(
        outflow.sort_values("txn_time"),
        inflow.sort_values("in_time")[["account", "in_time"]],
        left_on="txn_time",
        right_on="in_time",
        by="account",
    )
    cutoff = pd.Timestamp(END)  # inflows of the last day may be passed on after the window
    forwarded = matched[
        (matched["in_time"] < cutoff) & (matched["txn_time"] - matched["in_time"] <= pd.Timedelta(days=1))
    ]
    received = inflow[inflow["in_time"] < cutoff]["amount"].sum()
    assert received > 10_000
    assert forwarded["amount"].sum() >= 0.9 * received
    assert outflow["amount"].sum() <= inflow["amount"].sum()


def test_every_label_is_reported_after_the_activity_it_reports(world) -> None:
    root, _ = world
    labels = feed_df(root, "labels")
    assert set(labels["label"]) == {"fraud", "mule", "victim", "legit"}
    is_msisdn = labels["entity_type"] == "msisdn"
    labels.loc[is_msisdn, "entity"] = labels.loc[is_msisdn, "entity_id"].map(normalise_msisdn)
    labels.loc[~is_msisdn, "entity"] = labels.loc[~is_msisdn, "entity_id"].str.strip()

    numbers = truth(root, "numbers").set_index("msisdn")
    by_number = labels[labels["label"].isin(["fraud", "legit"])]
    first = pd.to_datetime(numbers.loc[by_number["entity"], "first_active"]).to_numpy()
    assert (by_number["reported_time"].dt.normalize().to_numpy() > first).all()

    victims = labels[labels["label"] == "victim"].merge(
        truth(root, "victims"), left_on="entity", right_on="msisdn", how="left"
    )
    assert victims["call_time"].notna().all()
    assert (victims["reported_time"] > victims["first_transfer_time"]).all()

    txns = feed_df(root, "transactions")
    first_in = txns.assign(dst=txns["dst_account"].str.strip()).groupby("dst")["txn_time"].min()
    mules = labels[labels["label"] == "mule"]
    assert (mules["reported_time"].to_numpy() > first_in.loc[mules["entity"]].to_numpy()).all()


def test_ring_sims_share_devices_and_registered_ids(world) -> None:
    root, _ = world
    numbers = truth(root, "numbers")
    ring_sims = numbers[(numbers["role"] == "fraud") & numbers["imei"].notna()]
    assert ring_sims.groupby(["ring_id", "imei"])["msisdn"].nunique().max() >= 2
    subscribers = feed_df(root, "subscribers").drop_duplicates("msisdn")
    registered = subscribers.merge(ring_sims[["msisdn", "ring_id"]], on="msisdn", how="inner")
    assert registered.groupby(["ring_id", "id_number"])["msisdn"].nunique().max() >= 2
    first = pd.to_datetime(ring_sims["first_active"])
    activation = pd.to_datetime(
        registered.set_index("msisdn").loc[ring_sims["msisdn"], "activation_date"]
    ).to_numpy()
    # Most burners are activated just before first use; the rest are rented aged SIMs.
    assert ((first.to_numpy() - activation) <= pd.Timedelta(days=2)).mean() >= 0.5


def test_dirty_identifiers_normalise_to_known_subscribers(world) -> None:
    root, _ = world
    calls = feed_df(root, "calls")
    subscribers = set(feed_df(root, "subscribers")["msisdn"])
    # Everything but clean mobiles, overseas lines, landlines, short codes, hotlines and IoT numbers.
    others = calls["caller"].str.fullmatch(MOBILE.pattern) | calls["caller"].str.match(
        r"^(?:\+855|\+63|0[1-9]|95\d{3}$|400|1064)"
    )
    spelled = calls["caller"][~others]
    assert len(spelled) > 0.01 * len(calls)
    assert {"+86", "0086"} <= {s[:4] if s.startswith("0086") else s[:3] for s in spelled}
    assert spelled.str.contains(" ").any() and spelled.str.contains("-").any()
    normalised = spelled.map(normalise_msisdn)
    assert normalised.str.fullmatch(MOBILE.pattern).all()
    assert normalised.isin(subscribers).mean() > 0.8
    assert normalise_msisdn("+86 138-0013-8000") == normalise_msisdn("008613800138000") == "13800138000"


def test_a_few_call_rows_are_broken(world) -> None:
    root, _ = world
    calls = feed_df(root, "calls")
    n = len(calls)
    for broken in (calls["callee"].isna(), calls["duration_s"] < 0, calls.duplicated("call_id")):
        assert 0.0002 * n < broken.sum() < 0.005 * n
    repeated = calls[calls.duplicated("call_id", keep=False)]
    assert len(repeated.drop_duplicates()) == repeated["call_id"].nunique()  # repeated verbatim


def test_id_numbers_pass_gb11643_and_include_minors(world) -> None:
    root, _ = world
    subscribers = feed_df(root, "subscribers")
    ids = subscribers["id_number"].dropna().str.strip().str.upper().unique()
    holders = feed_df(root, "accounts")["holder_id_number"].dropna().str.strip().str.upper().unique()
    assert all(gb11643_valid(i) for i in list(ids) + list(holders))
    births = pd.to_datetime(pd.Series(ids).str[6:14], format="%Y%m%d")
    ages = (pd.Timestamp(START) - births).dt.days / 365.25
    assert ages.between(8, 100).all() and (ages < 18).any()
    assert subscribers["id_number"].isna().any()


def test_imeis_are_luhn_valid(world) -> None:
    root, _ = world
    imeis = feed_df(root, "calls")["caller_imei"].dropna().unique()
    assert len(imeis) > PEOPLE / 2
    assert all(len(i) == 15 and i.isdigit() and luhn_valid(i) for i in imeis)
    assert not luhn_valid(imeis[0][:-1] + str((int(imeis[0][-1]) + 1) % 10))


def test_fraud_numbers_are_answered_less_than_people(world) -> None:
    root, _ = world
    calls = fraud_calls(root)
    answered = calls.assign(is_answered=calls["duration_s"] > 0).groupby("role")["is_answered"].mean()
    assert answered["fraud"] < 0.5 * answered["normal"]


def test_rings_mostly_call_members_of_their_exploited_source(world) -> None:
    root, _ = world
    calls = fraud_calls(root)
    calls = calls[calls["role"] == "fraud"]
    rings = truth(root, "rings")
    members = truth(root, "exposure_members")
    calls = calls.merge(rings[["ring_id", "source_id"]], on="ring_id", how="inner")
    is_member = (
        calls.merge(
            members,
            left_on=["source_id", "callee_n"],
            right_on=["source_id", "msisdn"],
            how="left",
            indicator=True,
        )["_merge"]
        == "both"
    )
    share = is_member.groupby(calls["ring_id"].to_numpy()).mean()
    assert len(share) == len(rings)
    assert (share > 0.6).all()


def test_a_world_of_a_million_people_has_distinct_service_numbers_of_the_service_class() -> None:
    """Past 1,000 customer-service lines (a million people: the 100M-call benchmark's world has 1.57M) the
    5-digit 95xxx codes run out; the population still builds, every number once, the lines still service."""
    pop = build_population(np.random.default_rng(SEED), 1_001_000, 0, DAYS)
    canonical = pa.concat_arrays([block["canonical"] for block in pop.numbers])
    assert len(pc.unique(canonical)) == len(canonical) == pop.n_numbers()
    services = canonical.take(pa.array(pop.services)).to_pylist()
    assert len(services) == 1001
    # CONTRACT.md's service numbers: 95 and 1-6 digits, 400 hotlines, landlines with their area code.
    service = re.compile(r"^(95\d{1,6}|4\d{9}|0\d{9,10})$")
    assert all(service.match(number) for number in services), [n for n in services if not service.match(n)][:5]
    assert sum(number.startswith("95") for number in services) == 334


def test_iot_numbers_stay_distinct_past_ten_million_people() -> None:
    """A world of 20 million people has 200,000 IoT SIMs: more than the 10^5 numbers the first five digits
    after 10648 hold. They are still distinct 13-digit 10648 numbers; up to 10^5 they are the numbers smaller
    worlds always had, seed for seed."""
    big = iot_numbers(np.random.default_rng(SEED), 200_000)
    assert len(np.unique(big)) == 200_000
    assert all(re.fullmatch(r"10648\d{8}", str(number)) for number in big[:1000])
    assert big.max() - IOT_PREFIX >= 10**5
    small = iot_numbers(np.random.default_rng(SEED), 156_740 // 100)
    assert (small == IOT_PREFIX + np.random.default_rng(SEED).permutation(10**5)[: 156_740 // 100]).all()
    with pytest.raises(ValueError, match="do not fit in 8 digits"):
        iot_numbers(np.random.default_rng(SEED), 10**8 + 1)


def test_calls_and_sms_per_person_stay_flat_as_the_world_grows() -> None:
    """The benchmark sizes its worlds by people (bench/scale.py): a world three times the people has three
    times the calls and SMS, not nine times the service lines' share (service traffic grew with people^2)."""
    per_person = []
    for people in (250_000, 750_000):
        pop = build_population(np.random.default_rng(SEED), people, 20_000, DAYS)
        calls = len(daily_calls(pop, np.random.default_rng(1), 20_001)["caller"])
        sms = len(daily_sms(pop, np.random.default_rng(1), 20_001)["sender"])
        per_person.append((calls / people, sms / people))
    (calls_small, sms_small), (calls_large, sms_large) = per_person
    assert calls_large == pytest.approx(calls_small, rel=0.05)
    assert sms_large == pytest.approx(sms_small, rel=0.05)
