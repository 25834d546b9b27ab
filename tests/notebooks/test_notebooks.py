"""Notebooks run through papermill on the repository kernel; jobs archive their runs."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest

from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.config.portfolio import PortfolioConfig
from quantdesk.jobs import list_job_runs, run_job
from quantdesk.portfolio.run import run_portfolio
from quantdesk.risk import AuditTrail, read_export
from quantdesk.testing import subprocess_env

pytestmark = pytest.mark.notebooks
ROOT = Path(__file__).resolve().parents[2]
SMOKE = {"start": "2011-01-01", "end": "2012-06-30", "fast_period": 5, "slow_period": 15}


@pytest.fixture()
def repository_kernel(monkeypatch: pytest.MonkeyPatch, catalog_env: Path) -> Path:
    monkeypatch.setenv("JUPYTER_PATH", str(ROOT))
    return catalog_env


def run_research_notebook(name: str, tmp_path: Path, parameters: dict) -> str:
    """Run ``notebooks/research/NAME.ipynb`` on the repository kernel, check every cell ran cleanly, return its text."""
    output = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(ROOT / f"notebooks/research/{name}.ipynb"),
        str(output),
        parameters=parameters,
        kernel_name="quantdesk",
        cwd=str(ROOT / "notebooks/research"),
        progress_bar=False,
    )
    book = nbformat.read(output, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code) and not any(o.output_type == "error" for c in code for o in c.outputs)
    return "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in code for o in c.outputs)


def test_quickstart_runs_on_the_repository_kernel(repository_kernel: Path, tmp_path: Path) -> None:
    output = tmp_path / "quickstart.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks/research/01_quickstart.ipynb"),
        str(output),
        parameters=SMOKE,
        kernel_name="quantdesk",
        cwd=str(ROOT / "notebooks/research"),
        progress_bar=False,
    )
    book = nbformat.read(output, as_version=4)
    executed = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in executed)
    # The last cell displays the Performance Viewer (a Panel/Bokeh bundle), not an error.
    last = executed[-1]
    assert not any(o.output_type == "error" for o in last.outputs)
    assert any("application/vnd.holoviews_exec.v0+json" in o.get("data", {}) or "text/html" in o.get("data", {}) for o in last.outputs)
    assert (repository_kernel / "backtests").is_dir()


def test_backtest_report_job_via_the_cli(repository_kernel: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "quantdesk.cli", "jobs", "run", "backtest_report",
         "-p", "instrument", "IBM.XNYS", "-p", "slow_period", "40", "-p", "start", "2008-01-01"],
        capture_output=True, text=True, env=subprocess_env(), timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runs = list_job_runs("backtest_report")
    newest = Path(runs["folder"].iloc[0])
    assert runs["status"].iloc[0] == "succeeded"
    assert json.loads((newest / "parameters.json").read_text()) == {
        "instrument": "IBM.XNYS", "slow_period": 40, "start": "2008-01-01"
    }
    html = (newest / "report.html").read_text()
    assert "Backtest report" in html and "IBM.XNYS" in html
    # BokehJS is inside the report, not fetched from a CDN: it shows its plots offline.
    assert "cdn.bokeh.org" not in html and html.count('"name":"Figure"') >= 3  # equity, drawdown, heatmap
    executed = nbformat.read(newest / "notebook.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "slow_period = 40" in injected[0].source
    listing = subprocess.run(
        [sys.executable, "-m", "quantdesk.cli", "jobs", "list"], capture_output=True, text=True, env=subprocess_env()
    )
    assert newest.name in listing.stdout


def test_failed_job_is_archived_with_its_error(repository_kernel: Path) -> None:
    record = run_job("backtest_report", {"instrument": "NOPE.XNAS"}, progress=False)
    assert record.status == "failed" and "NOPE.XNAS" in record.error
    status = json.loads((record.folder / "status.json").read_text())
    assert status["status"] == "failed" and (record.folder / "notebook.ipynb").exists()
    assert (record.folder / "report.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "run", "no_such_report"], "Unknown job 'no_such_report': the jobs are backtest_report, factor_report, portfolio_report, risk_report, walk_forward_report"),
        (["jobs", "run", "backtest_report", "-p", "slow_period", "slow"], "slow_period='slow'"),
        (["jobs", "run", "backtest_report", "-p", "colour", "red"], "Unknown parameter 'colour'"),
    ],
)
def test_bad_job_requests_are_one_line(repository_kernel: Path, args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "quantdesk.cli", *args], capture_output=True, text=True, env=subprocess_env())
    assert done.returncode == 2 and message in done.stderr and done.stderr.strip().count("\n") == 0


@pytest.fixture()
def on_the_test_cluster(repository_kernel: Path, dask_client, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kernels submit to the session's two-worker cluster instead of starting clusters of their own."""
    monkeypatch.setenv("QUANTDESK_DASK_ADDRESS", dask_client.scheduler.address)
    return repository_kernel


