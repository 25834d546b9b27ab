"""Factor-model covariance from a stored factor run: its long-short quantile spreads are the factor returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantdesk.config import FactorRunConfig
from quantdesk.factors.panel import synthetic_panel
from quantdesk.factors.pipeline import run_factors
from quantdesk.portfolio import factor_covariance, factor_returns_from_run, risk_model

USER = "quantdesk.testing.factors"


def test_factor_run_spreads_feed_the_factor_model(tmp_path: Path, dask_client) -> None:
    panel = synthetic_panel(assets=20, days=300, seed=3)
    config = FactorRunConfig(universe=[str(a) for a in panel["asset"].values], factors={f"{USER}:window_return": None},
                             horizons=[1], quantiles=5)
    run = run_factors(config, catalog=tmp_path, client=dask_client, progress=False, panel=panel)
    factor_returns = factor_returns_from_run(run.path)
    assert list(factor_returns.columns) == [f"{USER}:window_return(window=5)", f"{USER}:window_return(window=20)"]

    # By hand: on each date, the top quintile's mean next-day return minus the bottom quintile's, dated a day later.
    close = panel["close"].to_pandas()
    returns = close.pct_change().iloc[1:]
    values = close / close.shift(20) - 1.0
    for date in values.index[40:45]:
        following = close.index[close.index.get_loc(date) + 1]
        buckets = pd.qcut(values.loc[date], 5, labels=False)
        nextday = returns.loc[following]
        spread = nextday[buckets == 4].mean() - nextday[buckets == 0].mean()
        assert np.isclose(factor_returns.loc[following, f"{USER}:window_return(window=20)"], spread, rtol=1e-6)

    through_run = risk_model(close, "factor_model", factor_run=run.path)
    np.testing.assert_allclose(through_run.to_numpy(), factor_covariance(returns, factor_returns).to_numpy(), rtol=1e-12)
    assert np.linalg.eigvalsh(through_run.to_numpy()).min() > 0
