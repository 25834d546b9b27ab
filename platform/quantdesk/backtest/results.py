"""The stored result of one backtest, keyed by its spec's content hash under ``<catalog>/backtests/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from quantdesk.config.backtest import BacktestSpec
from quantdesk.errors import QuantDeskError
from quantdesk.storage import staged_folder

TABLES = ("orders", "fills", "positions")


@dataclass(frozen=True)
class BacktestResult:
    """What one backtest produced.

    Attributes
    ----------
    spec : BacktestSpec
        The run's config; ``spec.id`` is the run id.
    summary : dict
        Headline statistics (see :func:`quantdesk.backtest.statistics.summarize`).
    equity : pandas.Series
        Mark-to-market equity at every bar close.
    orders, fills, positions : pandas.DataFrame
        Nautilus's reports, one row per order, fill and position.
    """

    spec: BacktestSpec
    summary: dict[str, Any]
    equity: pd.Series
    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame

    @property
    def run_id(self) -> str:
        """Return the run id (the spec's content hash)."""
        return self.spec.id


def runs_root(catalog_root: Path) -> Path:
    """Return the folder holding stored runs."""
    return catalog_root / "backtests"


def store_result(catalog_root: Path, result: BacktestResult) -> Path:
    """Write ``result`` atomically under ``<catalog>/backtests/<run id>/``."""
    final = runs_root(catalog_root) / result.run_id
    with staged_folder(final) as staging:
        (staging / "spec.json").write_bytes(result.spec.json())
        summary = {**result.summary, "run_id": result.run_id, "created": datetime.now(UTC).isoformat()}
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        result.equity.to_frame("equity").to_parquet(staging / "equity.parquet")
        for name in TABLES:
            getattr(result, name).to_parquet(staging / f"{name}.parquet", index=False)
    return final


def load_result(catalog_root: Path, run_id: str) -> BacktestResult | None:
    """Return the stored run ``run_id`` (a full id or a unique prefix), or None when absent."""
    folder = _find(catalog_root, run_id)
    if folder is None:
        return None
    try:
        spec = BacktestSpec.parse((folder / "spec.json").read_bytes())
        summary = json.loads((folder / "summary.json").read_text())
        equity = pd.read_parquet(folder / "equity.parquet")["equity"]
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
    except Exception as error:
        raise QuantDeskError(
            f"Stored run {folder.name[:12]} is damaged ({error}): delete {folder} and run the spec again"
        ) from None
    return BacktestResult(spec=spec, summary=summary, equity=equity, **tables)


def stored_summary(catalog_root: Path, run_id: str) -> dict[str, Any] | None:
    """Return the summary of the stored run ``run_id`` (exact id) without reading its tables; None when absent."""
    path = runs_root(catalog_root) / run_id / "summary.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # damaged: treated as not run, so running it again replaces it


def _find(catalog_root: Path, run_id: str) -> Path | None:
    root = runs_root(catalog_root)
    if not run_id or not root.is_dir():
        return None
    exact = root / run_id
    if exact.is_dir():
        return exact
    matches = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(run_id) and not p.name.startswith(".")]
    if len(matches) > 1:
        raise QuantDeskError(f"Run id prefix {run_id!r} matches {len(matches)} runs: give more characters")
    return matches[0] if matches else None


def list_runs(catalog_root: Path) -> pd.DataFrame:
    """Return one row per stored run, newest first, with its headline numbers."""
    rows = []
    root = runs_root(catalog_root)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not (folder / "summary.json").is_file():
            continue
        try:
            summary = json.loads((folder / "summary.json").read_text())
            spec = json.loads((folder / "spec.json").read_text())
        except (OSError, ValueError):
            continue  # a damaged run is reported when opened, not while listing
        rows.append(
            {
                "run_id": folder.name,
                "strategy": spec["strategy"].rsplit(":", 1)[-1],
                "instruments": ", ".join(spec["instrument_ids"]),
                "bar_spec": spec["bar_spec"],
                "start": summary.get("first_bar"),
                "end": summary.get("last_bar"),
                "total_return": summary.get("total_return"),
                "sharpe": summary.get("sharpe"),
                "max_drawdown": summary.get("max_drawdown"),
                "round_trips": summary.get("round_trips"),
                "created": summary.get("created"),
            }
        )
    columns = ["run_id", "strategy", "instruments", "bar_spec", "start", "end", "total_return", "sharpe", "max_drawdown", "round_trips", "created"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("created", ascending=False, ignore_index=True)
