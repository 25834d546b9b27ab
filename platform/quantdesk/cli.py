"""The ``quantdesk`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from quantdesk.errors import QuantDeskError


def _catalog_sample(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from quantdesk.catalog.sample import build_sample_catalog

    with tqdm(total=7, desc="sample catalog", unit="step", disable=None) as bar:
        def step(description: str) -> None:
            bar.set_postfix_str(description)
            bar.update(1)

        root, written = build_sample_catalog(args.catalog, rebuild=args.rebuild, progress=step)
    print(f"{'Wrote' if written else 'Already complete:'} sample catalog at {root}")
    return 0


def _catalog_show(args: argparse.Namespace) -> int:
    from quantdesk.catalog.store import catalog_root, verify

    root = catalog_root(args.catalog)
    manifest = verify(root)
    print(f"catalog {root}")
    print("instruments: " + ", ".join(manifest.instruments))
    for d in manifest.datasets:
        flag = "  [synthetic]" if d.synthetic else ""
        print(f"  {d.bar_type:40s} {d.rows:>8,d} bars  {d.start[:10]} → {d.end[:10]}  {d.source}{flag}")
    return 0


def _backtest_run(args: argparse.Namespace) -> int:
    from quantdesk.backtest import run_backtest
    from quantdesk.config.backtest import BacktestSpec

    spec = BacktestSpec.load(args.spec)
    result = run_backtest(spec, catalog=args.catalog, force=args.force)
    summary = result.summary
    if summary.get("halted_early"):
        print(
            f"quantdesk: warning: Nautilus stopped run {result.run_id[:12]} at {summary['last_bar']}, before the end "
            "of the period (e.g. the cash balance went negative): raise starting_capital or cut trade_size",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps({"run_id": result.run_id, **summary}, indent=2, default=str))
    else:
        print(f"run {result.run_id}")
        for key, value in summary.items():
            print(f"  {key:18s} {value:,.4f}" if isinstance(value, float) else f"  {key:18s} {value}")
    return 0


def _backtest_list(args: argparse.Namespace) -> int:
    from quantdesk.backtest import list_runs
    from quantdesk.catalog.store import catalog_root

    runs = list_runs(catalog_root(args.catalog))
    if runs.empty:
        print("no stored runs: run one with `quantdesk backtest run SPEC`")
        return 0
    runs["run_id"] = runs["run_id"].str[:12]
    print(runs.drop(columns=["created"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _print_table(table, columns: list[str], rows: int) -> None:
    import pandas as pd

    shown = table[columns].head(rows)
    if "run_id" in shown:
        shown = shown.assign(run_id=shown["run_id"].str[:12])
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _records(table) -> list[dict]:
    """Return the rows of ``table`` as dicts with None for missing values (NaN is not JSON)."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _backtest_sweep(args: argparse.Namespace) -> int:
    from quantdesk.backtest import run_sweep
    from quantdesk.backtest.sweep import COLUMNS
    from quantdesk.config import SweepConfig

    config = SweepConfig.load(args.spec)
    result = run_sweep(config, catalog=args.catalog)
    table = result.table
    print(f"sweep {config.id[:12]}: {len(table)} combinations, objective {config.objective}")
    _print_table(table, [*config.grid, "objective", *COLUMNS[:5], "status", "run_id"], args.top)
    return _report_failures_and_stops(table, "sweep")


def _backtest_screen(args: argparse.Namespace) -> int:
    from quantdesk.backtest import screen_and_confirm
    from quantdesk.config import SweepConfig

    config = SweepConfig.load(args.spec)
    result = screen_and_confirm(config, top=args.top, catalog=args.catalog)
    screen, confirmed = result.screen, result.confirmed
    if args.json:
        print(json.dumps({"config_id": config.id, "combinations": len(screen), "bars": result.bars,
                          "seconds": result.seconds, "screen": _records(screen.head(max(args.top, 10))),
                          "confirmed": _records(confirmed)}, indent=2, default=str))
    else:
        print(f"screen {config.id[:12]}: {len(screen)} combinations x {result.bars:,} bars in {result.seconds:.2f} s, "
              f"objective {config.objective}, P&L gross of costs")
        _print_table(screen, ["fast_period", "slow_period", "trades", "gross_pnl", "total_return", "win_rate",
                              "profit_factor"], max(args.top, 10))
        print(f"confirmed on Nautilus: top {len(confirmed)} (difference = Nautilus gross P&L - screen gross P&L)")
        if len(confirmed):
            _print_table(confirmed, [c for c in confirmed if c != "error"], len(confirmed))
    return _report_failures_and_stops(confirmed, "screen")


