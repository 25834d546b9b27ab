"""Connect to Dask: the scheduler at ``QUANTDESK_DASK_ADDRESS`` or a LocalCluster on this machine."""

from __future__ import annotations

import threading

import dask
from distributed import Client, LocalCluster

from quantdesk.config.settings import Settings, settings
from quantdesk.errors import QuantDeskError

_lock = threading.Lock()
# Arrays up to 32 MiB (glibc's ceiling) come from the reusable heap, and up to 256 MiB of free heap
# is kept rather than trimmed: a worker's memory then stays near its peak instead of shrinking
# between tasks, the price of not page-faulting every block's arrays in again.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20, "MALLOC_TRIM_THRESHOLD_": 256 * 2**20}
_client: Client | None = None


def start_local_cluster(config: Settings | None = None) -> LocalCluster:
    """Start a LocalCluster sized to the machine, one single-threaded worker process per core.

    Nautilus engines hold the GIL for most of a backtest, so processes rather than
    threads are what spread backtests over cores. For the same reason the workers' statistical
    profiler is off: sampling the task thread's stack every 10 ms made each backtest about 8%
    slower here (the Dask dashboard's Profile page stays empty; everything else works).

    glibc is told to keep freed memory for reuse (:data:`WORKER_MALLOC`): Dask's own setting
    returns every freed block over 64 KiB to the system, so each factor kernel's output page-
    faulted in afresh, which made factor blocks about 1.7x slower on the workers than in-process.
    """
    config = config or settings()
    # The nannies hand the configuration current at construction to their worker processes.
    with dask.config.set({"distributed.worker.profile.enabled": False,
                          **{f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()}}):
        return LocalCluster(
            n_workers=config.dask_workers,
            threads_per_worker=1,
            processes=True,
            host=config.host,
            dashboard_address=f"{config.host}:{config.dask_dashboard_port}",
        )


def get_client(config: Settings | None = None) -> Client:
    """Return this process's Dask client, connecting or starting a cluster on first use."""
    global _client
    config = config or settings()
    with _lock:
        if _client is not None and _client.status == "running":
            return _client
        if config.dask_address:
            try:
                _client = Client(config.dask_address, timeout="10s")
            except (OSError, TimeoutError) as error:
                raise QuantDeskError(
                    f"No Dask scheduler answers at QUANTDESK_DASK_ADDRESS={config.dask_address!r} ({error}): "
                    "start it, or unset the variable to use a LocalCluster"
                ) from None
        else:
            _client = Client(start_local_cluster(config))
        return _client


def dashboard_link(config: Settings | None = None) -> str | None:
    """Return the Dask dashboard URL the apps should show, without starting a cluster."""
    config = config or settings()
    if config.dask_dashboard_url:
        return config.dask_dashboard_url
    if _client is not None:
        return _client.dashboard_link
    return None
