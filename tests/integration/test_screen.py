"""The vectorized EMACross twin against hand computations and against Nautilus, and the screen -> confirm pipeline.

What Nautilus really does here (checked below, not assumed): with ``bar_execution`` a market
order EMACross submits in ``on_bar`` fills at that bar's close, stamped with the bar's
``ts_event``; the order ``close_positions_on_stop`` sends when the backtest ends fills at the
last bar's close, stamped with the last bar. So the twin's trades and gross P&L must equal
Nautilus's exactly; the only difference in P&L is the venue's 1 bp commission.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
import yaml

from quantdesk.backtest import ema_cross_screen, ema_cross_trades, load_result, run_backtest, screen_and_confirm
from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.config import BacktestSpec, SweepConfig
from quantdesk.errors import QuantDeskError
from quantdesk.testing import subprocess_env

EMA_CROSS = "quantdesk.strategies.ema_cross:EMACross"
FEE_RATE = 1e-4  # the sample catalog's equities charge a flat 1 bp (quantdesk.catalog.instruments)


def _spec(instrument: str, fast: int, slow: int, bar_spec: str = "1-DAY-LAST", **fields) -> BacktestSpec:
    fields = {"start": "2004-01-01", "end": "2012-12-31", **fields}
    return BacktestSpec(strategy=EMA_CROSS, instrument_ids=[instrument], bar_spec=bar_spec, starting_capital=1e6,
                        parameters={"trade_size": 10, "fast_period": fast, "slow_period": slow}, **fields)


def _reference_trades(close: np.ndarray, fast: int, slow: int) -> list[tuple[int, int]]:
    """EMACross's trades from pandas' EMAs (ewm with adjust=False starts at the first value, as Nautilus's does)."""
    series = pd.Series(close)
    above = (series.ewm(span=fast, adjust=False).mean() > series.ewm(span=slow, adjust=False).mean()).to_numpy()
    trades, entry = [], None
    for bar in range(slow, len(close)):  # both averages are ready from bar slow - 1 on
        if above[bar] and not above[bar - 1] and entry is None:
            entry = bar
        elif not above[bar] and above[bar - 1] and entry is not None:
            trades.append((entry, bar))
            entry = None
    if entry is not None:
        trades.append((entry, len(close) - 1))
    return trades


def test_the_twin_on_a_series_checked_by_hand() -> None:
    # fast_period 1 is the close itself; the 3-bar EMA halves the gap each bar (alpha 0.5):
    # bar   0  1  2  3     4      5     6      7       8       9
    # close 8  8  8  10    12     9     6      7       10      13
    # ema3  8  8  8  9     10.5   9.75  7.875  7.4375  8.7188  10.859
    # Ready at bar 2 (fast not above: 8 = 8); up at 3 (buy), down at 5 (sell), up at 8
    # (buy), still long at the end: sold at the last close.
    close = np.array([8, 8, 8, 10, 12, 9, 6, 7, 10, 13], dtype=float)
    assert ema_cross_trades(close, 1, 3).tolist() == [[3, 5], [8, 9]]
    trades, gross, wins, profit, loss = ema_cross_screen(close, [1], [3], trade_size=100)[0]
    assert (trades, gross, wins, profit, loss) == (2, 200.0, 1, 300.0, 100.0)  # (9 - 10) and (13 - 10) x 100
    # Fast above slow from the first ready bar on is not a cross: no trade.
    assert ema_cross_trades(np.arange(1.0, 20.0), 1, 3).tolist() == []
    # fast >= slow is refused by EMACrossConfig: the screen marks it NaN instead of trading it.
    assert np.isnan(ema_cross_screen(close, [3, 3], [3, 2], trade_size=1)).all()


def test_the_twin_matches_pandas_ewm_on_random_walks() -> None:
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 5_000)))
    pairs = [(2, 3), (3, 10), (5, 20), (12, 26), (20, 100)]
    stats = ema_cross_screen(close, [f for f, _ in pairs], [s for _, s in pairs], trade_size=7)
    for (fast, slow), row in zip(pairs, stats):
        expected = _reference_trades(close, fast, slow)
        assert ema_cross_trades(close, fast, slow).tolist() == [list(t) for t in expected]
        pnl = [7 * (close[exit_] - close[entry]) for entry, exit_ in expected]
        assert row[0] == len(expected) > 0
        assert row[1] == pytest.approx(sum(pnl), abs=1e-9)
        assert row[2] == sum(p > 0 for p in pnl)


