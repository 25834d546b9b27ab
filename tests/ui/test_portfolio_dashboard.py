"""The Portfolio app in headless Chromium: optimize the default portfolio, see every chart render; bad input shown as one alert."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def has_chart(title: str) -> str:
    """Return a JavaScript test of whether a Bokeh chart whose title starts with ``title`` is on the page."""
    return ("() => [...Bokeh.documents[0].all_models].some(m => m.type.split('.').pop() === 'Title' "
            f"&& String(m.text).startsWith({title!r}))")


def test_optimize_and_see_every_view(serve_app, open_page, catalog_root: Path, artifacts: Path) -> None:
    url = serve_app("portfolio", catalog_root)
    page, problems = open_page(url)
    page.get_by_role("button", name="Run", exact=True).click()  # the default: max Sharpe over the five stocks
    page.get_by_text("Optimized portfolio").first.wait_for(timeout=300_000)
    # The weights table lists every asset with its sector; the charts of every tab render.
    for asset in ("AAPL.XNAS", "FB.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"):
        page.locator(".tabulator-cell", has_text=asset).first.wait_for(timeout=60_000)
    page.locator(".tabulator-cell", has_text="IT services").first.wait_for(timeout=60_000)
    for title in ("Weights", "Weight by sector", "Efficient frontier under the constraints", "Correlation of returns",
                  "Risk contribution (sums to the volatility", "Brinson-Fachler attribution by sector",
                  "Optimized weights vs SPX.INDEX"):
        page.wait_for_function(has_chart(title), timeout=60_000)
    page.wait_for_timeout(1500)  # let Bokeh paint before the screenshot
    page.screenshot(path=str(artifacts / "portfolio_allocation.png"), full_page=True)

    page.get_by_text("Frontier", exact=True).first.click()
    page.get_by_text("weights between 0 and 1").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "portfolio_frontier.png"), full_page=True)
    page.get_by_text("Trades", exact=True).first.click()
    page.get_by_text("Whole-share trades from nothing held").first.wait_for(timeout=60_000)
    page.get_by_text("Attribution", exact=True).first.click()
    page.get_by_text("Monthly rebalanced to the optimized weights vs equal weights").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "portfolio_attribution.png"), full_page=True)
    assert not problems, problems


def test_infeasible_constraints_are_one_alert(serve_app, open_page, catalog_root: Path) -> None:
    url = serve_app("portfolio", catalog_root)
    page, problems = open_page(url)
    box = page.locator(".bk-input-group", has_text="Max sector weight").locator("input").first
    box.fill("0.1")  # four sectors at most 10% each cannot hold a fully invested portfolio
    box.press("Enter")
    page.get_by_role("button", name="Run", exact=True).click()
    # In the status line and again in a red alert box, not as a traceback.
    alert = page.locator(".alert-danger", has_text="Stopped: Infeasible constraints for max_sharpe: weights summing to 1")
    alert.filter(has_text="sector Software at most 0.1").first.wait_for(timeout=120_000)
    assert page.get_by_text("Stopped: Infeasible constraints").count() >= 2
    assert page.get_by_text("Traceback").count() == 0
    assert not problems, problems
