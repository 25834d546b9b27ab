"""Compute factor variants over a panel on Dask and write them to a Zarr store under the catalog root.

The computation is a lazy graph of blocks: one task computes ``factors_per_chunk`` variants
for ``assets_per_chunk`` assets over the whole period (factors look back in time, so time is
never split), which bounds each task's memory whatever the universe. Building the graph
computes nothing; :func:`run_factors` then writes it one factor block at a time into
``<catalog>/factors/<config id>/values.zarr`` (``time x asset x factor``, float32) and records
each finished block, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from quantdesk.catalog import catalog_root
from quantdesk.config.factors import FactorRunConfig
from quantdesk.errors import QuantDeskError
from quantdesk.factors.panel import INPUTS, load_panel
from quantdesk.factors.registry import Variant, get_factor

VALUES = "values.zarr"
PLAN = "plan.json"
DONE = "done.json"
# Values are stored as float32: factor values carry a few significant digits, and half the
# bytes halves the write and the memory of every read.
STORED_DTYPE = "float32"
# Rows of two assets that each variant is tried on before the run, so a broken factor is
# reported by name instead of failing a whole block on a worker.
TRIAL_ASSETS = 2

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FactorRun:
    """A finished (or stopped) factor run.

    Attributes
    ----------
    config : FactorRunConfig
    path : Path
        The run's folder under ``<catalog>/factors/``.
    values : xarray.DataArray
        ``time x asset x factor``, read lazily from the store.
    problems : list of str
        Everything left out, one message each: unknown factors, windows longer than the
        data, assets without bars, variants that raised, blocks that failed.
    complete : bool
        Whether every block was written (False after a stop or a failed block).
    """

    config: FactorRunConfig
    path: Path
    values: xr.DataArray
    problems: list[str]
    complete: bool


def factors_root(root: Path) -> Path:
    """Return the folder holding factor runs."""
    return root / "factors"


def plan_variants(config: FactorRunConfig, panel: xr.Dataset) -> tuple[list[Variant], list[str]]:
    """Return the variants to compute and a message per factor or variant left out.

    Unknown factors, grids naming parameters a factor lacks, windows longer than the data,
    missing external series and variants that raise on a two-asset trial are left out; the
    rest go ahead.
    """
    from quantdesk.factors.registry import registry

    selection = config.factors or {name: None for name in registry()}
    variants, problems = [], []
    for name, grid in selection.items():
        try:
            variants.extend(get_factor(name).variants(grid))
        except QuantDeskError as error:
            problems.append(str(error))
    days = panel.sizes["time"]
    trial = {name: values[:, :TRIAL_ASSETS] if values.ndim == 2 else values for name, values in _arrays(panel).items()}
    kept = []
    for variant in dict.fromkeys(variants):
        if variant.lookback > days:
            problems.append(f"{variant.label}: a {variant.lookback}-bar window is longer than the {days} bars of data (left out)")
            continue
        try:
            _check_output(variant, variant.compute(trial), trial["close"].shape)
        except QuantDeskError as error:
            problems.append(f"{variant.label}: {error} (left out)")
            continue
        except Exception as error:  # a user factor's bug: name it, compute the others
            problems.append(f"{variant.label} raised {type(error).__name__}: {error} (left out)")
            continue
        kept.append(variant)
    return kept, problems


def _check_output(variant: Variant, output: Any, shape: tuple[int, int]) -> None:
    if not isinstance(output, np.ndarray) or output.shape != shape:
        got = output.shape if isinstance(output, np.ndarray) else type(output).__name__
        raise QuantDeskError(f"returned {got}, not an array of shape (time, asset) = {shape}")


def _arrays(panel: xr.Dataset) -> dict[str, np.ndarray]:
    return {name: np.ascontiguousarray(panel[name].to_numpy(), dtype="float64") for name in panel.data_vars}


def _compute_block(inputs: np.ndarray, series: dict[str, np.ndarray], variants: Sequence[Variant]) -> np.ndarray:
    """Return ``(time, asset, factor)`` values of ``variants`` on one block of assets."""
    data = {name: np.ascontiguousarray(inputs[k]) for k, name in enumerate(INPUTS)}
    data.update(series)
    out = np.empty(inputs.shape[1:] + (len(variants),), dtype=STORED_DTYPE)
    for k, variant in enumerate(variants):
        out[:, :, k] = variant.compute(data)
    return out


def build_values(
    panel: xr.Dataset, variants: Sequence[Variant], assets_per_chunk: int = 100, factors_per_chunk: int = 32
) -> xr.DataArray:
    """Return the lazy ``time x asset x factor`` array of ``variants`` on ``panel``; nothing is computed.

    Each block of assets travels once to the cluster and feeds every factor block.
    """
    if not variants:
        raise QuantDeskError("No factor variant to compute: every factor asked for was left out (see the problems)")
    days, assets = panel.sizes["time"], panel.sizes["asset"]
    stacked = np.stack([panel[name].to_numpy().astype("float64") for name in INPUTS])
    series = {name: panel[name].to_numpy().astype("float64") for name in panel.data_vars if name not in INPUTS}
    series_node = dask.delayed(series, traverse=False)
    asset_edges = list(range(0, assets, assets_per_chunk)) + [assets]
    factor_edges = list(range(0, len(variants), factors_per_chunk)) + [len(variants)]
    asset_nodes = [dask.delayed(np.ascontiguousarray(stacked[:, :, a:b])) for a, b in zip(asset_edges, asset_edges[1:])]
    rows = []
    for (a, b), inputs in zip(zip(asset_edges, asset_edges[1:]), asset_nodes):
        row = []
        for f, g in zip(factor_edges, factor_edges[1:]):
            block = dask.delayed(_compute_block, pure=True)(inputs, series_node, tuple(variants[f:g]))
            row.append(da.from_delayed(block, shape=(days, b - a, g - f), dtype=STORED_DTYPE))
        rows.append(row)
    values = da.block([rows])  # time (one block) x asset blocks x factor blocks
    return xr.DataArray(
        values,
        dims=("time", "asset", "factor"),
        coords={"time": panel["time"], "asset": panel["asset"], "factor": [v.label for v in variants]},
        name="values",
    )


def _write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        json.dump(payload, stream, indent=1)
    os.replace(temporary, path)


def _start_store(path: Path, values: xr.DataArray, config: FactorRunConfig, problems: list[str]) -> set[int]:
    """Create the store (schema only) unless an earlier run of the same plan left one; return the blocks done."""
    plan = {"config": json.loads(config.json()), "factors": list(values["factor"].values), "problems": problems,
            "assets": [str(a) for a in values["asset"].values], "days": int(values.sizes["time"])}
    plan_file, done_file = path / PLAN, path / DONE
    if plan_file.exists() and done_file.exists():
        earlier = json.loads(plan_file.read_text())
        if {k: earlier.get(k) for k in ("factors", "assets", "days")} == {k: plan[k] for k in ("factors", "assets", "days")}:
            return set(json.loads(done_file.read_text()))
    shutil.rmtree(path, ignore_errors=True)  # a different plan (the catalog changed): start over
    path.mkdir(parents=True)
    xr.Dataset({"values": values}).to_zarr(path / VALUES, mode="w", compute=False, consolidated=False)
    _write_json(plan_file, plan)
    _write_json(done_file, [])
    return set()


def _reporter(progress: bool | Progress, total: int) -> Callable[[int | None], None]:
    if callable(progress):
        return lambda done: progress(done, total) if done is not None else None
    if not progress:
        return lambda done: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="factor blocks", unit="block", disable=None)

    def report(done: int | None) -> None:
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return report


def run_factors(
    config: FactorRunConfig,
    catalog: str | Path | None = None,
    client: Any = None,
    progress: bool | Progress = True,
    stop: threading.Event | None = None,
    panel: xr.Dataset | None = None,
) -> FactorRun:
    """Compute ``config``'s factors on the Dask cluster into the factor store; resume an interrupted run.

    Parameters
    ----------
    config : FactorRunConfig
    catalog : str or Path, optional
        Catalog root (market data in, factor store out); defaults to the configured one.
    client : distributed.Client, optional
        Defaults to :func:`quantdesk.compute.get_client`.
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(done, total)`` factor blocks.
    stop : threading.Event, optional
        Set it to stop after the blocks being written; a later call resumes.
    panel : xarray.Dataset, optional
        Use this panel instead of reading ``config.universe`` from the catalog (benchmarks).
    """
    from distributed import as_completed

    from quantdesk.compute import get_client

    config.check()
    root = catalog_root(catalog)
    problems: list[str] = []
    if panel is None:
        loaded = load_panel(config.universe, config.start, config.end, root, config.bar_spec, config.market)
        panel, problems = loaded.panel, list(loaded.problems)
    variants, left_out = plan_variants(config, panel)
    problems += left_out
    values = build_values(panel, variants, config.assets_per_chunk, config.factors_per_chunk)
    path = factors_root(root) / config.id[:16]
    done = _start_store(path, values, config, problems)
    edges = list(range(0, len(variants), config.factors_per_chunk)) + [len(variants)]
    blocks = [(k, slice(a, b)) for k, (a, b) in enumerate(zip(edges, edges[1:]))]
    report = _reporter(progress, len(blocks))
    report(len(done))
    client = client or get_client()
    pending = [(k, region) for k, region in blocks if k not in done]
    delayed_writes = [
        xr.Dataset({"values": values.isel(factor=region)}).drop_vars(["time", "asset", "factor"])
        .to_zarr(path / VALUES, region={"factor": region}, compute=False, consolidated=False)
        for _, region in pending
    ]
    # One submission, so the blocks of assets the writes share travel to the cluster once.
    writes = dict(zip(client.compute(delayed_writes), (k for k, _ in pending)))
    failed = []
    try:
        for future in as_completed(list(writes)):
            if stop is not None and stop.is_set():
                break
            try:
                future.result()
            except Exception as error:  # one block's failure leaves the others written
                failed.append(f"factor block {writes[future]} failed: {type(error).__name__}: {error}")
                continue
            done.add(writes[future])
            _write_json(path / DONE, sorted(done))
            report(len(done))
    except KeyboardInterrupt:
        pass  # Ctrl-C: the finished blocks are recorded; the next call resumes
    finally:
        client.cancel([future for future in writes if not future.done()])
        report(None)
    stored = xr.open_zarr(path / VALUES, consolidated=False)["values"]
    return FactorRun(config, path, stored, problems + failed, complete=len(done) == len(blocks))