def _backtest_walk_forward(args: argparse.Namespace) -> int:
    from quantdesk.backtest import run_walk_forward
    from quantdesk.config import WalkForwardConfig

    config = WalkForwardConfig.load(args.spec)
    result = run_walk_forward(config, catalog=args.catalog)
    windows = result.windows
    print(f"walk-forward {config.id[:12]}: {len(windows)} windows, objective {config.sweep.objective}")
    for column in ("in_start", "out_start", "out_end"):
        windows[column] = windows[column].dt.strftime("%Y-%m-%d")
    shown = [c for c in ["window", "in_start", "out_start", "out_end", *config.sweep.grid, "in_sample_objective",
                         "out_total_return", "out_sharpe", "out_max_drawdown", "status"] if c in windows]
    _print_table(windows, shown, len(windows))
    if len(result.equity):
        total = result.equity.iloc[-1] / config.sweep.base.starting_capital - 1
        print(f"stitched out-of-sample return {total:.2%} from {result.equity.index[0]:%Y-%m-%d} to {result.equity.index[-1]:%Y-%m-%d}")
    return _report_failures_and_stops(result.in_sample, "walk-forward")


def _backtest_monte_carlo(args: argparse.Namespace) -> int:
    from quantdesk.backtest import run_monte_carlo
    from quantdesk.config import MonteCarloConfig

    print(run_monte_carlo(MonteCarloConfig.load(args.spec), catalog=args.catalog).report())
    return 0


def _report_failures_and_stops(table, what: str) -> int:
    failed = table[table["status"] == "failed"]
    for _, row in failed.head(5).iterrows():
        print(f"quantdesk: warning: run {row['run_id'][:12]} failed: {row['error']}", file=sys.stderr)
    if len(failed) > 5:
        print(f"quantdesk: warning: {len(failed) - 5} more runs failed (see the stored table)", file=sys.stderr)
    if (table["status"] == "cancelled").any():
        print(f"quantdesk: {what} cancelled; finished runs are stored: run the same command to resume", file=sys.stderr)
        return 130
    return 0


def _jobs_run(args: argparse.Namespace) -> int:
    from quantdesk.jobs import run_job

    record = run_job(args.name, dict(args.parameter or []), catalog=args.catalog)
    print(f"{record.status}: {record.folder}")
    return 0 if record.status == "succeeded" else 1


def _jobs_list(args: argparse.Namespace) -> int:
    from quantdesk.jobs import available_jobs, list_job_runs

    runs = list_job_runs(args.name, catalog=args.catalog)
    if runs.empty:
        print("no job runs yet; jobs: " + ", ".join(available_jobs()))
        return 0
    print(runs.to_string(index=False))
    return 0


def _factors_list(args: argparse.Namespace) -> int:
    from quantdesk.factors.registry import registry

    factors = sorted(registry().values(), key=lambda f: (f.family, f.name))
    if args.family:
        factors = [f for f in factors if f.family == args.family]
        if not factors:
            raise QuantDeskError(f"No factor family {args.family!r}: families are "
                                 + ", ".join(sorted({f.family for f in registry().values()})))
    total = 0
    for item in factors:
        variants = len(item.variants())
        total += variants
        grid = ", ".join(f"{name}={list(values)}" for name, values in item.grid.items())
        print(f"{item.family:12s} {item.name:24s} {variants:4d} variants  {grid}  {item.doc}")
    print(f"{len(factors)} factors, {total} variants on their default grids")
    return 0


def _factors_run(args: argparse.Namespace) -> int:
    from quantdesk.config import FactorRunConfig
    from quantdesk.factors.pipeline import run_factors

    config = FactorRunConfig.load(args.spec)
    run = run_factors(config, catalog=args.catalog)
    values = run.values
    print(f"factor run {config.id[:16]}: {values.sizes['factor']} variants x {values.sizes['asset']} assets x "
          f"{values.sizes['time']} bars -> {run.path}")
    for problem in run.problems:
        print(f"quantdesk: warning: {problem}", file=sys.stderr)
    if not run.complete:
        print("quantdesk: the run stopped before every block was written: run the same command again to resume",
              file=sys.stderr)
        return 1
    return 0


