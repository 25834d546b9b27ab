"""Market data for factors: a (time x asset) panel from the catalog, or a synthetic one for benchmarks.

The panel is an ``xarray.Dataset``: :data:`INPUTS` over ``(time, asset)``, and over ``time``
alone the market's return (``market``), the cross-sectional mean return (``cross_mean``) and
any external series (rates, inflation, VIX). Dates (naive UTC) are the union of the assets' bar dates;
an asset without a bar on a date has NaN there. Cross-asset series are computed here, on
the whole universe, so factors stay correct when the pipeline hands them a block of assets.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from quantdesk.catalog import bars_frame, catalog_root, open_catalog
from quantdesk.catalog.queries import bar_types
from quantdesk.errors import QuantDeskError

INPUTS = ("open", "high", "low", "close", "volume", "returns")
SERIES = ("market", "cross_mean")


@dataclass(frozen=True)
class LoadedPanel:
    """A panel and what could not go into it.

    Attributes
    ----------
    panel : xarray.Dataset
    problems : list of str
        One message per asset left out (no bars in the period, unknown bar type).
    """

    panel: xr.Dataset
    problems: list[str]


def assemble(
    frames: Mapping[str, pd.DataFrame],
    market: pd.Series | None = None,
    external: Mapping[str, pd.Series] | None = None,
) -> xr.Dataset:
    """Return the panel of ``frames`` (asset -> OHLCV frame indexed by time).

    ``market`` is a price series whose returns become ``market``; without one, the
    cross-sectional mean return stands in. External series are aligned to the panel's dates
    and carried forward (a monthly rate holds until its next print), never backward.
    """
    if not frames:
        raise QuantDeskError("The universe is empty: name at least one asset with bars in the period")
    # Times are stored as naive UTC: Zarr and NetCDF cannot encode a time zone.
    frames = {asset: frame.set_axis(_naive_utc(frame.index)) for asset, frame in frames.items()}
    market = None if market is None else market.set_axis(_naive_utc(market.index))
    external = {name: series.set_axis(_naive_utc(series.index)) for name, series in (external or {}).items()}
    times = pd.DatetimeIndex(sorted(set().union(*(frame.index for frame in frames.values()))), name="time")
    assets = list(frames)
    data = {}
    for column in ("open", "high", "low", "close", "volume"):
        table = pd.DataFrame({asset: frames[asset][column] for asset in assets}).reindex(times)
        data[column] = (("time", "asset"), table.to_numpy(dtype="float64"))
    close = data["close"][1]
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1.0
    data["returns"] = (("time", "asset"), returns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a date where no asset has a return: NaN, as meant
        cross_mean = np.nanmean(returns, axis=1)
    data["cross_mean"] = (("time",), cross_mean)
    if market is not None:
        known = market.dropna()
        level = known.reindex(times).ffill()
        # Carried over the market's holidays, but not past its last bar: after that its
        # moves are unknown, not zero (zeros would bias every beta towards 0).
        level[level.index > known.index.max()] = np.nan
        data["market"] = (("time",), level.pct_change(fill_method=None).to_numpy(dtype="float64"))
    else:
        data["market"] = (("time",), cross_mean)
    for name, series in external.items():
        # A missing print (a FRED "." on a bond-market holiday when stocks trade) must not be
        # carried forward as NaN: the last value holds until the next print.
        level = series.dropna().sort_index().reindex(times, method="ffill")
        data[name] = (("time",), level.to_numpy(dtype="float64"))
    return xr.Dataset(data, coords={"time": times, "asset": assets})


def _naive_utc(index: pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def load_panel(
    universe: Sequence[str],
    start: str | None = None,
    end: str | None = None,
    catalog: str | Path | None = None,
    bar_spec: str = "1-DAY-LAST",
    market: str | None = "SPX.INDEX",
    external: Mapping[str, pd.Series] | None = None,
) -> LoadedPanel:
    """Read ``universe``'s bars from the catalog into a panel.

    An asset with no bars in the period is left out and named in ``problems``; the others
    still load. ``market`` names the instrument whose returns are the market (default the
    S&P 500 index of the sample catalog); when it has no bars the cross-sectional mean is used.
    """
    if not universe:
        raise QuantDeskError("The universe is empty: name at least one asset (e.g. AAPL.XNAS)")
    parquet = open_catalog(catalog_root(catalog))
    stored = set(bar_types(parquet))
    frames, problems = {}, []
    for asset in dict.fromkeys(universe):
        bar_type = f"{asset}-{bar_spec}-EXTERNAL"
        if bar_type not in stored:
            problems.append(f"{asset}: no {bar_spec} bars in the catalog (left out)")
            continue
        frame = bars_frame(parquet, bar_type, start, end)
        if frame.empty:
            problems.append(f"{asset}: no bars between {start} and {end} (left out)")
            continue
        frames[asset] = frame
    if not frames:
        raise QuantDeskError(f"No asset of {', '.join(universe)} has bars between {start} and {end}: " + "; ".join(problems))
    market_close = None
    if market is not None and f"{market}-{bar_spec}-EXTERNAL" in stored:
        market_close = bars_frame(parquet, f"{market}-{bar_spec}-EXTERNAL", start, end)["close"]
    return LoadedPanel(assemble(frames, market_close, external), problems)


def synthetic_panel(assets: int, days: int, seed: int = 0) -> xr.Dataset:
    """Return a panel of ``assets`` simulated daily OHLCV series (one-factor GBM), for benchmarks and tests."""
    if assets < 1 or days < 2:
        raise QuantDeskError(f"A synthetic panel needs at least 1 asset and 2 days, not {assets} x {days}")
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, days)
    beta = rng.uniform(0.5, 1.5, assets)
    log_returns = market[:, None] * beta + rng.normal(0.0, 0.015, (days, assets))
    close = 50.0 * np.exp(np.cumsum(log_returns, axis=0))
    spread = np.abs(rng.normal(0.0, 0.01, (days, assets)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, (days, assets)))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    volume = rng.lognormal(13.0, 0.5, (days, assets))
    times = pd.bdate_range("2010-01-04", periods=days, tz="UTC", name="time")
    names = [f"S{index:04d}" for index in range(assets)]
    frames = {
        name: pd.DataFrame({"open": open_[:, i], "high": high[:, i], "low": low[:, i], "close": close[:, i],
                            "volume": volume[:, i]}, index=times)
        for i, name in enumerate(names)
    }
    return assemble(frames, pd.Series(100.0 * np.exp(np.cumsum(market)), index=times))


def arrays(panel: xr.Dataset) -> dict[str, np.ndarray]:
    """Return the panel as the ``data`` mapping factor functions take (C-contiguous float64 arrays)."""
    return {name: np.ascontiguousarray(panel[name].to_numpy(), dtype="float64") for name in panel.data_vars}
