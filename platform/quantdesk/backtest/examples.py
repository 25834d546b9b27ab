"""Ready-made specs for demos, notebooks and tests."""

from __future__ import annotations

from quantdesk.config.backtest import BacktestSpec


def demo_spec() -> BacktestSpec:
    """Return the EMA crossover on AAPL's real daily bars, 2005-2012, that ``make up`` shows."""
    return BacktestSpec(
        strategy="quantdesk.strategies.ema_cross:EMACross",
        instrument_ids=["AAPL.XNAS"],
        bar_spec="1-DAY-LAST",
        parameters={"trade_size": 100, "fast_period": 10, "slow_period": 30},
        start="2005-01-01",
        end="2012-12-31",
        starting_capital=100_000.0,
    )
