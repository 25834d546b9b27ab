"""Read catalog contents into pandas, with clear errors for names the catalog lacks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quantdesk.catalog.columns import read_bar_columns
from quantdesk.catalog.store import bar_files
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
