"""Compute factor variants over a panel on Dask, write them to a Zarr store under the catalog root, and score them.

The work is cut into blocks: ``factors_per_chunk`` variants over ``assets_per_chunk`` assets for
the whole period (factors look back in time, so time is never split), which bounds a block's
memory whatever the universe. :func:`build_values` returns them as a lazy graph (building it
computes nothing). :func:`run_factors` runs one task per factor block: it computes the block's
asset blocks, writes them into ``<catalog>/factors/<config id>/values.zarr`` (``time x asset x
factor``, float32) and scores the block against forward returns there, so values are never
read back and only the small scores travel. Each stored block is recorded, so an interrupted
run resumes where it stopped.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
import zarr

from quantdesk.catalog import catalog_root
from quantdesk.config.factors import FactorRunConfig
from quantdesk.errors import QuantDeskError
from quantdesk.factors.panel import INPUTS, arrays, load_panel
from quantdesk.factors.registry import Variant, get_factor
from quantdesk.progress import Progress, progress_reporter
from quantdesk.storage import staged_file, staged_folder, write_atomically

VALUES = "values.zarr"
PLAN = "plan.json"
DONE = "done.json"
SCORES = "scores.zarr"
LEADERBOARD = "leaderboard.parquet"
REGIMES = "regimes.parquet"
# Values are stored as float32: factor values carry a few significant digits, and half the
# bytes halves the write and the memory of every read.
STORED_DTYPE = "float32"
# Rows of two assets that each variant is tried on before the run, so a broken factor is
# reported by name instead of failing a whole block on a worker.
TRIAL_ASSETS = 2
# Assets a factor is computed on at once: a factor's inputs and temporaries over 128 columns
# mostly stay in a core's cache (2 MiB L2 here), where 500 columns stream through memory: up to
# a third less CPU time on 500 x 2,520, measured in one process.
CACHE_ASSETS = 128


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
    scores : xarray.Dataset or None
        :func:`quantdesk.factors.scoring.score` of the values (None until complete).
    leaderboard : pandas.DataFrame or None
        The factors ranked by rank-IC IR at the first horizon.
    regimes : pandas.DataFrame or None
        The market's ``volatility`` and ``trend`` regime per date, to split scores by.
    """

    config: FactorRunConfig
    path: Path
    values: xr.DataArray
    problems: list[str]
    complete: bool
    scores: xr.Dataset | None = None
    leaderboard: pd.DataFrame | None = None
    regimes: pd.DataFrame | None = None


def factors_root(root: Path) -> Path:
    """Return the folder holding factor runs."""
    return root / "factors"


def plan_variants(config: FactorRunConfig, panel: xr.Dataset) -> tuple[list[Variant], list[str]]:
    """Return the variants to compute and a message per factor or variant left out.

    Unknown factors, grids naming parameters a factor lacks, windows longer than the data,
    missing external series and variants that raise on a two-asset trial are left out; the
    rest go ahead.
    """
    kept, problems, _ = _trial_variants(config, panel)
    return kept, problems


def _trial_variants(config: FactorRunConfig, panel: xr.Dataset) -> tuple[list[Variant], list[str], list[float]]:
    """:func:`plan_variants`, plus the seconds each kept variant took on its trial (a guide to its cost)."""
    from quantdesk.factors.registry import registry

    selection = config.factors or {name: None for name in registry()}
    variants, problems = [], []
    for name, grid in selection.items():
        try:
            variants.extend(get_factor(name).variants(grid))
        except QuantDeskError as error:
            problems.append(str(error))
    days = panel.sizes["time"]
    trial = {name: values[:, :TRIAL_ASSETS] if values.ndim == 2 else values for name, values in arrays(panel).items()}
    kept, costs = [], []
    for variant in dict.fromkeys(variants):
        if variant.lookback > days:
            problems.append(f"{variant.label}: a {variant.lookback}-bar window is longer than the {days} bars of data (left out)")
            continue
        try:
            started = time.perf_counter()
            _check_output(variant, variant.compute(trial), trial["close"].shape)
            seconds = time.perf_counter() - started
        except QuantDeskError as error:
            problems.append(f"{variant.label}: {error} (left out)")
            continue
        except Exception as error:  # a user factor's bug: name it, compute the others
            problems.append(f"{variant.label} raised {type(error).__name__}: {error} (left out)")
            continue
        kept.append(variant)
        costs.append(seconds)
    return kept, problems, costs


