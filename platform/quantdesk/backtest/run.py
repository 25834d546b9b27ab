"""Run one backtest spec on catalog data through Nautilus's BacktestNode."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pandas as pd
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
    ExecEngineConfig,
    ImportableActorConfig,
    ImportableStrategyConfig,
    LoggingConfig,
)
from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Currency
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quantdesk.backtest.extract import balances_table, fills_table, orders_table, positions_table
from quantdesk.backtest.recorder import PURGE_INTERVAL_MINUTES, RunRecorder, skip_trade_recording
from quantdesk.backtest.results import BacktestResult, load_result, store_result
from quantdesk.backtest.statistics import equity_curve, nautilus_statistics, summarize, unrealized_pnl

from quantdesk.backtest.strategy_loading import build_strategy_config, config_path, resolve_strategy
from quantdesk.catalog.columns import read_bar_columns
from quantdesk.catalog.instruments import is_tradeable
from quantdesk.catalog.manifest import read_manifest
from quantdesk.catalog.queries import bar_types, load_instrument
from quantdesk.catalog.store import bar_files, catalog_root, verify
from quantdesk.config.backtest import BacktestSpec
from quantdesk.errors import QuantDeskError


def _strategy_parameters(spec: BacktestSpec, config_cls: type) -> dict:
    """Fill ``instrument_id``/``bar_type`` from the spec when the strategy takes them."""
    parameters = dict(spec.parameters)
    fields = set(config_cls.__struct_fields__)
    if "instrument_id" in fields:
        parameters.setdefault("instrument_id", spec.instrument_ids[0])
    if "bar_type" in fields:
        parameters.setdefault("bar_type", spec.bar_types[0])
    return parameters


def _check_against_catalog(spec: BacktestSpec, catalog: ParquetDataCatalog, root: Path) -> None:
    for instrument_id in spec.instrument_ids:
        instrument = load_instrument(catalog, instrument_id)
        if not is_tradeable(instrument):
            raise QuantDeskError(f"Instrument {instrument_id} is an index level and cannot be traded: pick a tradeable one")
    stored = bar_types(catalog)
    manifest = read_manifest(root)
    start, end = spec.period()
    for bar_type in spec.bar_types:
        if bar_type not in stored:
            have = ", ".join(b for b in stored if b.startswith(bar_type.split("-", 1)[0] + "-")) or "none"
            raise QuantDeskError(f"No bars {bar_type} in the catalog: bar types for this instrument: {have}")
        dataset = manifest.dataset(bar_type) if manifest else None
        if dataset is None:
            continue
        first, last = pd.Timestamp(dataset.start), pd.Timestamp(dataset.end)
        if (start is not None and start > last) or (end is not None and end < first):
            raise QuantDeskError(
                f"No bars {bar_type} between {spec.start} and {spec.end}: the catalog has {first.date()} to {last.date()}"
            )


def build_run_config(spec: BacktestSpec, root: Path, log_level: str | None = None) -> BacktestRunConfig:
    """Return the Nautilus run config equivalent to ``spec`` on the catalog at ``root``.

    The engine is set up for speed without changing a fill: Nautilus's logging is bypassed
    unless ``log_level`` asks for it, its post-run analysis is off (the platform computes
    the same statistics afterwards), and closed orders are purged from its cache daily while
    a :class:`~quantdesk.backtest.recorder.RunRecorder` keeps them for the result.
    """
    _, config_cls = resolve_strategy(spec.strategy)
    parameters = _strategy_parameters(spec, config_cls)
    if log_level is None:
        # A strategy formats a log line for every event and command it sees, even when logging is bypassed.
        for name in ("log_events", "log_commands"):
            if name in config_cls.__struct_fields__:
                parameters.setdefault(name, False)
    build_strategy_config(config_cls, parameters)  # fail here, with a clear message, not inside the node
    start, end = spec.period()
    return BacktestRunConfig(
        engine=BacktestEngineConfig(
            strategies=[
                ImportableStrategyConfig(
                    strategy_path=spec.strategy,
                    config_path=config_path(config_cls),
                    config=parameters,
                )
            ],
            actors=[ImportableActorConfig(actor_path=f"{RunRecorder.__module__}:{RunRecorder.__name__}",
                                          config_path=f"{RunRecorder.__module__}:RunRecorderConfig", config={})],
            logging=LoggingConfig(log_level=log_level or "ERROR", bypass_logging=log_level is None),
            exec_engine=ExecEngineConfig(
                purge_closed_orders_interval_mins=PURGE_INTERVAL_MINUTES, purge_closed_orders_buffer_mins=0
            ),
            run_analysis=False,
        ),
        venues=[
            BacktestVenueConfig(
                name=spec.venue,
                oms_type=spec.oms_type,
                account_type=spec.account_type,
                base_currency=spec.currency,
                starting_balances=[f"{spec.starting_capital} {spec.currency}"],
                bar_execution=True,
            )
        ],
        data=[
            BacktestDataConfig(
                catalog_path=str(root),
                data_cls=Bar,
                instrument_ids=list(spec.instrument_ids),
                bar_types=spec.bar_types,
                start_time=start.isoformat() if start is not None else None,
                end_time=end.isoformat() if end is not None else None,
            )
        ],
        raise_exception=True,
        dispose_on_completion=False,
    )


def _run_engine(node: BacktestNode, run_config: BacktestRunConfig, spec: BacktestSpec):
    """Build the node's engine, load its data and run it; return the engine.

    This is ``BacktestNode.run`` without its ``get_result()``, which unpickles every NETTING
    position snapshot to count them and is not used here. With ``spec.risk_limits`` every
    order passes the same pre-trade gate as in a live node.
    """
    node.build()
    engine = node.get_engine(run_config.id)
    skip_trade_recording(engine)
    if spec.risk_limits is not None:
        from quantdesk.risk import LimitBook, PreTradeChecker, install_gate  # only runs with limits pay for the import

        book = LimitBook(spec.risk_limits, [*spec.risk_limits.instrument_sectors, *spec.instrument_ids])
        install_gate(engine.kernel, PreTradeChecker(book, equity=spec.starting_capital))
    for data_config in run_config.data:
        engine.add_data(BacktestNode.load_data_config(data_config).data, sort=False)
    engine.sort_data()
    # The loaded bars live as long as the run: keep the collector from walking them again and again.
    gc.collect()
    gc.freeze()
    try:
        engine.run()
    finally:
        gc.unfreeze()
    return engine


def run_backtest(
    spec: BacktestSpec,
    catalog: str | Path | None = None,
    force: bool = False,
    log_level: str | None = None,
) -> BacktestResult:
    """Run ``spec`` on the catalog, store the result under the catalog root, and return it.

    A spec that has already run (same content hash) is read back instead of rerun.

    Parameters
    ----------
    spec : BacktestSpec
    catalog : str or Path, optional
        Catalog root; defaults to the configured one.
    force : bool
        Run again even when a stored result exists, replacing it.
    log_level : str, optional
        Nautilus log level during the run (e.g. "WARNING" to debug a strategy); by default
        Nautilus's logging is bypassed, which makes long runs markedly faster.

    Returns
    -------
    BacktestResult
    """
    spec.check()
    root = catalog_root(catalog)
    if not force:
        stored = load_result(root, spec.id)
        if stored is not None:
            return stored
    verify(root)
    parquet = ParquetDataCatalog(str(root))
    _check_against_catalog(spec, parquet, root)
    run_config = build_run_config(spec, root, log_level=log_level)

    started = time.perf_counter()
    node = BacktestNode(configs=[run_config])
    try:
        try:
            engine = _run_engine(node, run_config, spec)
        except QuantDeskError:
            raise
        except Exception as error:
            raise QuantDeskError(f"Backtest {spec.id[:12]} of {spec.strategy} failed: {type(error).__name__}: {error}") from error
        elapsed = time.perf_counter() - started
        recorder = next(actor for actor in engine.trader.actors() if isinstance(actor, RunRecorder))
        orders = recorder.orders()
        fills = fills_table(orders)
        positions = positions_table(recorder.positions())
        orders = orders_table(orders)
        account = engine.cache.account_for_venue(Venue(spec.venue))
        ending_balance = account.balance_total(Currency.from_str(spec.currency)).as_double()
        balances = balances_table(account, spec.currency)
        bars_seen = engine.iteration
        # Nautilus halts a run early (e.g. on a negative cash balance) without raising.
        last_processed = engine.backtest_end or pd.Timestamp.max.tz_localize("UTC")
    finally:
        node.dispose()

    start, end = spec.period()
    closes = {
        bar_type.split("-", 1)[0]: read_bar_columns(bar_files(root, bar_type), start, end, columns=("close",))["close"]
        for bar_type in spec.bar_types
    }
    halted_early = any(len(c) and c.index[-1] > last_processed for c in closes.values())
    closes = {iid: c[c.index <= last_processed] for iid, c in closes.items()}  # no marks after a halt
    if not any(len(c) for c in closes.values()):
        raise QuantDeskError(f"No bars {', '.join(spec.bar_types)} between {spec.start} and {spec.end}: widen the period")
    equity = equity_curve(spec.starting_capital, fills, closes)
    summary = summarize(spec, equity, fills, positions, ending_balance, unrealized_pnl(positions, closes))
    summary["run_seconds"] = elapsed
    summary["bars"] = int(bars_seen)
    summary["halted_early"] = bool(halted_early)
    summary["nautilus_statistics"] = nautilus_statistics(positions, balances, spec.starting_capital)
    result = BacktestResult(
        spec=spec, summary=summary, equity=equity, orders=orders, fills=fills, positions=positions
    )
    store_result(root, result)
    return load_result(root, spec.id)  # the stored copy, so fresh and cached runs look alike
