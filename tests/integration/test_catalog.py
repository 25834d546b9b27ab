"""The sample catalog: contents match the packaged source data; damage is detected."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500
from bokeh_sampledata import stocks

from quantdesk.catalog import bars_frame, build_sample_catalog, list_instruments, open_catalog, verify
from quantdesk.catalog.manifest import read_manifest
from quantdesk.catalog.store import bar_files
from quantdesk.errors import QuantDeskError


def test_sample_catalog_holds_every_source_series(catalog_root: Path) -> None:
    catalog = open_catalog(catalog_root)
    ids = {str(i.id) for i in list_instruments(catalog)}
    assert ids == {"SPX.INDEX", "AAPL.XNAS", "FB.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"}

    spx_source = sp500.load()
    spx = bars_frame(catalog, "SPX.INDEX-1-DAY-LAST-EXTERNAL")
    assert len(spx) == len(spx_source) == 5031
    assert spx.index[0].date() == spx_source.index[0].date()
    assert spx.index[-1].date() == spx_source.index[-1].date()
    np.testing.assert_allclose(spx["close"].to_numpy(), spx_source["Close"].to_numpy(), atol=0.0051)

    for symbol, venue in [("AAPL", "XNAS"), ("FB", "XNAS"), ("GOOG", "XNAS"), ("IBM", "XNYS"), ("MSFT", "XNAS")]:
        source = getattr(stocks, symbol)
        bars = bars_frame(catalog, f"{symbol}.{venue}-1-DAY-LAST-EXTERNAL")
        assert len(bars) == len(source["date"])
        assert str(bars.index[0].date()) == str(source["date"][0])[:10]
        assert str(bars.index[-1].date()) == str(source["date"][-1])[:10]
        np.testing.assert_allclose(bars["open"].to_numpy(), source["open"], atol=0.0051)  # rounded to the cent
        np.testing.assert_allclose(bars["volume"].to_numpy(), source["volume"])


def test_daily_bars_are_stamped_at_the_new_york_close(catalog_root: Path) -> None:
    bars = bars_frame(open_catalog(catalog_root), "AAPL.XNAS-1-DAY-LAST-EXTERNAL")
    local = bars.index.tz_convert("America/New_York")
    assert set(local.hour) == {16} and set(local.minute) == {0}


def test_simulated_minute_bars_are_one_labelled_year_of_sessions(catalog_root: Path) -> None:
    manifest = read_manifest(catalog_root)
    dataset = manifest.dataset("AAPL.XNAS-1-MINUTE-LAST-EXTERNAL")
    assert dataset.synthetic and "GARCH" in dataset.source
    assert not manifest.dataset("AAPL.XNAS-1-DAY-LAST-EXTERNAL").synthetic

    bars = bars_frame(open_catalog(catalog_root), "AAPL.XNAS-1-MINUTE-LAST-EXTERNAL")
    local = bars.index.tz_convert("America/New_York")
    per_day = pd.Series(1, index=local).groupby(local.date).count()
    assert len(per_day) == 252 and (per_day == 390).all()
    assert local.time.min().strftime("%H:%M") == "09:31" and local.time.max().strftime("%H:%M") == "16:00"
    # The year follows the real daily data without overlapping it.
    daily = bars_frame(open_catalog(catalog_root), "AAPL.XNAS-1-DAY-LAST-EXTERNAL")
    assert bars.index[0] > daily.index[-1]
    assert ((bars["high"] >= bars[["open", "close"]].max(axis=1)) & (bars["low"] <= bars[["open", "close"]].min(axis=1))).all()
    # Volatility of the simulated days is of the order of AAPL's real daily volatility.
    simulated = np.log(bars["close"].groupby(local.date).last()).diff().std()
    real = np.log(pd.Series(stocks.AAPL["adj_close"])).diff().std()
    assert 0.4 * real < simulated < 2.5 * real


def test_rerun_is_a_no_op(catalog_root: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in catalog_root.rglob("*.parquet") if "backtests" not in p.parts}
    _, written = build_sample_catalog(catalog_root)
    assert written is False
    after = {p: p.stat().st_mtime_ns for p in catalog_root.rglob("*.parquet") if "backtests" not in p.parts}
    assert before == after


@pytest.fixture()
def own_catalog(catalog_root: Path, tmp_path: Path) -> Path:
    """A private copy of the session catalog that a test may damage."""
    target = tmp_path / "catalog"
    target.mkdir()
    shutil.copytree(catalog_root / "data", target / "data")
    shutil.copy2(catalog_root / "quantdesk-manifest.json", target)
    return target


def test_missing_catalog_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(QuantDeskError, match=r"No market data catalog at .*quantdesk catalog sample"):
        open_catalog(tmp_path / "nowhere")


def test_half_written_catalog_is_detected_and_rebuilt(own_catalog: Path) -> None:
    (own_catalog / "quantdesk-manifest.json").unlink()  # as if the build was killed before the end
    with pytest.raises(QuantDeskError, match=r"incomplete.*quantdesk catalog sample --rebuild"):
        open_catalog(own_catalog)
    with pytest.raises(QuantDeskError, match="--rebuild"):
        build_sample_catalog(own_catalog)  # a plain rerun refuses to build on top of it
    _, written = build_sample_catalog(own_catalog, rebuild=True)
    assert written and verify(own_catalog)


def test_corrupt_file_is_detected(own_catalog: Path) -> None:
    victim = bar_files(own_catalog, "MSFT.XNAS-1-DAY-LAST-EXTERNAL")[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(QuantDeskError, match=r"MSFT\.XNAS-1-DAY-LAST-EXTERNAL is corrupt.*--rebuild"):
        open_catalog(own_catalog)


def test_unknown_names_list_what_the_catalog_has(catalog_root: Path) -> None:
    catalog = open_catalog(catalog_root)
    with pytest.raises(QuantDeskError, match=r"Unknown bar type 'TSLA.XNAS-1-DAY-LAST-EXTERNAL'.*AAPL\.XNAS-1-DAY"):
        bars_frame(catalog, "TSLA.XNAS-1-DAY-LAST-EXTERNAL")
