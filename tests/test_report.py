"""The analysts' report: a static site that works offline, checked in a real headless browser (Debian's chromium).

The screenshot of a case page is kept as a test artefact in ``build/test-artifacts/case_page.png``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from cases.report import write_report
from cases.verdicts import record_verdict
from fraudgraph.config import PROJECT_ROOT
from fraudgraph.lake import DT, Lake, write_partitions
from tests.test_cases import ring_cases

DAY = dt.date(2026, 3, 2)
ARTEFACTS = PROJECT_ROOT / "build" / "test-artifacts"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium (apt-get install chromium)")
    return found


def browse(page: Path, *flags: str) -> subprocess.CompletedProcess:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--window-size=1280,1100", *flags, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(spark, tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("lake"))
    cases, _membership, _gone = ring_cases(spark, DAY)
    write_partitions(cases.withColumn(DT, F.lit(DAY.isoformat())), lake.cases)
    ring = cases.where(F.col("case_rank") == 1).first()["case_id"]
    record_verdict(lake, case_id=ring, verdict="confirmed", note="victims called back", by="ana")
    return lake, ring, write_report(lake, DAY)


def test_the_report_is_self_contained_and_shows_masked_numbers(report):
    _lake, ring, index = report
    pages = sorted(index.parent.glob("*.html"))
    assert len(pages) == 3  # the index and one page per case
    text = index.read_text()
    assert f'href="{ring}.html"' in text and "confirmed" in text and "mule chain" not in text
    for page in pages:
        content = page.read_text()
        # Offline: nothing is fetched from anywhere (no src, no stylesheet link, no URL but the case pages).
        assert not re.search(r"""(<[a-z]+[^>]*\ssrc=|<link|@import|url\()""", content), page.name
        assert not re.search(r"https?://", content.replace("http://www.w3.org/2000/svg", "")), page.name
    case = (index.parent / f"{ring}.html").read_text()
    assert "138****0001" in case and "7,900.00" in case and "reason n1" in case
    assert "verdict confirmed by ana" in case


def test_pages_load_without_script_errors_and_the_graph_draws_in_chromium(report):
    _lake, ring, index = report
    for page in (index, index.parent / f"{ring}.html"):
        dom = browse(page, "--dump-dom").stdout
        assert "<body" in dom, page.name
        assert "data-error" not in dom, re.search(r'data-error="[^"]*"', dom).group(0)
    case_dom = browse(index.parent / f"{ring}.html", "--dump-dom").stdout
    assert 'data-graph="drawn"' in case_dom
    members = re.search(r"graph: (\d+) members, (\d+) ties", case_dom)
    assert members and int(members.group(1)) == 8 and int(members.group(2)) == 7
    assert case_dom.count('class="node"') == 8  # one circle per member, drawn by the page's own script
    assert 'data-ready="1"' in browse(index, "--dump-dom").stdout  # the index's sorting and filtering are wired

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "case_page.png"
    shot.unlink(missing_ok=True)
    browse(index.parent / f"{ring}.html", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_cluster_review_notebook_opens_and_draws_a_case(report, tmp_path):
    lake, ring, _index = report
    env = {**os.environ, "FRAUD_LAKE": str(lake.root), "FRAUD_FIGURE": str(tmp_path / "case.png")}
    notebook = PROJECT_ROOT / "notebooks" / "cluster_review.py"
    done = subprocess.run([sys.executable, str(notebook)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"== case {ring} of {DAY}: rank 1 of 2, mixed" in done.stdout
    assert "verdict: confirmed by ana" in done.stdout and "138****0001" in done.stdout and "7900.0" in done.stdout
    assert "figure:" in done.stdout and "(8 members, 7 ties)" in done.stdout
    assert (tmp_path / "case.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
