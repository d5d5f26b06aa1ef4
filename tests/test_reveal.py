"""fraud reveal: raw identifiers only from the raw feeds, and every call in an append-only audit log."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from fraudgraph.cli import main
from fraudgraph.errors import FraudError, MissingInput
from fraudgraph.lake import Lake, Raw
from fraudgraph.pseudo import normalise, token
from jobs.reveal import audit_path, run_reveal
from simulator import simulate_world
from tests.conftest import run_fraud, spark_conf_yaml

KEY = b"reveal-test-key"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("reveal")
    simulate_world(root / "world", people=300, days=2, seed=3)
    return root


def first_value(world, feed: str, column: str) -> str:
    frame = pd.read_parquet(next((world / "world" / "raw" / feed).glob("dt=*")))
    return str(frame[column].dropna().iloc[0])


def test_a_token_is_revealed_from_the_raw_feeds_and_every_call_is_audited(spark, world):
    raw, lake = Raw(world / "world" / "raw"), Lake(world / "lake")
    number = first_value(world, "subscribers", "msisdn")
    handset = first_value(world, "calls", "caller_imei")
    found = run_reveal(spark, raw=raw, lake=lake, token=token(KEY, "msisdn", number), reason="case C1: victim called back",
                       key=KEY, by="ana")
    assert (found["kind"], found["raw"], found["found_in"]) == ("msisdn", normalise("msisdn", number), "subscribers.msisdn")
    device = run_reveal(spark, raw=raw, lake=lake, token=token(KEY, "imei", handset).upper(), reason="shared handset",
                        key=KEY, by="ana")
    assert device["kind"] == "imei" and device["found_in"] == "calls.caller_imei"
    with pytest.raises(MissingInput):
        run_reveal(spark, raw=raw, lake=lake, token="0" * 64, reason="a guess", key=KEY, by="bo")
    with pytest.raises(FraudError):  # no reason, no reveal (and nothing written)
        run_reveal(spark, raw=raw, lake=lake, token="0" * 64, reason=" ", key=KEY, by="bo")
    with pytest.raises(FraudError):  # another key would recompute other tokens: refused
        run_reveal(spark, raw=raw, lake=lake, token="0" * 64, reason="x", key=b"another key", by="bo")

    audit = [json.loads(line) for line in audit_path(lake).read_text().splitlines()]
    assert [(a["by"], a["reason"], a["found_in"]) for a in audit] == [
        ("ana", "case C1: victim called back", "subscribers.msisdn"),
        ("ana", "shared handset", "calls.caller_imei"),
        ("bo", "a guess", None),
    ]
    logged = audit_path(lake).read_text()
    assert found["raw"] not in logged and handset not in logged  # the audit log never holds a raw value


def test_fraud_reveal_prints_the_value_and_exits_4_for_an_unknown_token(spark, world, monkeypatch, capsys):
    """The command in its own process; then an unknown token through the same entry point in this one (the exit
    code is ``main``'s return value, the line its stderr), which spares CI a second Spark JVM."""
    env = {**os.environ, "FRAUD_PSEUDO_KEY": KEY.decode()}
    conf = world / "cli.yaml"  # the tests' Spark settings: two small queries need no code generation
    conf.write_text(spark_conf_yaml())
    io = ["--raw", str(world / "world" / "raw"), "--lake", str(world / "cli-lake"), "--conf", str(conf)]
    account = first_value(world, "accounts", "account_id")
    done = run_fraud("reveal", token(KEY, "account", account), *io, "--reason", "mule account, bank request 17", env=env,
                     timeout=600)
    assert done.returncode == 0, done.stderr[-1000:]
    assert json.loads(done.stdout)["raw"] == account.strip()
    monkeypatch.setenv("FRAUD_PSEUDO_KEY", KEY.decode())
    capsys.readouterr()
    code = main(["reveal", "f" * 64, *io, "--reason", "x"])
    ours = capsys.readouterr().err.splitlines()
    assert code == 4 and len(ours) == 1 and ours[0].startswith("fraud reveal") and "holds token" in ours[0]
    assert len(audit_path(Lake(world / "cli-lake")).read_text().splitlines()) == 2