def _check_output(variant: Variant, output: Any, shape: tuple[int, int]) -> None:
    if not isinstance(output, np.ndarray) or output.shape != shape:
        got = output.shape if isinstance(output, np.ndarray) else type(output).__name__
        raise QuantDeskError(f"returned {got}, not an array of shape (time, asset) = {shape}")


def _compute_block(inputs: np.ndarray, series: dict[str, np.ndarray], variants: Sequence[Variant]) -> np.ndarray:
    """Return ``(factor, time, asset)`` values of ``variants`` on one block of assets.

    Factor-major, the order factors are computed in: the store keeps one chunk per factor and
    the scoring reads factor by factor, so no step needs a transposed copy (0.3 s a block).
    The variants run on :data:`CACHE_ASSETS` assets at a time (see there).
    """
    assets = inputs.shape[2]
    by_factor = np.empty((len(variants),) + inputs.shape[1:], dtype=STORED_DTYPE)
    for start in range(0, assets, CACHE_ASSETS):
        stop = min(assets, start + CACHE_ASSETS)
        data = {name: np.ascontiguousarray(inputs[k, :, start:stop]) for k, name in enumerate(INPUTS)}
        data.update(series)
        for k, variant in enumerate(variants):
            by_factor[k, :, start:stop] = variant.compute(data)
    return by_factor


def _asset_blocks(panel: xr.Dataset, assets_per_chunk: int) -> tuple[list[int], list[np.ndarray], dict[str, np.ndarray]]:
    """Return the asset edges, the stacked ``(input, time, asset)`` inputs of each asset block, and the external series."""
    assets = panel.sizes["asset"]
    stacked = np.stack([panel[name].to_numpy().astype("float64") for name in INPUTS])
    series = {name: panel[name].to_numpy().astype("float64") for name in panel.data_vars if name not in INPUTS}
    edges = list(range(0, assets, assets_per_chunk)) + [assets]
    return edges, [np.ascontiguousarray(stacked[:, :, a:b]) for a, b in zip(edges, edges[1:])], series


def _labelled(by_factor: Any, panel: xr.Dataset, variants: Sequence[Variant]) -> xr.DataArray:
    """Return ``(factor, time, asset)`` array data as the ``time x asset x factor`` values DataArray (a view, no copy)."""
    return xr.DataArray(
        by_factor,
        dims=("factor", "time", "asset"),
        coords={"time": panel["time"], "asset": panel["asset"], "factor": [v.label for v in variants]},
        name="values",
    ).transpose("time", "asset", "factor")


def build_values(
    panel: xr.Dataset,
    variants: Sequence[Variant],
    assets_per_chunk: int = 500,
    factors_per_chunk: int = 32,
    client: Any = None,
) -> xr.DataArray:
    """Return the lazy ``time x asset x factor`` array of ``variants`` on ``panel``; nothing is computed.

    Each block of assets travels once to the cluster and feeds every factor block; with a
    ``client`` the blocks are scattered to the workers first, which keeps the graph small.
    (:func:`run_factors` computes the same blocks, each fused with its write and scoring.)
    """
    _require_variants(variants)
    days = panel.sizes["time"]
    asset_edges, asset_blocks, series = _asset_blocks(panel, assets_per_chunk)
    factor_edges = list(range(0, len(variants), factors_per_chunk)) + [len(variants)]
    if client is not None:
        # Fresh keys (hash=False): rescattering equal data under a key being released can hang.
        # One datum (a list of one): scattering a dict would key each series by its name.
        [series_node] = client.scatter([series], broadcast=True, hash=False)
        asset_nodes = client.scatter(asset_blocks, hash=False)
    else:
        series_node = dask.delayed(series, traverse=False)
        asset_nodes = [dask.delayed(block) for block in asset_blocks]
    layers = []
    for f, g in zip(factor_edges, factor_edges[1:]):
        row = []
        for (a, b), inputs in zip(zip(asset_edges, asset_edges[1:]), asset_nodes):
            block = dask.delayed(_compute_block, pure=True)(inputs, series_node, tuple(variants[f:g]))
            row.append(da.from_delayed(block, shape=(g - f, days, b - a), dtype=STORED_DTYPE))
        layers.append([row])
    return _labelled(da.block(layers), panel, variants)  # factor blocks x time (one block) x asset blocks


def _require_variants(variants: Sequence[Variant]) -> None:
    if not variants:
        raise QuantDeskError("No factor variant to compute: every factor asked for was left out (see the problems)")


