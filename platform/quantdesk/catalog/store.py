"""Open the platform's ParquetDataCatalog, refusing half-written or corrupt ones."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quantdesk.catalog.manifest import Manifest, read_manifest
from quantdesk.config.settings import settings
from quantdesk.errors import QuantDeskError

REBUILD_HINT = "rebuild it with `quantdesk catalog sample --rebuild`"


def catalog_root(path: str | Path | None = None) -> Path:
    """Return the catalog root: ``path`` when given, else ``QUANTDESK_CATALOG``/the repository's ``catalog/``."""
    return Path(path).expanduser().absolute() if path is not None else settings().catalog_path


def bar_files(root: Path, bar_type: str) -> list[Path]:
    """Return the Parquet files holding ``bar_type`` under a catalog root."""
    return sorted((root / "data" / "bar" / bar_type).glob("*.parquet"))


def verify(root: Path) -> Manifest:
    """Check that the catalog under ``root`` is complete and readable, and return its manifest.

    Reads only Parquet footers, so it is cheap enough to run on every open.

    Raises
    ------
    QuantDeskError
        When the catalog is missing, was interrupted while being built, or a file is
        truncated, corrupt or has a different row count than the manifest records.
    """
    if not (root / "data").is_dir():
        raise QuantDeskError(
            f"No market data catalog at {root}: run `quantdesk catalog sample` to build the sample one, "
            "or point QUANTDESK_CATALOG at an existing catalog"
        )
    try:
        manifest = read_manifest(root)
    except (ValueError, KeyError, TypeError) as error:
        raise QuantDeskError(f"Catalog manifest at {root} is unreadable ({error}): {REBUILD_HINT}") from None
    if manifest is None:
        raise QuantDeskError(f"Catalog at {root} is incomplete (it has data but no manifest): {REBUILD_HINT}")
    for dataset in manifest.datasets:
        files = bar_files(root, dataset.bar_type)
        try:
            rows = sum(pq.read_metadata(f).num_rows for f in files)
        except Exception as error:  # pyarrow raises several types for damaged files
            raise QuantDeskError(f"Catalog file for {dataset.bar_type} is corrupt ({error}): {REBUILD_HINT}") from None
        if rows != dataset.rows:
            raise QuantDeskError(
                f"Catalog bars {dataset.bar_type} have {rows} rows but the manifest records {dataset.rows}: {REBUILD_HINT}"
            )
    return manifest


def open_catalog(path: str | Path | None = None) -> ParquetDataCatalog:
    """Open the platform catalog after checking it is complete.

    Parameters
    ----------
    path : str or Path, optional
        Catalog root; defaults to the configured one (``QUANTDESK_CATALOG``).

    Returns
    -------
    ParquetDataCatalog
    """
    root = catalog_root(path)
    verify(root)
    return ParquetDataCatalog(str(root))
