"""Walk-forward optimization: pick parameters on each in-sample window, trade them on the next one."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from quantdesk.backtest.batch import Progress, run_specs
from quantdesk.backtest.results import load_result
from quantdesk.backtest.sweep import COLUMNS, check_parameters, results_table
from quantdesk.catalog.store import catalog_root
from quantdesk.config.backtest import BacktestSpec
from quantdesk.config.sweep import WalkForwardConfig
from quantdesk.storage import staged_folder

ONE_NANOSECOND = pd.Timedelta(1, unit="ns")


@dataclass(frozen=True)
class WalkForwardResult:
    """The windows, the parameters chosen in each, and the stitched out-of-sample equity.

    Attributes
    ----------
    config : WalkForwardConfig
    windows : pandas.DataFrame
        One row per window: its dates, the chosen parameters, the in-sample objective of
        the choice, and the out-of-sample run's statistics, ``status`` and ``run_id``.
    in_sample : pandas.DataFrame
        Every in-sample run, ranked within its ``window``.
    equity : pandas.Series
        Out-of-sample equity, window after window, compounded from the starting capital.
    """

    config: WalkForwardConfig
    windows: pd.DataFrame
    in_sample: pd.DataFrame
    equity: pd.Series


def _with_period(spec: BacktestSpec, start: pd.Timestamp, end: pd.Timestamp) -> BacktestSpec:
    # ``end`` is an exclusive instant; specs take inclusive ends.
    return msgspec.structs.replace(spec, start=start.isoformat(), end=(end - ONE_NANOSECOND).isoformat())


def run_walk_forward(
    config: WalkForwardConfig,
    catalog: str | Path | None = None,
    client: Any = None,
    progress: bool | Progress = True,
    stop: threading.Event | None = None,
) -> WalkForwardResult:
    """Run a walk-forward optimization on Dask and store it under ``<catalog>/walk_forward/<id>/``.

    All in-sample runs of all windows go to the cluster as one batch, then the
    out-of-sample runs as a second. Each out-of-sample run starts flat with fresh
    indicators, so a strategy's warm-up bars are spent inside every trading window.
    In-sample runs never see a bar at or after their window's out-of-sample start.
    """
    config.check()
    sweep = config.sweep
    check_parameters(sweep)
    root = catalog_root(catalog)
    windows = config.windows()
    candidates = sweep.specs()
    in_specs = [_with_period(spec, in_start, in_end) for in_start, in_end, _, _ in windows for spec in candidates]
    in_progress, out_progress = _two_stages(progress, len(in_specs), len(windows))
    outcomes = run_specs(in_specs, root, client=client, progress=in_progress, stop=stop, description="in-sample")

    rows, ranked, out_specs = [], [], []
    for number, (in_start, in_end, out_start, out_end) in enumerate(windows):
        mine = outcomes[number * len(candidates):(number + 1) * len(candidates)]
        table = results_table(sweep, mine).assign(window=number)
        ranked.append(table)
        row: dict[str, Any] = {"window": number, "in_start": in_start, "in_end": in_end,
                               "out_start": out_start, "out_end": out_end}
        best = table.dropna(subset=["objective"]).head(1)
        if best.empty:
            rows.append({**row, "status": "no in-sample run had a defined objective"})
            continue
        chosen = {name: _plain(best.iloc[0][name]) for name in sweep.grid}
        out_spec = _with_period(
            msgspec.structs.replace(sweep.base, parameters={**sweep.base.parameters, **chosen}), out_start, out_end
        )
        out_specs.append((number, out_spec))
        rows.append({**row, **chosen, "in_sample_objective": best.iloc[0]["objective"], "run_id": out_spec.id})

    out_outcomes = run_specs(
        [spec for _, spec in out_specs], root, client=client, progress=out_progress, stop=stop, description="out-of-sample"
    ) if out_specs and not (stop and stop.is_set()) else []
    by_window = {number: outcome for (number, _), outcome in zip(out_specs, out_outcomes)}
    curves = []
    for row in rows:
        outcome = by_window.get(row["window"])
        if outcome is None:
            row.setdefault("status", "cancelled")
            continue
        summary = outcome.summary or {}
        row.update({f"out_{column}": summary.get(column) for column in COLUMNS})
        row["status"], row["error"] = outcome.status, outcome.error
        if outcome.summary:
            curves.append(load_result(root, outcome.run_id).equity)
    table = pd.DataFrame(rows)
    result = WalkForwardResult(
        config, table, pd.concat(ranked, ignore_index=True), stitch(curves, sweep.base.starting_capital)
    )
    _store(root, result)
    return result


def _two_stages(progress: bool | Progress, first: int, second: int) -> tuple[bool | Progress, bool | Progress]:
    """Report both stages as one count (a callback sees 0 .. first + second); tqdm shows two bars."""
    if not callable(progress):
        return progress, progress
    return (lambda done, _: progress(done, first + second)), (lambda done, _: progress(first + done, first + second))


def stitch(curves: list[pd.Series], starting_capital: float) -> pd.Series:
    """Chain equity curves by their returns: each window starts where the previous one ended.

    Every curve is a run that started with ``starting_capital``, so its first mark's return
    is measured against that, not dropped.
    """
    if not curves:
        return pd.Series(dtype="float64", name="equity")
    growth = pd.concat(
        [curve / np.concatenate([[starting_capital], curve.to_numpy()[:-1]]) for curve in curves]
    )
    return (starting_capital * growth.cumprod()).rename("equity")


def _plain(value: Any) -> Any:
    """Turn NumPy scalars from the table back into the plain values a spec holds."""
    return value.item() if isinstance(value, np.generic) else value


def _store(root: Path, result: WalkForwardResult) -> Path:
    final = root / "walk_forward" / result.config.id
    with staged_folder(final) as staging:
        (staging / "config.json").write_bytes(result.config.json())
        result.windows.to_parquet(staging / "windows.parquet", index=False)
        result.in_sample.to_parquet(staging / "in_sample.parquet", index=False)
        result.equity.to_frame().to_parquet(staging / "equity.parquet")
    return final