def test_parameter_sweep_notebook(on_the_test_cluster: Path, tmp_path: Path) -> None:
    parameters = {"start": "2008-01-01", "end": "2012-12-31", "fast_periods": "5, 10", "slow_periods": "30, 60",
                  "simulations": 300}
    text = run_research_notebook("02_parameter_sweep", tmp_path, parameters)
    assert "Monte Carlo (trades)" in text and "300 paths" in text
    assert "pairs x" in text and "bars screened in" in text
    assert all(year in text for year in ("2008", "2012"))  # the year-by-year table
    sweeps = list((on_the_test_cluster / "sweeps").iterdir())
    assert sweeps, "the sweep table was not stored"


def test_walk_forward_report_job(on_the_test_cluster: Path) -> None:
    record = run_job(
        "walk_forward_report",
        {"start": "2005-01-01", "end": "2010-12-31", "fast_periods": "5, 10", "slow_periods": "30, 60",
         "in_sample_months": "24", "anchored": "true"},
        progress=False,
    )
    assert record.status == "succeeded", record.error
    assert json.loads((record.folder / "parameters.json").read_text())["anchored"] is True
    html = (record.folder / "report.html").read_text()
    assert "Walk-forward report" in html and "walk-forward" in html and "4 windows" in html
    assert "cdn.bokeh.org" not in html and html.count('"name":"Figure"') >= 4  # equity, 2 steps, equity, drawdown


SMOKE_FACTORS = "{momentum: {window: [5, 21]}, volatility: {window: [21]}}"


def test_factor_research_notebook(on_the_test_cluster: Path, tmp_path: Path) -> None:
    parameters = {"start": "2008-01-01", "end": "2012-12-31", "factors": SMOKE_FACTORS, "horizons": "1, 5"}
    text = run_research_notebook("03_factor_research", tmp_path, parameters)
    assert "3 variants x 5 assets" in text and "best factor: " in text
    assert all(label in text for label in ("momentum(window=5)", "momentum(window=21)", "volatility(window=21)"))
    assert "clusters from 3 factors" in text
    assert "low" in text and "high" in text  # the regime table's columns
    runs = [p for p in (on_the_test_cluster / "factors").iterdir() if (p / "scores.zarr").is_dir()]
    assert runs, "the factor run was not stored and scored"


def test_factor_report_job(on_the_test_cluster: Path) -> None:
    record = run_job("factor_report", {"start": "2008-01-01", "end": "2012-12-31", "factors": SMOKE_FACTORS,
                                       "horizon": "5"}, progress=False)
    assert record.status == "succeeded", record.error
    assert json.loads((record.folder / "parameters.json").read_text())["horizon"] == 5
    html = (record.folder / "report.html").read_text()
    assert "Factor report" in html and "ranked by rank-IC IR at 5 bars" in html and "best factor: " in html
    assert "volatility(window=21)" in html
    # IC over time, quantile returns, decay and the correlation heatmap, with BokehJS inline.
    assert "cdn.bokeh.org" not in html and html.count('"name":"Figure"') >= 4


def test_portfolio_research_notebook(on_the_test_cluster: Path, tmp_path: Path) -> None:
    parameters = {"universe": "AAPL.XNAS, GOOG.XNAS, IBM.XNYS", "start": "2008-01-01", "end": "2012-12-31",
                  "frontier_points": 8, "resamples": 10, "resampled_points": 4}
    text = run_research_notebook("05_portfolio_optimization", tmp_path, parameters)
    assert all(method in text for method in ("max_sharpe", "min_volatility", "hrp", "risk_parity"))
    contributions = ast.literal_eval(text.split("risk parity contributions: ")[1].splitlines()[0])
    assert len(set(contributions.values())) == 1  # risk parity: every asset carries the same risk
    assert "8 frontier points" in text and "infeasible: Infeasible constraints for max_sharpe" in text
    assert "leftover cash" in text and "10 resamples solved, 0 failed" in text


