"""The Live app served by `panel serve` with its paper node, in headless Chromium: streaming chart, a market order."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.slow]

# The number of bar closes the price chart's Bokeh data source holds (its column is named after the dimension).
CHART_POINTS = ("() => Math.max(0, ...[...Bokeh.documents[0].all_models]"
                ".filter(m => m.type.split('.').pop() === 'ColumnDataSource' && 'close' in m.data)"
                ".map(m => m.data.close.length))")


def test_prices_stream_and_a_market_order_fills(serve_app, open_page, catalog_root: Path, artifacts: Path) -> None:
    url = serve_app("live", catalog_root)
    page, problems = open_page(url)
    page.get_by_text("Node running").first.wait_for(timeout=60_000)
    page.wait_for_function(f"() => ({CHART_POINTS})() >= 2", timeout=60_000)
    before = page.evaluate(CHART_POINTS)
    page.wait_for_function(f"() => ({CHART_POINTS})() > {before}", timeout=60_000)  # the chart grows while the node runs

    page.get_by_role("button", name="Submit order", exact=True).click()  # the default: buy 100 AAPL.XNAS at market
    page.get_by_text("filled 100 at").first.wait_for(timeout=60_000)
    page.get_by_text("Fills", exact=True).first.click()
    page.locator(".tabulator-cell", has_text="MANUAL").first.wait_for(timeout=60_000)
    page.get_by_text("Positions", exact=True).first.click()
    page.locator(".tabulator-cell", has_text="OrderEntry-MANUAL").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # let Bokeh paint before the screenshot
    page.screenshot(path=str(artifacts / "live_market_order.png"), full_page=True)

    assert not problems, problems