def _write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the new one."""
    write_atomically(path, json.dumps(payload, indent=1))


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
    # Uncompressed: float32 factor values barely compress, and compressing them cost a third of the write.
    # One chunk per factor (and asset block): a factor-major block is written without a transposed
    # copy, and a reader of a few factors reads only theirs.
    chunks = (values.sizes["time"], values.chunks[1][0], 1)
    xr.Dataset({"values": values}).to_zarr(path / VALUES, mode="w", compute=False, consolidated=False,
                                           encoding={"values": {"compressors": None, "chunks": chunks}})
    _write_json(plan_file, plan)
    _write_json(done_file, [])
    return set()


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
    variants, left_out, trial_seconds = _trial_variants(config, panel)
    problems += left_out
    _require_variants(variants)
    client = client or get_client()
    days, assets = panel.sizes["time"], panel.sizes["asset"]
    layout = _labelled(da.empty((len(variants), days, assets), chunks=(1, days, config.assets_per_chunk),
                                dtype=STORED_DTYPE), panel, variants)  # the store's shape and labels; never computed
    path = factors_root(root) / config.id[:16]
    done = _start_store(path, layout, config, problems)
    edges = list(range(0, len(variants), config.factors_per_chunk)) + [len(variants)]
    blocks = [(k, slice(a, b)) for k, (a, b) in enumerate(zip(edges, edges[1:]))]
    scoring = None if (path / SCORES).exists() else _scoring_plan(path, config, layout, panel["close"])
    forward = client.compute(scoring.ranked_forward()) if scoring is not None else None
    # The market's regimes need only the market series: worked out on the cluster while the
    # blocks are, rather than after the last of them.
    regimes = client.submit(market_regimes, panel["market"].to_series(), pure=False) if scoring is not None else None
    _, asset_blocks, series = _asset_blocks(panel, config.assets_per_chunk)
    # Every worker gets every input once (fresh keys: rescattering equal data under a key being
    # released can hang); a list of one keeps the series dict one datum.
    [series_node] = client.scatter([series], broadcast=True, hash=False)
    [inputs_node] = client.scatter([asset_blocks], broadcast=True, hash=False)
    quantiles, min_pairs = (scoring.quantiles, scoring.min_pairs) if scoring is not None else (0, 0)
    # One task per factor block computes it, writes it and scores it where its values are: a
    # worker never waits for a block another one holds. The costliest blocks (by their variants'
    # trial time) go first, so no long block is left for the end while the other worker idles.
    cost = {k: sum(trial_seconds[region]) for k, region in blocks}
    jobs = {
        # a block stored by an interrupted run is read back to be scored
        client.submit(_block_task, path / VALUES, None if k in done else tuple(variants[region]), inputs_node,
                      series_node, region, forward, quantiles, min_pairs, pure=False, priority=rank): k
        for rank, (k, region) in enumerate(sorted(blocks, key=lambda block: cost[block[0]]))
        if k not in done or scoring is not None
    }
    report = progress_reporter(progress, len(blocks), "factor blocks", unit="block")
    report(len(done))
    parts: dict[int, dict] = {}
    failed = []
    try:
        for future in as_completed(list(jobs)):
            if stop is not None and stop.is_set():
                break
            k = jobs[future]
            try:
                scored = future.result()
            except Exception as error:  # one block's failure leaves the others stored
                failed.append(f"factor block {k} failed: {type(error).__name__}: {error}")
                continue
            if k not in done:
                done.add(k)
                _write_json(path / DONE, sorted(done))
                report(len(done))
            if scored is not None:
                parts[k] = scored
    except KeyboardInterrupt:
        pass  # Ctrl-C: the finished blocks are recorded; the next call resumes
    finally:
        client.cancel([future for future in jobs if not future.done()])
        report(None)
    stored = xr.open_zarr(path / VALUES, consolidated=False)["values"]
    complete = len(done) == len(blocks)
    if complete and scoring is not None and len(parts) == len(blocks):
        _store_scores(path, scoring.finish([parts[k] for k, _ in blocks]), regimes.result())
    if not complete or failed:
        return FactorRun(config, path, stored, problems + failed, complete)
    return open_factor_run(path)


def _block_task(store: Path, variants: tuple[Variant, ...] | None, asset_blocks: list[np.ndarray],
                series: dict[str, np.ndarray], region: slice, forward: Any, quantiles: int,
                min_pairs: int) -> dict | None:
    """Compute one factor block on every asset block, write it into the store and score it.

    ``variants`` None: the block was stored by an earlier, interrupted run; it is read back to be
    scored. ``forward`` None: the run is not scored. Returns :func:`score_block`'s results or None.
    """
    from quantdesk.factors.scoring import score_block

    array = zarr.open_array(store / "values", mode="r+")  # xarray keeps the variable as the array "values"
    if variants is None:
        block = array[:, :, region].transpose(2, 0, 1)
    else:
        parts = [_compute_block(inputs, series, variants) for inputs in asset_blocks]  # (factor, time, asset) each
        block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)
        array[:, :, region] = block.transpose(1, 2, 0)  # whole stored chunks: each chunk file is written once, never read
    if forward is None:
        return None
    return score_block(block, forward, quantiles, min_pairs=min_pairs, factor_major=True)


def _scoring_plan(path: Path, config: FactorRunConfig, values: xr.DataArray, close: xr.DataArray) -> Any:
    """Return the run's ScoringPlan, or None when the universe is too small for cross-sectional scores (noted)."""
    from quantdesk.factors.scoring import DEFAULT_MIN_PAIRS, ScoringPlan

    assets = values.sizes["asset"]
    if assets < DEFAULT_MIN_PAIRS:
        _note(path, f"not scored: cross-sectional scores need at least {DEFAULT_MIN_PAIRS} assets, the run has {assets}")
        return None
    quantiles = min(config.quantiles, assets)
    if quantiles < config.quantiles:
        _note(path, f"quantiles={config.quantiles} with {assets} assets: scored with {quantiles} buckets")
    return ScoringPlan(values, close, config.horizons, quantiles)