@pytest.mark.parametrize(
    ("instrument", "fast", "slow", "bar_spec", "period"),
    [
        ("AAPL.XNAS", 2, 3, "1-DAY-LAST", {}),  # buys on the last bar: bought and sold at its close
        ("GOOG.XNAS", 10, 30, "1-DAY-LAST", {}),  # long at the end: flattened at the last close
        ("MSFT.XNAS", 5, 20, "1-DAY-LAST", {}),
        ("IBM.XNYS", 20, 50, "1-DAY-LAST", {}),
        ("AAPL.XNAS", 30, 120, "1-MINUTE-LAST", {"start": None, "end": None}),  # ~98,000 simulated minute bars
    ],
)
def test_the_twin_trades_the_bars_nautilus_fills(
    catalog_root: Path, instrument: str, fast: int, slow: int, bar_spec: str, period: dict
) -> None:
    spec = _spec(instrument, fast, slow, bar_spec, **period)
    result = run_backtest(spec, catalog=catalog_root)
    bars = bars_frame(open_catalog(catalog_root), spec.bar_types[0], *spec.period())
    close = bars["close"].to_numpy()
    fills = result.fills
    fill_bar = bars.index.get_indexer(pd.DatetimeIndex(fills["ts_event"]))
    assert (fill_bar >= 0).all(), "every fill is stamped with a bar's close time"
    assert (fills["price"].to_numpy() == close[fill_bar]).all(), "every fill is at its bar's close"
    assert list(fills["side"]) == ["BUY", "SELL"] * (len(fills) // 2)

    twin = ema_cross_trades(close, fast, slow)
    assert len(twin) == result.summary["round_trips"] == len(fills) // 2 > 10
    np.testing.assert_array_equal(twin.ravel(), fill_bar)
    last = len(close) - 1
    if (instrument, fast) == ("AAPL.XNAS", 2):
        assert twin[-1].tolist() == [last, last]
    if instrument == "GOOG.XNAS":
        assert twin[-1, 1] == last and twin[-1, 0] < last

    trades, gross = ema_cross_screen(close, [fast], [slow], trade_size=10)[0][:2]
    fill_gross = -(fills["quantity"] * fills["price"]).sum()  # flat at the end: cash out minus cash in
    assert trades == len(twin)
    assert gross == pytest.approx(fill_gross, abs=0.005)
    assert gross == pytest.approx(result.summary["realized_pnl"], abs=0.005)


def _sweep(**changes) -> SweepConfig:
    base = BacktestSpec(strategy=EMA_CROSS, instrument_ids=["MSFT.XNAS"], bar_spec="1-DAY-LAST",
                        parameters={"trade_size": 100}, start="2006-01-01", end="2011-12-31")
    fields = {"base": base, "grid": {"fast_period": [3, 5, 10, 30], "slow_period": [20, 30]}, "objective": "total_return"}
    return SweepConfig(**{**fields, **changes})


@pytest.mark.slow
def test_screen_then_confirm_the_top_on_nautilus(catalog_root: Path, dask_client) -> None:
    config = _sweep()
    result = screen_and_confirm(config, top=3, catalog=catalog_root, client=dask_client, progress=False)
    screen, confirmed = result.screen, result.confirmed
    close = bars_frame(open_catalog(catalog_root), "MSFT.XNAS-1-DAY-LAST-EXTERNAL", *config.base.period())["close"].to_numpy()
    assert result.bars == len(close) and len(screen) == 8

    invalid = screen[~screen["valid"]]
    assert sorted(zip(invalid["fast_period"], invalid["slow_period"])) == [(30, 20), (30, 30)]
    assert invalid["gross_pnl"].isna().all() and list(screen.index[~screen["valid"]]) == [6, 7]  # ranked last
    valid = screen[screen["valid"]]
    assert list(valid["total_return"]) == sorted(valid["total_return"], reverse=True)
    for row in valid.itertuples():  # every screened row against the pandas reference
        expected = _reference_trades(close, row.fast_period, row.slow_period)
        assert row.trades == len(expected)
        gross = sum(100 * (close[b] - close[a]) for a, b in expected)
        assert row.gross_pnl == pytest.approx(gross, abs=1e-6)
        assert row.total_return == pytest.approx(gross / config.base.starting_capital)

    assert list(zip(confirmed["fast_period"], confirmed["slow_period"])) == \
        list(zip(valid["fast_period"], valid["slow_period"]))[:3]
    assert confirmed["status"].isin(["finished", "stored"]).all()
    assert (confirmed["screen_trades"] == confirmed["nautilus_trades"]).all()
    assert confirmed["difference"].abs().max() < 0.005
    for row in confirmed.itertuples():
        run = load_result(catalog_root, row.run_id)
        assert run.spec.parameters["fast_period"] == row.fast_period and run.spec.parameters["slow_period"] == row.slow_period
        # The rest of the gap is the commission: 1 bp of each of the twin's trades, rounded to the cent.
        notional = 100 * close[ema_cross_trades(close, row.fast_period, row.slow_period).ravel()]
        assert np.abs(run.fills["commission"].to_numpy() - FEE_RATE * notional).max() <= 0.005 + 1e-9
        assert row.commissions == pytest.approx(run.fills["commission"].sum()) and row.commissions > 0
        assert row.nautilus_net_pnl == pytest.approx(row.screen_gross_pnl - row.commissions, abs=0.005)
        assert run.summary["ending_equity"] - config.base.starting_capital == pytest.approx(row.nautilus_net_pnl, abs=0.005)

    nothing = screen_and_confirm(config, top=0, catalog=catalog_root, progress=False)
    assert nothing.confirmed.empty and "difference" in nothing.confirmed
    pd.testing.assert_frame_equal(nothing.screen, screen)


@pytest.mark.parametrize(
    ("config", "top", "named"),
    [
        (_sweep(base=msgspec.structs.replace(_sweep().base, strategy="quantdesk.testing.strategies:HoldOneYear",
                                             parameters={"year": 2008}), grid={"year": [2008, 2009]}),
         1, "No vectorized twin of 'quantdesk.testing.strategies:HoldOneYear'"),
        (_sweep(grid={"fast_period": [5], "allow_short": [False, True]}), 1, "not allow_short"),
        (_sweep(base=msgspec.structs.replace(_sweep().base, parameters={"allow_short": True})), 1, "allow_short"),
        (_sweep(objective="sharpe"), 1, "not 'sharpe'"),
        (_sweep(grid={"fast_period": [5, 7.5]}), 1, "fast_period 7.5 is not a whole number"),
        (_sweep(), -1, "top=-1"),
    ],
    ids=["no-twin", "varied-field", "short", "objective", "period", "top"],
)
def test_what_the_screen_cannot_do_is_one_clear_error(catalog_root: Path, config: SweepConfig, top: int, named: str) -> None:
    with pytest.raises(QuantDeskError, match=named):
        screen_and_confirm(config, top=top, catalog=catalog_root, progress=False)


@pytest.mark.slow
def test_backtest_screen_command(catalog_root: Path, tmp_path: Path) -> None:
    sweep = json.loads(_sweep().json())
    (tmp_path / "screen.yaml").write_text(yaml.safe_dump(sweep))
    env = subprocess_env(QUANTDESK_CATALOG=str(catalog_root), QUANTDESK_DASK_WORKERS="2")
    command = [sys.executable, "-m", "quantdesk.cli", "backtest", "screen", str(tmp_path / "screen.yaml")]
    done = subprocess.run([*command, "--top", "2", "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["combinations"] == 8 and report["bars"] > 1000 and len(report["screen"]) == 8
    confirmed = report["confirmed"]
    assert [(r["fast_period"], r["slow_period"]) for r in confirmed] == \
        [(r["fast_period"], r["slow_period"]) for r in report["screen"][:2]]
    assert all(r["screen_trades"] == r["nautilus_trades"] and abs(r["difference"]) < 0.005 for r in confirmed)
    assert report["screen"][-1]["trades"] is None  # 30/30: refused, not traded

    done = subprocess.run([*command, "--top", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"screen {_sweep().id[:12]}: 8 combinations x ")
    assert "objective total_return" in lines[0]
    at = next(i for i, line in enumerate(lines) if line.startswith("confirmed on Nautilus: top 2"))
    assert "difference" in lines[at + 1] and "commissions" in lines[at + 1]
    for line, row in zip(lines[at + 2:], confirmed):
        assert line.split()[:4] == [str(row["fast_period"]), str(row["slow_period"]), str(row["screen_trades"]),
                                    str(row["nautilus_trades"])]
        assert row["run_id"][:12] in line and "stored" in line  # the --json call ran them

    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**sweep, "objective": "sharpe"}))
    done = subprocess.run([*command[:-1], str(tmp_path / "bad.yaml")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "not 'sharpe'" in done.stderr and "Traceback" not in done.stderr
