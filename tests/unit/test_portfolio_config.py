"""PortfolioConfig: checks, files, and a run end to end from the sample catalog, against PyPortfolioOpt on the same closes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models

from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.config.portfolio import PortfolioConfig
from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.run import run_portfolio

UNIVERSE = ["AAPL.XNAS", "FB.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"]


def closes(catalog_root: Path, column: str = "close") -> pd.DataFrame:
    catalog = open_catalog(catalog_root)
    return pd.DataFrame({a: bars_frame(catalog, f"{a}-1-DAY-LAST-EXTERNAL")[column] for a in UNIVERSE})


def test_config_round_trips_through_json_and_yaml(tmp_path: Path) -> None:
    mapping = {"universe": UNIVERSE, "method": "efficient_risk", "target_volatility": 0.2, "weight_bounds": [0.0, 0.4],
               "sectors": {"AAPL.XNAS": "Tech"}, "sector_limits": {"Tech": [None, 0.3]}, "turnover_limit": 0.5,
               "views": [{"weights": {"AAPL.XNAS": 1.0}, "return": 0.1}]}
    config = PortfolioConfig.from_mapping(mapping)
    assert config.sector_limits == {"Tech": (None, 0.3)} and config.weight_bounds == (0.0, 0.4)
    (tmp_path / "p.json").write_text(json.dumps(mapping))
    (tmp_path / "p.yaml").write_text("universe: [AAPL.XNAS, FB.XNAS]\nmethod: hrp\nlinkage: average\n")
    assert PortfolioConfig.load(tmp_path / "p.json") == config
    assert PortfolioConfig.load(tmp_path / "p.json").id == config.id
    assert PortfolioConfig.load(tmp_path / "p.yaml").linkage == "average"
    assert PortfolioConfig.parse(config.json()) == config


@pytest.mark.parametrize(("mapping", "words"), [
    ({"universe": []}, "The universe is empty"),
    ({"universe": UNIVERSE, "metod": "hrp"}, "unknown field `metod`"),
    ({"universe": UNIVERSE, "method": "max_return"}, "method='max_return'"),
    ({"universe": UNIVERSE, "risk_method": "garch"}, "risk_method='garch'"),
    ({"universe": UNIVERSE, "method": "efficient_return"}, "needs target_return"),
    ({"universe": UNIVERSE, "sectors": {"TSLA.XNAS": "Autos"}}, "sectors names assets outside the universe: TSLA.XNAS"),
    ({"universe": UNIVERSE, "method": "black_litterman"}, "needs views"),
    ({"universe": UNIVERSE + ["AAPL.XNAS"]}, "names AAPL.XNAS more than once"),
    ({"universe": UNIVERSE, "start": "2020-13-45"}, "2020-13-45"),
    ({"universe": UNIVERSE, "gross_limit": 1.6}, "gross_limit applies to long-short portfolios"),
    ({"universe": UNIVERSE, "asset_bounds": {"IBM.XNYS": [-0.1, 0.2]}}, "Weight bounds (-0.1, 0.2) for IBM.XNYS"),
    ({"universe": UNIVERSE, "weight_bounds": [0.5, 0.2]}, "Weight bounds (0.5, 0.2) for every asset"),
    ({"universe": UNIVERSE, "volume_share": 0.1}, "volume_share=0.1 caps positions by liquidity at a portfolio value: set capital"),
    ({"universe": UNIVERSE, "capital": 1e6, "volume_share": 0.1, "liquidation_days": 0}, "liquidation_days=0: liquidity caps"),
])
def test_bad_configs_name_the_bad_value(mapping, words) -> None:
    with pytest.raises(QuantDeskError) as raised:
        PortfolioConfig.from_mapping(mapping)
    assert words in str(raised.value)


def test_run_equals_pypfopt_on_the_catalog_closes(catalog_root: Path) -> None:
    config = PortfolioConfig(universe=UNIVERSE, method="max_sharpe", risk_method="sample", weight_bounds=(0.0, 0.4))
    result = run_portfolio(config, catalog_root)
    prices = closes(catalog_root)
    ef = EfficientFrontier(expected_returns.mean_historical_return(prices), risk_models.sample_cov(prices),
                           weight_bounds=(0.0, 0.4), solver="CLARABEL")
    ef.max_sharpe()
    np.testing.assert_allclose(result.weights.to_numpy(), ef.weights, atol=1e-4)
    assert list(result.weights.index) == UNIVERSE


def test_run_caps_positions_by_the_catalog_volumes(catalog_root: Path) -> None:
    config = PortfolioConfig(universe=UNIVERSE, method="min_volatility", capital=4e8, volume_share=0.05, volume_window=10)
    result = run_portfolio(config, catalog_root)
    prices, volume = closes(catalog_root), closes(catalog_root, "volume")
    caps = 0.05 * volume.tail(10).mean() * prices.ffill().iloc[-1] / 4e8
    assert (result.weights <= caps + 1e-6).all()
    uncapped = run_portfolio(PortfolioConfig(universe=UNIVERSE, method="min_volatility"), catalog_root).weights
    assert (uncapped > caps + 1e-3).any()
    # Capital alone sizes whole-share trades: without volume_share it caps nothing.
    trading = run_portfolio(PortfolioConfig(universe=UNIVERSE, method="min_volatility", capital=4e8, volume_window=10),
                            catalog_root).weights
    pd.testing.assert_series_equal(trading, uncapped)


def test_an_unknown_asset_is_named(catalog_root: Path) -> None:
    with pytest.raises(QuantDeskError, match=r"Unknown asset\(s\) TSLA.XNAS: the catalog has 1-DAY-LAST bars for AAPL.XNAS"):
        run_portfolio(PortfolioConfig(universe=[*UNIVERSE, "TSLA.XNAS"]), catalog_root)
