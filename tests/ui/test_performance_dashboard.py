"""The Performance app served over HTTP and loaded in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from quantdesk.backtest import run_backtest
from quantdesk.config import BacktestSpec

pytestmark = pytest.mark.ui

# Count the Bokeh figures and Tabulator tables in the page's document(s).
COUNT_MODELS = """() => {
  const counts = {};
  for (const doc of window.Bokeh.documents) {
    for (const model of doc.all_models) {
      const name = model.type.split('.').pop();
      counts[name] = (counts[name] || 0) + 1;
    }
  }
  return counts;
}"""


@pytest.fixture(scope="module")
def two_runs(catalog_root: Path, demo_result) -> tuple[str, str]:
    ibm = BacktestSpec(
        strategy="quantdesk.strategies.ema_cross:EMACross", instrument_ids=["IBM.XNYS"], bar_spec="1-DAY-LAST",
        parameters={"fast_period": 5, "slow_period": 20}, start="2010-01-01", end="2012-12-31",
    )
    return demo_result.run_id, run_backtest(ibm, catalog=catalog_root).run_id


def _wait_for_figures(page, minimum: int) -> dict[str, int]:
    page.wait_for_function(
        f"() => window.Bokeh && Bokeh.documents.length && "
        f"[...Bokeh.documents[0].all_models].filter(m => m.type.split('.').pop() === 'Figure').length >= {minimum}",
        timeout=120_000,
    )
    return page.evaluate(COUNT_MODELS)


def test_performance_app_renders_a_stored_run_without_browser_errors(
    serve_app, open_page, catalog_root: Path, two_runs: tuple[str, str], artifacts: Path
) -> None:
    # As the launcher does: tell the app where JupyterLab and the Dask dashboard are, for its links.
    links = {"QUANTDESK_JUPYTER_URL": "http://127.0.0.1:8899", "QUANTDESK_DASK_DASHBOARD_URL": "http://127.0.0.1:8799/status"}
    url = serve_app("performance", catalog_root, **links)
    response = requests.get(url, timeout=60)
    assert response.status_code == 200
    assert "<title>QuantDesk · Performance</title>" in response.content.decode()

    # The page fetches its Bokeh document over the session's websocket; count the plots in it there.

    page, problems = open_page(url)
    counts = _wait_for_figures(page, 3)  # equity, drawdown, monthly heatmap
    assert counts.get("DataTabulator", 0) >= 2, counts  # statistics and trades
    page.get_by_text("Sharpe ratio").first.wait_for(timeout=60_000)
    assert page.get_by_role("link", name="Dask dashboard").get_attribute("href") == links["QUANTDESK_DASK_DASHBOARD_URL"]
    assert page.get_by_role("link", name="JupyterLab").get_attribute("href") == "http://127.0.0.1:8899/lab/tree/notebooks"
    page.wait_for_timeout(1000)  # let late renders report their errors
    page.screenshot(path=str(artifacts / "performance_dashboard.png"), full_page=True)
    assert not problems, problems

    # Picking the other run re-renders the page for it.
    demo, ibm = two_runs
    select = page.locator("select").first
    labels = select.locator("option").all_inner_texts()
    label = next(text for text in labels if text.endswith(ibm[:8]))
    select.select_option(label=label)
    page.get_by_text(f"Run {ibm[:12]}").first.wait_for(timeout=60_000)
    page.get_by_text("IBM.XNYS (1-DAY-LAST)").first.wait_for(timeout=60_000)
    assert _wait_for_figures(page, 3).get("Figure", 0) >= 3
    assert not problems, problems


def test_performance_app_on_an_empty_catalog_says_what_to_do(serve_app, open_page, tmp_path: Path) -> None:
    url = serve_app("performance", tmp_path / "empty-catalog")
    page, problems = open_page(url)
    page.get_by_text("No stored backtest runs").first.wait_for(timeout=60_000)
    assert page.get_by_text("quantdesk backtest run SPEC").count() >= 1
    assert not problems, problems
