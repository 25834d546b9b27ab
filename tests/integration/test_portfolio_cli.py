"""`quantdesk portfolio optimize SPEC`: a good config prints weights and whole shares; each bad one exits with one line naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pypfopt import EfficientFrontier, expected_returns, risk_models

from quantdesk.portfolio.run import load_bars
from quantdesk.testing import subprocess_env

QUANTDESK = [sys.executable, "-m", "quantdesk.cli"]
STOCKS = ["AAPL.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"]
GOOD = {"universe": STOCKS, "start": "2008-01-01", "end": "2012-12-31", "method": "min_volatility",
        "weight_bounds": [0.05, 0.5], "capital": 100_000}


def quantdesk(*args: str, catalog: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*QUANTDESK, *args], capture_output=True, text=True,
                          env=subprocess_env(QUANTDESK_CATALOG=str(catalog)), timeout=300)


def test_optimize_prints_weights_and_whole_shares(catalog_root: Path, tmp_path: Path) -> None:
    spec = tmp_path / "portfolio.yaml"
    spec.write_text(yaml.safe_dump(GOOD))
    done = quantdesk("portfolio", "optimize", str(spec), "--json", catalog=catalog_root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    weights = pd.Series(report["weights"]).reindex(STOCKS)

    # PyPortfolioOpt's own API on the same closes, estimators and bounds.
    close, _ = load_bars(STOCKS, "2008-01-01", "2012-12-31", catalog=catalog_root)
    reference = EfficientFrontier(expected_returns.mean_historical_return(close),
                                  risk_models.CovarianceShrinkage(close).ledoit_wolf(), weight_bounds=(0.05, 0.5),
                                  solver="CLARABEL")
    expected = pd.Series(reference.min_volatility()).reindex(STOCKS)
    np.testing.assert_allclose(weights.to_numpy(), expected.to_numpy(), atol=1e-5)
    assert ((weights >= 0.05 - 1e-7) & (weights <= 0.5 + 1e-7)).all() and weights.sum() == pytest.approx(1.0)
    _, volatility, _ = reference.portfolio_performance()
    assert report["volatility"] == pytest.approx(volatility, rel=1e-4)
    assert sum(report["risk_contribution"].values()) == pytest.approx(report["volatility"])

    # Whole shares at the last closes: spent plus leftover is the capital, and the integer program misses the
    # target values (plus the cash left idle) by no more than rounding every position down does.
    shares, prices = pd.Series(report["allocation"]["shares"]), pd.Series(report["allocation"]["prices"])
    pd.testing.assert_series_equal(prices.reindex(STOCKS), close.ffill().iloc[-1].reindex(STOCKS), check_names=False)
    assert float((shares * prices).sum()) + report["allocation"]["leftover_cash"] == pytest.approx(100_000)
    target = weights * 100_000 / prices

    def miss(held: pd.Series) -> float:
        return float((abs(target - held) * prices).sum() + 100_000 - (held * prices).sum())

    assert miss(shares) <= miss(np.floor(target)) + 1e-6

    text = quantdesk("portfolio", "optimize", str(spec), catalog=catalog_root)
    assert text.returncode == 0, text.stderr
    assert f"volatility {volatility:.2%}" in text.stdout and "leftover cash" in text.stdout
    assert all(asset in text.stdout for asset in STOCKS)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"universe": ["AAPL.XNAS", "NOPE.XNAS"]}, "Unknown asset(s) NOPE.XNAS"),
        ({"colour": "red"}, "colour"),
        ({"method": "best"}, "method='best'"),
        ({"weight_bounds": [0.0, 0.1]}, "Infeasible constraints for min_volatility"),
        ({"start": "2030-01-01"}, "No bars for"),
    ],
)
def test_bad_specs_are_one_line(catalog_root: Path, tmp_path: Path, change: dict, named: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**GOOD, **change}))
    done = quantdesk("portfolio", "optimize", str(spec), catalog=catalog_root)
    assert done.returncode == 2 and done.stdout == ""
    assert named in done.stderr and done.stderr.startswith("quantdesk: error: ") and done.stderr.strip().count("\n") == 0


def test_missing_spec_file_is_one_line(catalog_root: Path, tmp_path: Path) -> None:
    done = quantdesk("portfolio", "optimize", str(tmp_path / "nowhere.yaml"), catalog=catalog_root)
    assert done.returncode == 2 and "nowhere.yaml" in done.stderr and done.stderr.strip().count("\n") == 0
