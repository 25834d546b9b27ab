"""Parameter sweeps: run every combination of a grid (or a random draw of it) and rank them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.config import StrategyConfig

from quantdesk.backtest.batch import Progress, RunOutcome, run_specs
from quantdesk.backtest.objectives import resolve_objective, score
from quantdesk.backtest.strategy_loading import resolve_strategy
from quantdesk.catalog.store import catalog_root
from quantdesk.config.sweep import SweepConfig
from quantdesk.errors import QuantDeskError
from quantdesk.storage import staged_folder

# Summary statistics shown beside the objective in every results table.
COLUMNS = ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "profit_factor", "round_trips", "win_rate"]


@dataclass(frozen=True)
class SweepResult:
    """A finished (or cancelled) sweep: one row per combination, best objective first.

    Attributes
    ----------
    config : SweepConfig
    table : pandas.DataFrame
        The varied parameters, ``objective``, the headline statistics, ``status``
        (finished / stored / failed / cancelled), ``error`` and ``run_id``.
    """

    config: SweepConfig
    table: pd.DataFrame

    @property
    def cancelled(self) -> bool:
        """Return whether some combinations did not run because the sweep was stopped."""
        return bool((self.table["status"] == "cancelled").any())

    def best(self, count: int = 1) -> pd.DataFrame:
        """Return the ``count`` rows with the highest objective."""
        return self.table.dropna(subset=["objective"]).head(count)


def check_parameters(config: SweepConfig) -> None:
    """Refuse grid parameters the strategy's config does not have, before anything runs."""
    _, config_class = resolve_strategy(config.base.strategy)
    own_fields = set(config_class.__struct_fields__) - set(StrategyConfig.__struct_fields__)
    for name in config.grid:
        if name not in own_fields:
            raise QuantDeskError(
                f"Sweep parameter {name!r} is not a field of {config_class.__name__}: "
                f"it has {', '.join(sorted(own_fields))}"
            )
    resolve_objective(config.objective)


def results_table(config: SweepConfig, outcomes: list[RunOutcome]) -> pd.DataFrame:
    """Return the ranked table of a sweep's outcomes."""
    objective = resolve_objective(config.objective)
    rows = []
    for outcome in outcomes:
        summary = outcome.summary or {}
        varied = {name: outcome.spec.parameters.get(name) for name in config.grid}
        rows.append(
            {
                **varied,
                "objective": score(objective, summary) if outcome.summary else None,
                **{column: summary.get(column) for column in COLUMNS},
                "status": outcome.status,
                "error": outcome.error,
                "run_id": outcome.run_id,
            }
        )
    table = pd.DataFrame(rows, columns=[*config.grid, "objective", *COLUMNS, "status", "error", "run_id"])
    # Typed columns even when every value is missing (no trades: no Sharpe), so tables concatenate cleanly.
    table[["objective", *COLUMNS]] = table[["objective", *COLUMNS]].astype("float64")
    table["error"] = table["error"].astype("string")
    return table.sort_values("objective", ascending=False, na_position="last", kind="stable", ignore_index=True)


def run_sweep(
    config: SweepConfig,
    catalog: str | Path | None = None,
    client: Any = None,
    progress: bool | Progress = True,
    stop: threading.Event | None = None,
) -> SweepResult:
    """Run every combination of ``config`` on Dask, store the ranked table, and return it.

    Runs stored by an earlier (possibly interrupted) sweep are read back, not rerun; a
    combination that fails is recorded with its error and the others go on.

    Parameters
    ----------
    config : SweepConfig
    catalog : str or Path, optional
        Catalog root; defaults to the configured one.
    client : distributed.Client, optional
        Defaults to the platform's (LocalCluster, or ``QUANTDESK_DASK_ADDRESS``).
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(done, total)``.
    stop : threading.Event, optional
        Set it to cancel the sweep; finished runs are kept and the table is stored.
    """
    config.check()
    check_parameters(config)
    root = catalog_root(catalog)
    outcomes = run_specs(config.specs(), root, client=client, progress=progress, stop=stop, description="sweep")
    result = SweepResult(config, results_table(config, outcomes))
    store_sweep(root, result)
    return result


def sweeps_root(root: Path) -> Path:
    """Return the folder holding stored sweeps."""
    return root / "sweeps"


def store_sweep(root: Path, result: SweepResult) -> Path:
    """Write the sweep's config and table atomically under ``<catalog>/sweeps/<sweep id>/``."""
    final = sweeps_root(root) / result.config.id
    with staged_folder(final) as staging:
        (staging / "config.json").write_bytes(result.config.json())
        result.table.to_parquet(staging / "results.parquet", index=False)
    return final


def load_sweep(root: str | Path | None, sweep_id: str) -> SweepResult | None:
    """Return the stored sweep ``sweep_id``, or None when it has not run."""
    folder = sweeps_root(catalog_root(root)) / sweep_id
    if not (folder / "results.parquet").is_file():
        return None
    config = SweepConfig.parse((folder / "config.json").read_bytes())
    return SweepResult(config, pd.read_parquet(folder / "results.parquet"))
