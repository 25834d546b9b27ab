"""Fast columnar reads of catalog bars straight from Parquet.

Turning 200,000 Nautilus ``Bar`` objects into floats costs more than a tenth of a
second; reading the fixed-point columns with pyarrow and scaling them in NumPy costs
a few milliseconds, which keeps post-run analytics a rounding error next to the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.model.objects import FIXED_PRECISION

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def _fixed_to_float(column: pa.ChunkedArray) -> np.ndarray:
    """Decode a Nautilus fixed-point column (int64 or little-endian int128) to float64."""
    array = column.combine_chunks()
    scale = 10.0**FIXED_PRECISION
    if pa.types.is_fixed_size_binary(array.type) and array.type.byte_width == 16:
        words = np.frombuffer(array.buffers()[1], dtype="<u8", count=2 * len(array), offset=array.offset * 16)
        words = words.reshape(-1, 2)
        high = words[:, 1].view(np.int64).astype(np.float64)
        return (high * 2.0**64 + words[:, 0].astype(np.float64)) / scale
    return array.to_numpy(zero_copy_only=False).astype(np.float64) / scale


def read_bar_columns(
    files: list[Path],
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    columns: tuple[str, ...] = PRICE_COLUMNS,
) -> pd.DataFrame:
    """Read bar columns from catalog Parquet files into floats indexed by ``ts_event`` (UTC).

    Parameters
    ----------
    files : list of Path
        The bar type's files (see :func:`quantdesk.catalog.store.bar_files`).
    start, end : Timestamp, optional
        Inclusive bounds on the bar close time.
    columns : tuple of str
        Which of ``open, high, low, close, volume`` to read.
    """
    if not files:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}, index=pd.DatetimeIndex([], tz="UTC", name="time"))
    table = pa.concat_tables(pq.read_table(f, columns=[*columns, "ts_event"]) for f in files)
    if start is not None or end is not None:
        ts = table["ts_event"]
        mask = pc.and_(
            pc.greater_equal(ts, pa.scalar(start.value if start is not None else 0, pa.uint64())),
            pc.less_equal(ts, pa.scalar(end.value if end is not None else 2**63 - 1, pa.uint64())),
        )
        table = table.filter(mask)
    table = table.sort_by("ts_event")
    index = pd.to_datetime(table["ts_event"].to_numpy().astype("int64"), unit="ns", utc=True)
    frame = pd.DataFrame({c: _fixed_to_float(table[c]) for c in columns}, index=index)
    frame.index.name = "time"
    return frame
