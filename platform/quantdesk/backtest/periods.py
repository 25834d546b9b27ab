"""The same backtest over several periods (years, regimes), results side by side."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from quantdesk.backtest.batch import Progress, run_specs
from quantdesk.backtest.sweep import COLUMNS
from quantdesk.config.backtest import BacktestSpec
from quantdesk.errors import QuantDeskError


def calendar_years(spec: BacktestSpec) -> dict[str, tuple[str, str]]:
    """Return one period per calendar year between the spec's start and end (both required)."""
    start, end = spec.period()
    if start is None or end is None:
        raise QuantDeskError("Splitting by year needs the spec's start and end: set both")
    return {
        str(year): (max(start, pd.Timestamp(f"{year}-01-01", tz="UTC")).isoformat(),
                    min(end, pd.Timestamp(f"{year}-12-31 23:59:59.999999999", tz="UTC")).isoformat())
        for year in range(start.year, end.year + 1)
    }


def run_periods(
    spec: BacktestSpec,
    periods: dict[str, tuple[str | None, str | None]],
    catalog: str | Path | None = None,
    client: Any = None,
    progress: bool | Progress = True,
    stop: threading.Event | None = None,
) -> pd.DataFrame:
    """Run ``spec`` once per named period on Dask; return one row per period, in the order given.

    Parameters
    ----------
    spec : BacktestSpec
        Everything but the dates.
    periods : dict
        Name -> ``(start, end)`` as the spec takes them (ISO 8601; a bare end date includes that day).
    """
    if not periods:
        raise QuantDeskError("No periods given: name at least one, e.g. {'2008': ('2008-01-01', '2008-12-31')}")
    specs = [msgspec.structs.replace(spec, start=start, end=end).check() for start, end in periods.values()]
    outcomes = run_specs(specs, catalog, client=client, progress=progress, stop=stop, description="periods")
    rows = []
    for name, (start, end), outcome in zip(periods, periods.values(), outcomes):
        summary = outcome.summary or {}
        rows.append({"period": name, "start": start, "end": end, **{c: summary.get(c) for c in COLUMNS},
                     "status": outcome.status, "error": outcome.error, "run_id": outcome.run_id})
    return pd.DataFrame(rows).set_index("period")
