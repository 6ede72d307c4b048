"""The HTML report from a synced store: opened in headless Chromium, and served at /report."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from connector.metrics import ConnectorMetrics
from connector.store.report_data import OVERDUE_BUCKETS, overdue_bucket
from jobs.pipeline.runs import sync
from jobs.reports.report_page import flag_kinds, report_html
from jobs.service.admin import Admin, ServiceState
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.rig import SYDNEY, Rig
from tests.support.sandbox import control

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def headless(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run Debian's Chromium headless (as root it needs --no-sandbox)."""
    assert CHROMIUM is not None, "install Debian's chromium (.ci/run does)"
    return subprocess.run(  # noqa: S603 - fixed arguments
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


async def test_the_report_renders_in_chromium_with_the_stores_numbers(
    rig: Rig, tmp_path: Path
) -> None:
    """The funnel and the tables Chromium renders hold exactly the store's counts."""
    await sync(rig.ctx)
    ce = next(iter(sorted(rig.server.sandbox.db.course_enrolments.ids())))
    control(rig.server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Withdrawn"})
    rig.store.clock.advance(timedelta(days=3).total_seconds())  # type: ignore[attr-defined]
    await sync(rig.ctx)
    page = tmp_path / "report.html"
    page.write_text(await report_html(rig.store, 1000, SYDNEY), encoding="utf-8")

    dom = headless("--dump-dom", page.as_uri()).stdout
    counts = (await rig.store.decisions.summary())["stages"]
    funnel = re.findall(r'data-stage="([^"]+)" data-count="(\d+)"', dom)
    assert {stage: int(n) for stage, n in funnel} == counts
    assert [stage for stage, _ in funnel][:2] == ["Sales", "Progression"]
    data = await rig.store.report.data()
    kinds = flag_kinds(rig.ctx.mapping.spec)
    chart = re.search(r'<svg id="missing-chart".*?</svg>', dom, re.S)
    assert chart is not None
    labels = re.findall(r"<text[^>]*>([^<]+)</text>", chart.group(0))
    shown = dict(zip(labels[0::2], labels[1::2], strict=True))
    expected = {f.flag: str(f.count) for f in data.flags if kinds[f.flag] == "missing_data"}
    assert "missing-usi" in expected
    assert shown == expected
    assert '<table id="missing"' not in dom
    today = rig.store.clock.now().astimezone(SYDNEY).date()
    buckets: dict[str, Counter[str]] = {}
    for item in await rig.store.worklist.items(today):
        if item.kind == "overdue":
            assert item.days_overdue is not None
            buckets.setdefault(item.flag, Counter())[overdue_bucket(item.days_overdue)] += 1
    assert sum(buckets["certificate-overdue"].values()) > 1
    table = re.search(r'<table id="overdue">(.*?)</table>', dom, re.S)
    assert table is not None
    rows = {
        cells[0]: cells[1:]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row) for row in table.group(1).split("</tr>")[1:-1]
        )
    }
    names = [name for _, name in OVERDUE_BUCKETS]
    for flag, counted in buckets.items():
        assert rows[flag] == [str(counted[n]) for n in names] + [str(sum(counted.values()))]
    assert rows["all overdue work"][-1] == str(sum(sum(c.values()) for c in buckets.values()))
    assert "holds personal data" in dom

    picture = tmp_path / "report.png"
    headless(f"--screenshot={picture}", "--window-size=1000,1800", page.as_uri())
    assert png_size(picture) == (1000, 1800)
    assert picture.stat().st_size > 20_000  # charts and tables, not a blank page


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_the_report_endpoint_needs_the_token(rig: Rig) -> None:
    """/report answers 401 without the bearer token, the page with it, 404 when unset."""
    state = ServiceState(mapping_file=DEFAULT_MAPPING, webhook_silence=timedelta(hours=2))
    secured = Admin(rig.ctx, state, ConnectorMetrics(), "s3cret-token", 1000).app()
    transport = httpx.ASGITransport(app=secured)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        anonymous = await client.get("/report")
        assert (anonymous.status_code, anonymous.json()["error"]) == (401, "unauthorized")
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get("/report", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/report", headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 200
        assert right.headers["content-type"].startswith("text/html")
        assert 'id="funnel"' in right.text or "No learners decided yet" in right.text
    closed = Admin(rig.ctx, state, ConnectorMetrics()).app()
    transport = httpx.ASGITransport(app=closed)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        assert (await client.get("/report")).status_code == 404
