"""The Backtests app: a sweep, a walk-forward and a Monte Carlo launched from headless Chromium, on a real Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.ui, pytest.mark.slow]

COUNT_FIGURES = (
    "() => [...Bokeh.documents[0].all_models].filter(m => m.type.split('.').pop() === 'Figure').length"
)


def test_launch_a_sweep_a_walk_forward_and_a_monte_carlo(
    serve_app, open_page, catalog_root: Path, dask_client, artifacts: Path
) -> None:
    base = serve_app("backtests", catalog_root, QUANTDESK_DASK_ADDRESS=dask_client.scheduler.address,
                     extra_apps=("performance",)).rsplit("/", 1)[0]
    page, problems = open_page(f"{base}/backtests")
    grid = page.locator("textarea").first
    grid.fill("fast_period: [5, 10]\nslow_period: [30, 50]")
    grid.press("Tab")  # Panel takes a text area's value when it loses focus
    page.get_by_text('"slow_period": [').first.wait_for(state="attached", timeout=60_000)  # the config preview follows
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Finished sweep").first.wait_for(timeout=180_000)
    page.get_by_text("4 of 4 runs").first.wait_for(timeout=30_000)
    page.wait_for_function(f"() => ({COUNT_FIGURES})() >= 1", timeout=60_000)  # the objective heatmap
    links = page.locator('a[href^="./performance?run_id="]')
    links.first.wait_for(timeout=60_000)
    assert links.count() == 4
    page.screenshot(path=str(artifacts / "backtests_sweep.png"))
    href = links.first.get_attribute("href")
    run_id = href.split("=", 1)[1]

    # The run id opens that run in the Performance dashboard.
    performance, more_problems = open_page(f"{base}/{href.removeprefix('./')}")
    performance.get_by_text(f"Run {run_id[:12]}").first.wait_for(timeout=60_000)

    page.get_by_role("button", name="walk-forward").click()
    page.get_by_text("In sample months").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Finished walk-forward").first.wait_for(timeout=300_000)
    page.wait_for_function(f"() => ({COUNT_FIGURES})() >= 3", timeout=60_000)  # equity + one step chart per parameter
    page.screenshot(path=str(artifacts / "backtests_walk_forward.png"))

    page.get_by_role("button", name="monte-carlo").click()
    page.get_by_text("Drawdown threshold").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Finished Monte Carlo of run").first.wait_for(timeout=120_000)
    page.get_by_text("P(max drawdown deeper than 20%)").first.wait_for(timeout=60_000)
    page.wait_for_function(f"() => ({COUNT_FIGURES})() >= 3", timeout=60_000)  # fan chart and two histograms
    page.screenshot(path=str(artifacts / "backtests_monte_carlo.png"))
    assert not problems + more_problems, problems + more_problems


def test_bad_input_is_shown_not_run(serve_app, open_page, catalog_root: Path, dask_client) -> None:
    url = serve_app("backtests", catalog_root, QUANTDESK_DASK_ADDRESS=dask_client.scheduler.address)
    page, problems = open_page(url)
    grid = page.locator("textarea").first
    grid.fill("fast_periodd: [5, 10]")
    grid.press("Tab")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Not started: Sweep parameter 'fast_periodd' is not a field of EMACrossConfig").first.wait_for(
        timeout=60_000
    )
    assert not problems, problems
