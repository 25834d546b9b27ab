"""The embedded sample catalog: real daily bars from installed packages plus simulated minute bars.

Sources (all offline, shipped by packages the platform depends on):

* the S&P 500 index, daily OHLCV 1999-2018, from ``arch.data.sp500``;
* AAPL, FB, GOOG, IBM and MSFT, daily OHLCV 2000-2013, from ``bokeh_sampledata.stocks``;
* one year of AAPL one-minute bars following the real data, simulated from a
  GARCH(1,1) model with Student's t innovations fitted with ``arch`` to AAPL's real
  daily returns (marked ``synthetic`` in the manifest).

Bars are stamped at their close (Nautilus convention): daily bars at 16:00 New York
time, minute bars at the end of their minute.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.model.data import BarType
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import BarDataWrangler
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
)

from quantdesk.catalog.instruments import us_equity, us_index
from quantdesk.catalog.manifest import Dataset, Manifest, read_manifest, write_manifest
from quantdesk.catalog.store import catalog_root, verify

NEW_YORK = "America/New_York"
SESSION_MINUTES = 390  # 09:30-16:00
BOKEH_LISTINGS = {"AAPL": "XNAS", "FB": "XNAS", "GOOG": "XNAS", "IBM": "XNYS", "MSFT": "XNAS"}
SIMULATED_SYMBOL = "AAPL"
SIMULATION_SEED = 20130301


class NyseHolidayCalendar(AbstractHolidayCalendar):
    """Full-day NYSE closures (without one-off closures such as 2012's hurricane)."""

    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=nearest_workday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


def trading_sessions(first: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """Return ``count`` NYSE session dates starting on or after ``first``."""
    holidays = NyseHolidayCalendar().holidays(first, first + pd.Timedelta(days=2 * count + 30))
    return pd.bdate_range(first, periods=count, freq="C", holidays=holidays)


def _stamp_daily_close(dates: pd.Index) -> pd.DatetimeIndex:
    local = pd.DatetimeIndex(pd.to_datetime(dates)).normalize() + pd.Timedelta(hours=16)
    return local.tz_localize(NEW_YORK).tz_convert("UTC")


def _check_ohlc(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    columns = ["open", "high", "low", "close", "volume"]
    frame = frame[columns + (["adj_close"] if "adj_close" in frame else [])].astype("float64")
    inconsistent = (
        (frame["high"] < frame[["open", "close", "low"]].max(axis=1))
        | (frame["low"] > frame[["open", "close"]].min(axis=1))
        | (frame[["open", "high", "low", "close"]] <= 0).any(axis=1)
        | frame.isna().any(axis=1)
    )
    if inconsistent.any():
        first = frame.index[inconsistent.argmax()]
        raise ValueError(f"{label}: {int(inconsistent.sum())} inconsistent OHLC rows, first at {first}")
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise ValueError(f"{label}: timestamps are not strictly increasing")
    return frame


def sp500_daily() -> pd.DataFrame:
    """Return the S&P 500 daily OHLCV shipped by ``arch`` (index stamped at the close, UTC)."""
    from arch.data import sp500

    raw = sp500.load().rename(columns=str.lower)
    raw.index = _stamp_daily_close(raw.index)
    return _check_ohlc(raw, "arch.data.sp500")


def bokeh_daily(symbol: str) -> pd.DataFrame:
    """Return one stock's daily OHLCV (unadjusted) and ``adj_close`` from ``bokeh_sampledata.stocks``."""
    from bokeh_sampledata import stocks

    raw = pd.DataFrame(getattr(stocks, symbol))
    raw.index = _stamp_daily_close(raw.pop("date"))
    return _check_ohlc(raw, f"bokeh_sampledata.stocks.{symbol}")


def simulate_minute_bars(daily: pd.DataFrame, sessions: int, seed: int = SIMULATION_SEED) -> pd.DataFrame:
    """Simulate one-minute bars that continue a daily series, from a GARCH(1,1) fit.

    The model (constant mean, GARCH(1,1), Student's t) is fitted with ``arch`` to the
    daily log returns of the adjusted close. Its simulated daily variance is spread
    over an overnight gap (20 %) and 390 minutes with a U-shaped intraday profile, so
    each simulated day's return has the fitted conditional variance. Minute highs and
    lows extend the open-close range by a half-normal draw of the minute's volatility;
    volume follows the same U-shape around the last year's mean daily volume.

    Parameters
    ----------
    daily : pandas.DataFrame
        Real daily bars with ``adj_close`` (or ``close``) and ``volume``.
    sessions : int
        Number of trading sessions to simulate after the last real day.
    seed : int
        Seed of every random draw; the same seed gives the same bars.

    Returns
    -------
    pandas.DataFrame
        ``open, high, low, close, volume`` indexed by bar close time (UTC).
    """
    from arch.univariate import GARCH, ConstantMean, StudentsT

    rng = np.random.default_rng(seed)
    adjusted = daily["adj_close"] if "adj_close" in daily else daily["close"]
    log_returns = 100.0 * np.log(adjusted).diff().dropna()
    model = ConstantMean(log_returns.to_numpy(), volatility=GARCH(1, 0, 1), distribution=StudentsT(seed=rng))
    fit = model.fit(disp="off")
    path = model.simulate(fit.params, nobs=sessions, burn=500)
    daily_sigma = path["volatility"].to_numpy() / 100.0
    daily_mu = fit.params["mu"] / 100.0
    nu = fit.params["nu"]

    intraday = 1.0 + 1.5 * np.linspace(-1.0, 1.0, SESSION_MINUTES) ** 2  # U-shape of activity
    weights = np.sqrt(0.8 * intraday / intraday.sum())  # minute std as share of daily std
    shocks = rng.standard_t(nu, size=(sessions, SESSION_MINUTES)) * np.sqrt((nu - 2.0) / nu)
    minute_returns = shocks * weights * daily_sigma[:, None] + daily_mu / SESSION_MINUTES
    gaps = rng.standard_normal(sessions) * np.sqrt(0.2) * daily_sigma

    log_close = np.log(daily["close"].iloc[-1]) + np.cumsum(
        (minute_returns + np.pad(gaps[:, None], ((0, 0), (0, SESSION_MINUTES - 1)))).ravel()
    )
    close = np.exp(log_close)
    open_ = np.exp(np.concatenate([[np.log(daily["close"].iloc[-1])], log_close[:-1]]))
    open_ = open_.reshape(sessions, SESSION_MINUTES)
    open_[:, 0] *= np.exp(gaps)  # the gap happens before the first trade of the day
    open_ = open_.ravel()
    minute_sigma = (weights * daily_sigma[:, None]).ravel()
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(close.size)) * 0.5 * minute_sigma)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(close.size)) * 0.5 * minute_sigma)

    mean_volume = daily["volume"].iloc[-252:].mean()
    vol_ratio = (daily_sigma / daily_sigma.mean())[:, None]
    volume = mean_volume * (intraday / intraday.sum()) * vol_ratio * rng.lognormal(0.0, 0.3, (sessions, SESSION_MINUTES))

    first_session = daily.index[-1].tz_convert(NEW_YORK).normalize().tz_localize(None) + pd.Timedelta(days=1)
    days = trading_sessions(first_session, sessions)
    minute_ends = pd.timedelta_range(pd.Timedelta(hours=9, minutes=31), periods=SESSION_MINUTES, freq="1min")
    local = (days.values[:, None] + minute_ends.values[None, :]).ravel()
    index = pd.DatetimeIndex(local).tz_localize(NEW_YORK).tz_convert("UTC")

    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.round(volume).ravel()}, index=index
    )
    # Round to the instrument's cent grid, then restore the OHLC ordering rounding can break.
    frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]].round(2)
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    return _check_ohlc(frame, "simulated minute bars")


