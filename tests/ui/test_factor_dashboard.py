"""The Factors app: a factor run launched from headless Chromium on a real Dask cluster, its leaderboard and charts."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.slow]



def has_chart(title: str) -> str:
    """Return a JavaScript test of whether a Bokeh chart whose title starts with ``title`` is on the page."""
    return ("() => [...Bokeh.documents[0].all_models].some(m => m.type.split('.').pop() === 'Title' "
            f"&& String(m.text).startsWith({title!r}))")


def test_run_factors_and_look_into_one(serve_app, open_page, catalog_root: Path, dask_client, artifacts: Path) -> None:
    url = serve_app("factors", catalog_root, QUANTDESK_DASK_ADDRESS=dask_client.scheduler.address)
    page, problems = open_page(url)
    page.get_by_role("button", name="Run", exact=True).click()  # the default: two small factors on the five stocks
    page.get_by_text("Finished factor run").first.wait_for(timeout=300_000)
    # The leaderboard lists the three variants; the chosen factor's IC, quantile and decay charts render.
    page.locator(".tabulator-cell", has_text="momentum(window=21)").first.wait_for(timeout=60_000)
    page.locator(".tabulator-cell", has_text="volatility(window=21)").first.wait_for(timeout=60_000)
    page.get_by_text(" at 1 bars").first.wait_for(timeout=60_000)  # the top factor's heading
    for title in ("Rank IC over time", "Quantile returns", "Decay"):
        page.wait_for_function(has_chart(title), timeout=60_000)
    page.wait_for_timeout(1500)  # let Bokeh paint before the screenshot
    page.screenshot(path=str(artifacts / "factors_run.png"), full_page=True)

    # A click on a leaderboard row picks that factor.
    page.locator(".tabulator-cell", has_text="momentum(window=5)").first.click()
    page.get_by_text("momentum(window=5) at 1 bars").first.wait_for(timeout=60_000)

    page.get_by_text("Correlation", exact=True).first.click()
    page.wait_for_function(has_chart("Rank correlation of the top 3 factors"), timeout=60_000)
    page.get_by_text("Regimes", exact=True).first.click()
    page.get_by_text("by volatility regime, every factor").first.wait_for(timeout=60_000)
    page.wait_for_function(has_chart("momentum(window=5): mean rank IC by volatility regime"), timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "factors_regimes.png"), full_page=True)
    assert not problems, problems


def test_bad_factor_is_shown_not_run(serve_app, open_page, catalog_root: Path, dask_client) -> None:
    url = serve_app("factors", catalog_root, QUANTDESK_DASK_ADDRESS=dask_client.scheduler.address)
    page, problems = open_page(url)
    box = page.locator("textarea").first
    box.fill("no_such_factor:")
    box.press("Tab")  # Panel takes a text area's value when it loses focus
    page.get_by_role("button", name="Run", exact=True).click()
    # In the status line and again in a red alert box, not as a traceback.
    page.locator(".alert-danger", has_text="Not started: Unknown factor 'no_such_factor'").first.wait_for(timeout=60_000)
    assert page.get_by_text("Not started: Unknown factor 'no_such_factor'").count() >= 2
    assert not problems, problems
