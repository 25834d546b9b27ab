"""The Risk app served by `panel serve` with its paper node and packaged limits, in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quantdesk.risk import read_export

pytestmark = [pytest.mark.ui, pytest.mark.slow]

# The texts of every plot title in the page's Bokeh document(s).
TITLES = ("() => [...Bokeh.documents].flatMap(doc => [...doc.all_models])"
          ".filter(m => m.type.split('.').pop() === 'Title').map(m => m.text)")


def test_a_trade_on_the_live_app_shows_in_the_risk_app_without_browser_errors(
    serve_app, open_page, catalog_root: Path, artifacts: Path, tmp_path: Path
) -> None:
    url = serve_app("risk", catalog_root, extra_apps=("live",))  # one server: both apps share its paper node
    live, live_problems = open_page(url.removesuffix("risk") + "live")
    live.get_by_text("Node running").first.wait_for(timeout=60_000)
    quantity = live.locator(".bk-input-group", has_text="Quantity").locator("input").first
    quantity.fill("1000")
    quantity.press("Enter")
    # Click only once the browser's model holds the new quantity: the click then reaches the server after it.
    live.wait_for_function("() => [...Bokeh.documents].flatMap(doc => [...doc.all_models])"
                           ".some(m => m.title === 'Quantity' && m.value === 1000)", timeout=30_000)
    live.get_by_role("button", name="Submit order", exact=True).click()
    outcome = live.get_by_text(re.compile(r"filled 1000|was denied|rejected")).first
    outcome.wait_for(timeout=60_000)
    assert "filled 1000" in outcome.inner_text(), outcome.inner_text()  # a denial names its reason here

    page, problems = open_page(url)
    page.set_viewport_size({"width": 1400, "height": 2000})
    # The paper node's monitor publishes a snapshot every risk interval (5 s).
    page.get_by_text("Circuit breaker armed").first.wait_for(timeout=60_000)
    page.wait_for_function(f"() => ({TITLES})().includes('Limit utilization')", timeout=60_000)
    # 1,000 AAPL shares are the whole book: its concentration limit warns, and the VaR history measures it.
    page.locator(".tabulator-cell", has_text="instrument-share").first.wait_for(timeout=60_000)
    titles = page.evaluate(TITLES)
    assert any(title.startswith("VaR/ES history (historical, 99.0%, 250 days)") for title in titles), titles
    page.wait_for_timeout(1500)  # let Bokeh paint before the screenshot
    page.screenshot(path=str(artifacts / "risk_dashboard.png"), full_page=True)

    page.get_by_text("VaR/ES history", exact=True).first.click()
    page.get_by_text("Hypothetical P&L of the current book (AAPL.XNAS").first.wait_for(timeout=60_000)
    page.get_by_text("Basel traffic light over the last 250 days").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "risk_dashboard_var.png"), full_page=True)

    page.get_by_text("Breach probabilities", exact=True).first.click()
    page.get_by_role("button", name="Estimate breach probabilities").click()
    page.get_by_text("Out of sample").first.wait_for(timeout=120_000)
    page.locator(".tabulator-cell", has_text="value-at-risk").last.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "risk_dashboard_breach.png"), full_page=True)

    # The audit log holds the monitor's concentration warning; its download is the trail's CSV export.
    page.get_by_text("Audit log", exact=True).first.click()
    page.locator(".tabulator-cell", has_text="instrument-share").last.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    exported = read_export(download.value.path().rename(tmp_path / "risk_audit.csv"))
    warned = exported[(exported["limit_id"] == "instrument-share") & (exported["kind"] == "breach")]
    assert warned["details"].iloc[0]["action"] == "warn"
    page.screenshot(path=str(artifacts / "risk_dashboard_audit.png"), full_page=True)

    assert not problems and not live_problems, problems + live_problems