def market_regimes(market: pd.Series) -> pd.DataFrame:
    """Return the ``volatility`` and ``trend`` regime of each date of the ``market`` returns (NaN dates dropped)."""
    from quantdesk.factors.regimes import trend_regime, volatility_regime

    market = market.dropna()
    return pd.DataFrame({
        "volatility": volatility_regime(market),
        "trend": trend_regime(100.0 * (1.0 + market).cumprod()),
    })


def _store_scores(path: Path, scores: xr.Dataset, regimes: pd.DataFrame) -> None:
    """Store scores, leaderboard and the market's regimes beside the values."""
    from quantdesk.factors.scoring import leaderboard, save_scores

    _write_frame(path / REGIMES, regimes)
    _write_frame(path / LEADERBOARD, leaderboard(scores))
    with staged_folder(path / SCORES) as staging:  # last: its presence marks a scored run
        save_scores(scores, staging)


def _note(path: Path, problem: str) -> None:
    """Add ``problem`` to the run's stored problems (once)."""
    plan = json.loads((path / PLAN).read_text())
    if problem not in plan["problems"]:
        plan["problems"].append(problem)
        _write_json(path / PLAN, plan)


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    with staged_file(path) as temporary:
        frame.to_parquet(temporary)


def open_factor_run(path: str | Path) -> FactorRun:
    """Read a stored factor run (values lazily; scores, leaderboard and regimes when scored).

    Raises
    ------
    QuantDeskError
        When ``path`` holds no factor run or its files are damaged.
    """
    from quantdesk.factors.scoring import load_scores

    path = Path(path)
    try:
        plan = json.loads((path / PLAN).read_text())
        done = json.loads((path / DONE).read_text())
        values = xr.open_zarr(path / VALUES, consolidated=False)["values"]
    except (OSError, ValueError, KeyError) as error:
        raise QuantDeskError(f"No readable factor run at {path} ({error}): run the factor config again") from None
    config = FactorRunConfig.parse(json.dumps(plan["config"]))
    blocks = -(-len(plan["factors"]) // config.factors_per_chunk)
    scored = (path / SCORES).exists()
    return FactorRun(
        config, path, values, plan["problems"], complete=len(done) == blocks,
        scores=load_scores(path / SCORES) if scored else None,
        leaderboard=pd.read_parquet(path / LEADERBOARD) if scored else None,
        regimes=pd.read_parquet(path / REGIMES) if scored else None,
    )


def list_factor_runs(catalog: str | Path | None = None) -> pd.DataFrame:
    """Return one row per stored factor run: id, factors, assets, days, scored."""
    rows = []
    folder = factors_root(catalog_root(catalog))
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if (path / PLAN).exists():
            plan = json.loads((path / PLAN).read_text())
            rows.append({"run_id": path.name, "factors": len(plan["factors"]), "assets": len(plan["assets"]),
                         "days": plan["days"], "scored": (path / SCORES).exists(),
                         "universe": ", ".join(plan["config"]["universe"][:5])})
    return pd.DataFrame(rows, columns=["run_id", "factors", "assets", "days", "scored", "universe"])
