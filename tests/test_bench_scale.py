"""The scale benchmark's results table (``bench/scale.py``): the daily total, shares, growth and verdicts it
writes into bench/README.md, from saved stage figures (no world is simulated here)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import scale  # noqa: E402


def _stage(seconds: float, rows_in: int = 1_000, peak: float = 1.0) -> dict:
    return {"seconds": seconds, "peak_rss_gib": peak, "rows_in": rows_in}


def _size(calls: int, stages: dict, champion_from: str | None = None) -> dict:
    rows = {"calls": calls, "sms": calls // 2, "transactions": calls // 8}
    world = {"people": calls // 60, "days": 22, "rows": rows}
    size = {"calls_target": calls, "world": world, "stages": stages}
    return size | ({"champion_from": champion_from} if champion_from else {})


def _whole(scale_factor: float, duckdb_s: float) -> dict:
    return {
        "simulate": _stage(5 * scale_factor),
        "ingest": _stage(10 * scale_factor, peak=2.0),
        "features": _stage(40 * scale_factor, peak=3.5),
        "scoring": _stage(20 * scale_factor),
        "cases": _stage(30 * scale_factor),
        "duckdb": _stage(duckdb_s, peak=0.5),
    }


def test_growth_is_the_exponent_of_time_over_calls() -> None:
    assert scale.growth(10.0, 100.0, 1_000_000, 10_000_000) == pytest.approx(1.0)
    assert scale.growth(10.0, 10.0, 1_000_000, 10_000_000) == pytest.approx(0.0)
    assert scale.growth(10.0, 40.0, 1_000_000, 100_000_000) == pytest.approx(math.log(4) / math.log(100))


def test_a_whole_run_sums_the_daily_stages_and_takes_growth_from_the_size_before() -> None:
    small, large = scale.summarise([_size(1_000_000, _whole(1, 2.0)), _size(10_000_000, _whole(3, 10.0))])
    assert small["daily_seconds"] == 100.0 and small["daily_missing"] == []
    # Simulation and DuckDB are outside the daily total; the daily stages' shares add up to it.
    assert small["stages"]["simulate"]["share_of_daily"] is None
    assert small["stages"]["features"]["share_of_daily"] == pytest.approx(0.4)
    assert sum(f["share_of_daily"] or 0 for f in small["stages"].values()) == pytest.approx(1.0)
    assert small["daily_peak_rss_gib"] == 3.5  # the daily stages' peak, not DuckDB's or the simulator's
    assert small["stages"]["features"]["rows_per_s"] == 25
    assert small["features_over_duckdb"] == 20.0 and small["aggregates_over_duckdb"] is None
    assert small["growth"] == {}
    # Three times the time for ten times the calls: k = log 3 / log 10.
    assert large["growth"]["daily"] == round(math.log(3) / math.log(10), 2)
    assert large["growth"]["duckdb"] == round(math.log(5) / math.log(10), 2)


def test_a_partial_run_names_what_it_lacks_and_takes_no_daily_growth() -> None:
    partial = _whole(3, 10.0)
    del partial["cases"], partial["scoring"]
    rows = scale.summarise([_size(1_000_000, _whole(1, 2.0)), _size(10_000_000, partial)])
    assert rows[1]["daily_missing"] == ["scoring", "cases"]
    assert rows[1]["daily_seconds"] == 30 + 120
    assert "daily" not in rows[1]["growth"] and "features" in rows[1]["growth"]
    text = scale.markdown(rows, "a test machine")
    assert "150.0 (without scoring, cases)" in text
    assert "| 10,000,000 | **daily total** | | **150.0 (without scoring, cases)** |" in text


def test_the_table_says_whether_the_spark_aggregates_agree_with_duckdb() -> None:
    sizes = []
    for calls, differences in ((1_000_000, {"only_duckdb": 0, "only_spark": 0, "out_calls": 0}),
                               (10_000_000, {"only_duckdb": 0, "only_spark": 2, "out_calls": 5}),
                               (100_000_000, None)):
        stages = _whole(calls / 1_000_000, 2.0) | {"spark_aggregates": _stage(6.0)}
        stages["spark_aggregates"]["differences_from_duckdb"] = differences
        sizes.append(_size(calls, stages))
    rows = scale.summarise(sizes)
    assert [r["aggregates_over_duckdb"] for r in rows] == [3.0, 3.0, 3.0]
    text = scale.markdown(rows, "a test machine")
    assert "1,000,000 call records: the Spark aggregates agree with DuckDB's" in text
    assert "10,000,000 call records: the Spark aggregates differ from DuckDB's: " \
        '{"only_duckdb": 0, "only_spark": 2, "out_calls": 5}.' in text
    assert "100,000,000 call records: the Spark aggregates were not compared with DuckDB's" in text
    # The issue's three sizes are all there: neither a smoke run nor a size still to measure.
    assert "Smoke run" not in text and "Not measured yet" not in text
    assert "| 3.0x |" in text


def test_runs_off_the_issue_sizes_are_marked_as_a_smoke_run_and_missing_sizes_are_named() -> None:
    smoke = scale.markdown(scale.summarise([_size(20_000, _whole(1, 1.0))]), "a test machine")
    assert "**Smoke run at 20,000 call records" in smoke
    partial = scale.markdown(scale.summarise([_size(1_000_000, _whole(1, 1.0))]), "a test machine")
    assert "**Not measured yet: 10,000,000 and 100,000,000 call records**" in partial
    borrowed = scale.markdown(
        scale.summarise([_size(1_000_000, _whole(1, 1.0), champion_from="/elsewhere/lake")]), "a test machine"
    )
    assert (
        "1,000,000 call records: not trained; the day was scored with the champions of another size's"
        " lake (`--champion-from /elsewhere/lake`)." in borrowed
    )