def _portfolio_optimize(args: argparse.Namespace) -> int:
    from quantdesk.config.portfolio import PortfolioConfig
    from quantdesk.portfolio.allocation import allocate_shares
    from quantdesk.portfolio.run import load_bars, run_portfolio

    config = PortfolioConfig.load(args.spec)
    allocation = run_portfolio(config, catalog=args.catalog)
    report: dict = {"config_id": config.id, "method": allocation.method, "expected_return": allocation.expected_return,
                    "volatility": allocation.volatility, "sharpe": allocation.sharpe,
                    "weights": allocation.weights.to_dict(), "risk_contribution": allocation.risk_contribution.to_dict()}
    shares = None
    if config.capital is not None:
        close = load_bars(config.universe, config.start, config.end, config.bar_spec, args.catalog)[0]
        shares = allocate_shares(allocation, close.ffill().iloc[-1], config.capital)
        report["allocation"] = {"shares": shares.shares.to_dict(), "prices": shares.prices.to_dict(),
                                "leftover_cash": shares.leftover_cash, "method": shares.method}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"portfolio {config.id[:12]} ({allocation.method}): expected return {allocation.expected_return:.2%}, "
          f"volatility {allocation.volatility:.2%}, Sharpe {allocation.sharpe:.2f}")
    table = allocation.weights.to_frame("weight").join(allocation.risk_contribution)
    if shares is not None:
        table = table.join(shares.table()[["shares", "price", "value"]])
    print(table.to_string(float_format=lambda v: f"{v:,.4f}"))
    if shares is not None:
        print(f"capital {config.capital:,.2f}, leftover cash {shares.leftover_cash:,.2f} ({shares.method} allocation)")
    return 0


def _node_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    import msgspec

    from quantdesk.live import LiveNode, NodeConfig, paper_node_config

    config = NodeConfig.load(args.config) if args.config else paper_node_config()
    if args.catalog:
        config = msgspec.structs.replace(config, catalog=args.catalog)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    node = LiveNode(config).start()
    try:
        destination = f"Redis stream {config.stream_key!r} at {node.redis_url}" if node.redis_url else "this process only"
        print(f"node {config.name!r}: {config.data} data, {config.execution} execution, "
              f"{', '.join(config.instrument_ids)}; events to {destination}; Ctrl-C stops", flush=True)
        while not stop.wait(args.status_every or None):
            health = node.health()
            detail = f" ({health.detail})" if health.detail else ""
            print(f"node {config.name!r}: {health.state}{detail}, {health.bars} bars, last data "
                  f"{health.last_event_time}", flush=True)
    finally:
        node.stop()
    print(f"node {config.name!r} stopped", flush=True)
    return 0


def _up(args: argparse.Namespace) -> int:
    from quantdesk.launcher import run_platform

    return run_platform(skip_sample=args.no_sample)


def parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``quantdesk`` command."""
    root = argparse.ArgumentParser(prog="quantdesk", description="QuantDesk research and trading platform")
    commands = root.add_subparsers(dest="command", required=True)

    def with_catalog(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--catalog", help="catalog root (default: QUANTDESK_CATALOG or <repo>/catalog)")
        return p

    catalog = commands.add_parser("catalog", help="market data catalog").add_subparsers(dest="action", required=True)
    sample = with_catalog(catalog.add_parser("sample", help="write the embedded sample catalog (no-op when complete)"))
    sample.add_argument("--rebuild", action="store_true", help="replace existing market data")
    sample.set_defaults(handler=_catalog_sample)
    with_catalog(catalog.add_parser("show", help="list instruments and datasets")).set_defaults(handler=_catalog_show)

    backtest = commands.add_parser("backtest", help="backtests").add_subparsers(dest="action", required=True)
    run = with_catalog(backtest.add_parser("run", help="run a spec file (.json or .yaml)"))
    run.add_argument("spec", help="path of the backtest spec")
    run.add_argument("--force", action="store_true", help="run again even when a stored result exists")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(handler=_backtest_run)
    with_catalog(backtest.add_parser("list", help="list stored runs")).set_defaults(handler=_backtest_list)
    sweep = with_catalog(backtest.add_parser("sweep", help="run a parameter sweep file on Dask (resumes when rerun)"))
    sweep.add_argument("spec", help="path of the sweep config (.json or .yaml)")
    sweep.add_argument("--top", type=int, default=20, help="rows of the ranked table to print")
    sweep.set_defaults(handler=_backtest_sweep)
    screen = with_catalog(backtest.add_parser(
        "screen", help="screen every combination of a sweep file with the strategy's vectorized twin, confirm the best on Nautilus"
    ))
    screen.add_argument("spec", help="path of the sweep config (.json or .yaml)")
    screen.add_argument("--top", type=int, default=5, help="best combinations to confirm as Nautilus backtests (0: none)")
    screen.add_argument("--json", action="store_true", help="print the best screened rows and the confirmed ones as JSON")
    screen.set_defaults(handler=_backtest_screen)
    walk = with_catalog(backtest.add_parser("walk-forward", help="run a walk-forward optimization file on Dask"))
    walk.add_argument("spec", help="path of the walk-forward config (.json or .yaml)")
    walk.set_defaults(handler=_backtest_walk_forward)
    monte = with_catalog(backtest.add_parser("monte-carlo", help="resample a stored run's trades or returns"))
    monte.add_argument("spec", help="path of the Monte Carlo config (.json or .yaml), naming the run_id")
    monte.set_defaults(handler=_backtest_monte_carlo)

    factors = commands.add_parser("factors", help="factor synthesis").add_subparsers(dest="action", required=True)
    factor_list = factors.add_parser("list", help="list the built-in factors and their default grids")
    factor_list.add_argument("--family", help="only this family (momentum, volatility, technical, ...)")
    factor_list.set_defaults(handler=_factors_list)
    factor_run = with_catalog(factors.add_parser("run", help="compute and store a factor run file on Dask (resumes when rerun)"))
    factor_run.add_argument("spec", help="path of the factor run config (.json or .yaml)")
    factor_run.set_defaults(handler=_factors_run)

    portfolio = commands.add_parser("portfolio", help="portfolio optimization").add_subparsers(dest="action", required=True)
    optimize = with_catalog(portfolio.add_parser(
        "optimize", help="optimize a portfolio config file; with capital, allocate whole shares at the latest closes"))
    optimize.add_argument("spec", help="path of the portfolio config (.json or .yaml)")
    optimize.add_argument("--json", action="store_true", help="print the result as JSON")
    optimize.set_defaults(handler=_portfolio_optimize)

    jobs = commands.add_parser("jobs", help="scheduled report notebooks").add_subparsers(dest="action", required=True)
    job_run = with_catalog(jobs.add_parser("run", help="execute notebooks/reports/NAME.ipynb with papermill"))
    job_run.add_argument("name", help="job name (a notebook stem in notebooks/reports/)")
    job_run.add_argument(
        "-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"), help="override a parameter"
    )
    job_run.set_defaults(handler=_jobs_run)
    job_list = with_catalog(jobs.add_parser("list", help="list past job runs"))
    job_list.add_argument("name", nargs="?", help="only this job")
    job_list.set_defaults(handler=_jobs_list)

    node = commands.add_parser("node", help="live trading nodes").add_subparsers(dest="action", required=True)
    node_run = with_catalog(node.add_parser("run", help="run a live node in this process until Ctrl-C or SIGTERM"))
    node_run.add_argument("config", nargs="?", help="node config (.json or .yaml); default: the paper node on the sample catalog")
    node_run.add_argument("--status-every", type=float, default=0, metavar="SECONDS", help="print the node's health this often")
    node_run.set_defaults(handler=_node_run)

    up = commands.add_parser("up", help="start JupyterLab, the Panel apps and Dask; Ctrl-C stops all")
    up.add_argument("--no-sample", action="store_true", help="do not build the sample catalog when it is missing")
    up.set_defaults(handler=_up)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; user errors print one line and exit with status 2."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except QuantDeskError as error:
        print(f"quantdesk: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
