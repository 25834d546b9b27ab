"""Market data: the ParquetDataCatalog, its sample contents, instruments and queries."""

from quantdesk.catalog.queries import bars_frame, list_instruments, load_bars, load_instrument
from quantdesk.catalog.sample import build_sample_catalog
from quantdesk.catalog.store import catalog_root, open_catalog, verify

__all__ = [
    "bars_frame", "build_sample_catalog", "catalog_root", "list_instruments", "load_bars", "load_instrument", "open_catalog",
    "verify",
]
