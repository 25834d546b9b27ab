"""Read catalog contents into pandas, with clear errors for names the catalog lacks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quantdesk.catalog.columns import read_bar_columns
from quantdesk.catalog.store import bar_files, catalog_root, open_catalog
from quantdesk.config.dates import utc_bound
from quantdesk.errors import QuantDeskError


def list_instruments(catalog: ParquetDataCatalog) -> list[Instrument]:
    """Return every instrument in the catalog, sorted by id."""
    return sorted(catalog.instruments(), key=lambda i: str(i.id))


def load_instrument(catalog: ParquetDataCatalog, instrument_id: str) -> Instrument:
    """Return one instrument, or raise a message listing the ones the catalog has."""
    try:
        parsed = InstrumentId.from_str(instrument_id)
    except ValueError:
        raise QuantDeskError(
            f"Instrument id {instrument_id!r} is malformed: write it as SYMBOL.VENUE, e.g. AAPL.XNAS"
        ) from None
    found = catalog.instruments(instrument_ids=[str(parsed)])
    if not found:
        known = ", ".join(str(i.id) for i in list_instruments(catalog)) or "none"
        raise QuantDeskError(f"Unknown instrument {instrument_id!r}: the catalog has {known}")
    return found[0]


def bar_types(catalog: ParquetDataCatalog) -> list[str]:
    """Return the bar types stored in the catalog."""
    folder = Path(catalog.path) / "data" / "bar"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def bars_frame(
    catalog: ParquetDataCatalog,
    bar_type: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Return bars as a DataFrame indexed by bar close time (UTC).

    Parameters
    ----------
    catalog : ParquetDataCatalog
    bar_type : str
        e.g. ``"AAPL.XNAS-1-DAY-LAST-EXTERNAL"``.
    start, end : str or Timestamp, optional
        Inclusive bounds on the bar close time (UTC when no zone is given); a bare ``end``
        date includes that whole day, as in a backtest spec.

    Returns
    -------
    pandas.DataFrame
        Float columns ``open, high, low, close, volume``.
    """
    if bar_type not in bar_types(catalog):
        known = ", ".join(bar_types(catalog)) or "none"
        raise QuantDeskError(f"Unknown bar type {bar_type!r}: the catalog has {known}")
    bounds = [None if t is None else utc_bound(t, name) for t, name in ((start, "start"), (end, "end"))]
    return read_bar_columns(bar_files(Path(catalog.path), bar_type), *bounds)


def load_bars(universe: list[str], start: str | None = None, end: str | None = None, bar_spec: str = "1-DAY-LAST",
              catalog: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return closes and volumes of ``universe`` from the catalog, one column per asset (a panel for research).

    Raises
    ------
    QuantDeskError
        Naming each asset the catalog has no such bars for, or that has none in the period.
    """
    parquet = open_catalog(catalog_root(catalog))
    stored = bar_types(parquet)
    suffix = f"-{bar_spec}-EXTERNAL"
    unknown = [asset for asset in universe if f"{asset}{suffix}" not in stored]
    if unknown:
        known = ", ".join(t.removesuffix(suffix) for t in stored if t.endswith(suffix)) or "none"
        raise QuantDeskError(f"Unknown asset(s) {', '.join(unknown)}: the catalog has {bar_spec} bars for {known}")
    frames = {asset: bars_frame(parquet, f"{asset}{suffix}", start, end) for asset in universe}
    empty = [asset for asset, frame in frames.items() if frame.empty]
    if empty:
        raise QuantDeskError(f"No bars for {', '.join(empty)} between {start or 'the start'} and {end or 'the end'}: widen the period")
    close = pd.DataFrame({asset: frame["close"] for asset, frame in frames.items()})
    volume = pd.DataFrame({asset: frame["volume"] for asset, frame in frames.items()})
    return close, volume
