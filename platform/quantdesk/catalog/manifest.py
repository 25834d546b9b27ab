"""The catalog manifest: what each dataset is, where it came from, and how big it is.

The manifest is written last and atomically, so a catalog folder with Nautilus data
but no manifest was interrupted while being built. Its row counts let
:func:`quantdesk.catalog.store.open_catalog` detect truncated or corrupt files
without reading the data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from quantdesk.storage import write_atomically

MANIFEST_NAME = "quantdesk-manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Dataset:
    """One bar series in the catalog.

    Attributes
    ----------
    bar_type : str
        Nautilus bar type string, e.g. ``"AAPL.XNAS-1-DAY-LAST-EXTERNAL"``.
    rows : int
        Number of bars written.
    start, end : str
        ISO timestamps (UTC) of the first and last bar.
    source : str
        Where the numbers come from (package and module, or the generating model).
    synthetic : bool
        True when the bars are simulated rather than observed.
    """

    bar_type: str
    rows: int
    start: str
    end: str
    source: str
    synthetic: bool = False
    notes: str = ""


@dataclass(frozen=True)
class Manifest:
    """Everything the platform knows about a catalog's contents."""

    datasets: tuple[Dataset, ...]
    instruments: tuple[str, ...]
    version: int = MANIFEST_VERSION
    built_by: str = "quantdesk catalog sample"
    extra: dict = field(default_factory=dict)

    def dataset(self, bar_type: str) -> Dataset | None:
        """Return the dataset of ``bar_type``, or None when the catalog has no such bars."""
        return next((d for d in self.datasets if d.bar_type == bar_type), None)


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (temporary file, then rename)."""
    write_atomically(root / MANIFEST_NAME, json.dumps(asdict(manifest), indent=2))


def read_manifest(root: Path) -> Manifest | None:
    """Return the manifest under ``root``, or None when there is none.

    Raises
    ------
    ValueError
        When the file exists but is not a manifest this version can read.
    """
    path = root / MANIFEST_NAME
    if not path.exists():
        return None
    payload = json.loads(path.read_text())
    if payload.get("version") != MANIFEST_VERSION:
        raise ValueError(f"manifest version {payload.get('version')!r} is not {MANIFEST_VERSION}")
    return Manifest(
        datasets=tuple(Dataset(**d) for d in payload["datasets"]),
        instruments=tuple(payload["instruments"]),
        version=payload["version"],
        built_by=payload.get("built_by", ""),
        extra=payload.get("extra", {}),
    )