def _write_bars(
    catalog: ParquetDataCatalog, instrument: Instrument, frame: pd.DataFrame, spec: str, source: str, **flags
) -> Dataset:
    bar_type = BarType.from_str(f"{instrument.id}-{spec}-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    catalog.write_data(bars)
    return Dataset(
        bar_type=str(bar_type),
        rows=len(bars),
        start=frame.index[0].isoformat(),
        end=frame.index[-1].isoformat(),
        source=source,
        **flags,
    )


def _build(root: Path, simulated_sessions: int, progress: Callable[[str], None]) -> Manifest:
    catalog = ParquetDataCatalog(str(root))
    datasets: list[Dataset] = []
    instruments = []

    spx = us_index("SPX")
    catalog.write_data([spx])
    instruments.append(str(spx.id))
    progress("S&P 500 daily (arch.data.sp500)")
    datasets.append(_write_bars(catalog, spx, sp500_daily(), "1-DAY", "arch.data.sp500"))

    for symbol, venue in BOKEH_LISTINGS.items():
        equity = us_equity(symbol, venue)
        catalog.write_data([equity])
        instruments.append(str(equity.id))
        progress(f"{symbol} daily (bokeh_sampledata.stocks)")
        daily = bokeh_daily(symbol)
        datasets.append(_write_bars(catalog, equity, daily, "1-DAY", f"bokeh_sampledata.stocks.{symbol}"))
        if symbol == SIMULATED_SYMBOL:
            progress(f"{symbol} one-minute bars (GARCH simulation)")
            minutes = simulate_minute_bars(daily, simulated_sessions)
            datasets.append(
                _write_bars(
                    catalog,
                    equity,
                    minutes,
                    "1-MINUTE",
                    f"GARCH(1,1)-t fitted with arch to {symbol} daily adjusted returns, seed {SIMULATION_SEED}",
                    synthetic=True,
                    notes="Simulated, not observed: use for intraday mechanics and speed, not for research conclusions.",
                )
            )
    return Manifest(datasets=tuple(datasets), instruments=tuple(instruments))


def build_sample_catalog(
    path: str | Path | None = None,
    rebuild: bool = False,
    simulated_sessions: int = 252,
    progress: Callable[[str], None] = lambda step: None,
) -> tuple[Path, bool]:
    """Write the sample catalog, unless a complete one is already there.

    The catalog is built in a temporary folder beside the target and moved into
    place before the manifest is written, so an interruption never leaves a
    catalog that looks complete.

    Parameters
    ----------
    path : str or Path, optional
        Catalog root; defaults to the configured one.
    rebuild : bool
        Replace existing market data (stored backtests and jobs are kept).
    simulated_sessions : int
        Sessions of simulated one-minute bars (252 is one year).
    progress : callable
        Called with a short description before each step.

    Returns
    -------
    tuple of (Path, bool)
        The catalog root and whether anything was written.
    """
    root = catalog_root(path)
    root.mkdir(parents=True, exist_ok=True)
    if not rebuild and (root / "data").is_dir():
        verify(root)  # raises with a rebuild hint when the existing catalog is damaged
        return root, False

    staging = Path(tempfile.mkdtemp(dir=root, prefix=".sample-build-"))
    try:
        manifest = _build(staging, simulated_sessions, progress)
        manifest_file = root / "quantdesk-manifest.json"
        manifest_file.unlink(missing_ok=True)  # from here on the catalog reads as incomplete
        if (root / "data").exists():
            shutil.rmtree(root / "data")
        (staging / "data").rename(root / "data")
        write_manifest(root, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify(root)
    return root, True


__all__ = ["build_sample_catalog", "read_manifest", "simulate_minute_bars", "trading_sessions"]
