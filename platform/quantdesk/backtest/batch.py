"""Run many backtest specs on Dask: stored runs are skipped, failures recorded, progress shown, stops honoured.

Tasks carry only a spec (a few hundred bytes of JSON) and the catalog path: each worker
opens the catalog itself, so no market data travels through the scheduler. Every finished
run is stored under the catalog root by its spec hash, which is what makes an interrupted
batch resumable: the next call finds those runs and submits only the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantdesk.backtest.results import stored_summary
from quantdesk.catalog.store import catalog_root, verify
from quantdesk.config.backtest import BacktestSpec
from quantdesk.progress import Progress, progress_reporter

# Statuses of one run in a batch.
FINISHED, STORED, FAILED, CANCELLED = "finished", "stored", "failed", "cancelled"



@dataclass(frozen=True)
class RunOutcome:
    """What became of one spec in a batch.

    Attributes
    ----------
    spec : BacktestSpec
    status : str
        ``finished`` (ran now), ``stored`` (ran before; read back), ``failed`` or ``cancelled``.
    summary : dict or None
        The run's summary statistics when it has a result.
    error : str or None
        Why it failed.
    """

    spec: BacktestSpec
    status: str
    summary: dict[str, Any] | None = None
    error: str | None = None

    @property
    def run_id(self) -> str:
        """Return the run id (the spec's content hash)."""
        return self.spec.id


def run_one(spec_json: bytes, root: str) -> dict[str, Any]:
    """Run one spec on a worker and return a small record; never raises, so one bad spec fails alone."""
    from quantdesk.backtest.run import run_backtest

    try:
        result = run_backtest(BacktestSpec.parse(spec_json), catalog=root)
    except Exception as error:  # a strategy exception, bad parameters, ...: recorded, not fatal
        return {"status": FAILED, "error": f"{type(error).__name__}: {error}"}
    return {"status": FINISHED, "summary": result.summary}


def run_specs(
    specs: Sequence[BacktestSpec],
    catalog: str | Path | None = None,
    client: Any = None,
    progress: bool | Progress = True,
    stop: threading.Event | None = None,
    description: str = "backtests",
) -> list[RunOutcome]:
    """Run ``specs`` on the Dask cluster and return one outcome per spec, in the same order.

    Parameters
    ----------
    specs : sequence of BacktestSpec
    catalog : str or Path, optional
        Catalog root; defaults to the configured one.
    client : distributed.Client, optional
        Defaults to :func:`quantdesk.compute.get_client` (LocalCluster or ``QUANTDESK_DASK_ADDRESS``).
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(done, total)`` after every run.
    stop : threading.Event, optional
        Set it to cancel: pending runs are cancelled, finished ones are kept. Ctrl-C does the same.
    description : str
        Label of the progress bar.
    """
    root = catalog_root(catalog)
    verify(root)  # a missing or damaged catalog is one clear error here, not one per task
    unique = {spec.id: spec for spec in specs}
    outcomes: dict[str, RunOutcome] = {}
    for run_id, spec in unique.items():
        summary = stored_summary(root, run_id)
        if summary is not None:
            outcomes[run_id] = RunOutcome(spec, STORED, summary)
    pending = [spec for run_id, spec in unique.items() if run_id not in outcomes]
    report = progress_reporter(progress, len(unique), description, unit="run")
    report(len(outcomes))
    try:
        if pending:
            _run_pending(pending, root, client, outcomes, report, stop)
    finally:
        report(None)
    return [outcomes[spec.id] for spec in specs]


def _run_pending(
    pending: list[BacktestSpec],
    root: Path,
    client: Any,
    outcomes: dict[str, RunOutcome],
    report: Callable[[int | None], None],
    stop: threading.Event | None,
) -> None:
    from distributed import wait

    from quantdesk.compute import get_client

    client = client or get_client()
    by_key = {}
    for spec in pending:
        # The key names the run, so two sweeps sharing a run share one task instead of racing.
        future = client.submit(run_one, spec.json(), str(root), key=f"backtest-{spec.id}", pure=False)
        by_key[future.key] = (future, spec)
    waiting = {future for future, _ in by_key.values()}
    try:
        while waiting:
            if stop is not None and stop.is_set():
                break
            try:
                done, waiting = wait(waiting, timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in done:
                _collect(future, by_key[future.key][1], outcomes)
            report(len(outcomes))
    except KeyboardInterrupt:
        pass  # Ctrl-C: keep what finished, cancel the rest below
    finally:
        unfinished = [future for future in waiting if not future.done()]
        if unfinished:
            client.cancel(unfinished)
        for future in waiting:
            spec = by_key[future.key][1]
            if future.status == "finished":  # done while we were stopping: keep it
                _collect(future, spec, outcomes)
            else:
                outcomes[spec.id] = RunOutcome(spec, CANCELLED, error="cancelled before it finished")


def _collect(future: Any, spec: BacktestSpec, outcomes: dict[str, RunOutcome]) -> None:
    try:
        record = future.result()
    except Exception as error:  # the worker died, the task was lost, ...
        record = {"status": FAILED, "error": f"{type(error).__name__}: {error}"}
    outcomes[spec.id] = RunOutcome(spec, record["status"], record.get("summary"), record.get("error"))
    future.release()  # the result is on disk; holding it would keep it in worker memory