def test_portfolio_report_job(on_the_test_cluster: Path) -> None:
    universe = ["AAPL.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"]
    record = run_job("portfolio_report", {"universe": ", ".join(universe), "start": "2009-01-01", "end": "2012-12-31",
                                          "max_weight": "0.5", "frontier_points": "8"}, progress=False)
    assert record.status == "succeeded", record.error
    assert json.loads((record.folder / "parameters.json").read_text())["max_weight"] == 0.5
    # The report's figures are the engine's for the same config.
    direct = run_portfolio(PortfolioConfig(universe=universe, start="2009-01-01", end="2012-12-31",
                                           weight_bounds=(0.0, 0.5), capital=1_000_000.0,
                                           sectors={"AAPL.XNAS": "Hardware", "IBM.XNYS": "IT services",
                                                    "MSFT.XNAS": "Software", "GOOG.XNAS": "Interactive media"}))
    html = (record.folder / "report.html").read_text()
    assert "Portfolio report" in html and "weights between 0 and 0.5" in html
    assert f"volatility {direct.volatility:.2%}, Sharpe {direct.sharpe:.2f}" in html
    assert "Brinson-Fachler (monthly, vs equal weights): active" in html and "regression on SPX.INDEX: beta" in html
    # Weights, frontier, risk, correlations, growth, drawdown and attribution, with BokehJS inline.
    assert "cdn.bokeh.org" not in html and html.count('"name":"Figure"') >= 4


def test_live_paper_trading_notebook(repository_kernel: Path, tmp_path: Path) -> None:
    text = run_research_notebook("04_live_paper_trading", tmp_path, {"speed": 600.0, "stream_seconds": 3.0, "quantity": 10})
    assert "market order FILLED: 10 at" in text
    assert "limit order ACCEPTED at" in text and "limit order CANCELED" in text
    assert "bars streamed in 3 s" in text and "0 bars streamed" not in text
    # The store kept both orders after the node stopped.
    assert "trade history: 2 orders of this session, statuses ['CANCELED', 'FILLED']" in text


def test_risk_report_job_measures_the_book_and_exports_the_audit_period(repository_kernel: Path) -> None:
    trail = AuditTrail(f"sqlite:///{repository_kernel / 'quantdesk.sqlite'}")  # the store of the job's catalog
    marker = uuid.uuid4().hex
    trail.record("limit_change", "report-test", "book-gross", {"marker": marker})
    trail.record("limit_change", "report-test", "book-gross", {"marker": marker, "old": True},
                 ts_event=pd.Timestamp("2001-01-02", tz="UTC").value)  # before the period: left out
    record = run_job("risk_report", {"positions": "AAPL.XNAS: 1000, IBM.XNYS: -500", "audit_start": "2020-01-01",
                                     "monte_carlo_paths": "20000"}, progress=False)
    assert record.status == "succeeded", record.error
    html = (record.folder / "report.html").read_text()
    assert "Risk report" in html and "Basel traffic light" in html
    assert "cdn.bokeh.org" not in html and html.count('"name":"Figure"') >= 2  # utilization, VaR history
    # The book by hand: marked at the last close both instruments share, VaR of its P&L over the last 2,520 days.
    parquet = open_catalog(repository_kernel)
    closes = pd.DataFrame({i: bars_frame(parquet, f"{i}-1-DAY-LAST-EXTERNAL")["close"]
                           for i in ("AAPL.XNAS", "IBM.XNYS")}).dropna()
    values = pd.Series({"AAPL.XNAS": 1000.0, "IBM.XNYS": -500.0}) * closes.iloc[-1]
    assert f"gross {values.abs().sum():,.0f} USD, net {values.sum():,.0f} USD" in html
    pnl = (closes.pct_change().iloc[1:].tail(2520) @ values).to_numpy()
    worst = np.sort(pnl)[: math.ceil(2520 * 0.01)]  # the 26 worst days: VaR is the last of them, ES their mean
    assert f"{-worst[-1]:.2f}" in html and f"{-worst.mean():.2f}" in html
    # The period's audit records, exported beside the report, both ways alike.
    exported = read_export(record.folder / "risk_audit.csv")
    mine = exported[exported["details"].map(lambda details: details.get("marker") == marker)]
    assert len(mine) == 1 and "old" not in mine["details"].iloc[0]
    assert (exported["ts_event"] >= pd.Timestamp("2020-01-01", tz="UTC")).all()
    assert list(read_export(record.folder / "risk_audit.json")["sequence"]) == list(exported["sequence"])

