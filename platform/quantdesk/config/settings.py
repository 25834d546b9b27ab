"""Platform settings, read from ``QUANTDESK_*`` environment variables.

One immutable object; call :func:`settings` again after changing the environment
(tests do) rather than mutating it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from quantdesk.errors import QuantDeskError

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise QuantDeskError(f"{name}={raw!r} is not a port number: set it to an integer 1-65535") from None
    if not 0 <= port <= 65535:
        raise QuantDeskError(f"{name}={port} is out of range: set it to an integer 1-65535")
    return port


@dataclass(frozen=True)
class Settings:
    """Where data lives and where services listen.

    Attributes
    ----------
    catalog_path : Path
        Root of the ParquetDataCatalog and every dataset the platform writes
        (``QUANTDESK_CATALOG``, default ``<repo>/catalog``).
    host : str
        Bind address of JupyterLab, Panel and the Dask dashboard (``QUANTDESK_HOST``).
    jupyter_port, panel_port, dask_dashboard_port : int
        Ports (``QUANTDESK_JUPYTER_PORT``, ``QUANTDESK_PANEL_PORT``,
        ``QUANTDESK_DASK_DASHBOARD_PORT``); 0 picks a free port.
    dask_address : str or None
        An existing Dask scheduler to use instead of a LocalCluster (``QUANTDESK_DASK_ADDRESS``).
    dask_dashboard_url : str or None
        Link to the Dask dashboard shown in the apps (``QUANTDESK_DASK_DASHBOARD_URL``,
        set by the launcher).
    jupyter_url : str or None
        JupyterLab's base URL for links from the apps (``QUANTDESK_JUPYTER_URL``, set by the launcher).
    dask_workers : int
        Workers of the LocalCluster (``QUANTDESK_DASK_WORKERS``, default: the core count).
    store_url : str or None
        SQLAlchemy URL of the platform's SQL store (``QUANTDESK_STORE_URL``), e.g.
        ``postgresql+psycopg://user:password@host:5432/quantdesk``; unset means the SQLite file
        ``<catalog_path>/quantdesk.sqlite`` (see :attr:`store_location`).
    redis_url : str or None
        Redis server carrying live events between processes (``QUANTDESK_REDIS_URL``, e.g.
        ``redis://127.0.0.1:6379/0``); unset means the in-process bridge.
    ib_host : str or None
        Host of an Interactive Brokers Gateway (or TWS) the Live dashboard may query
        (``QUANTDESK_IB_HOST``); unset means no gateway is configured.
    ib_port : int
        Its API port (``QUANTDESK_IB_PORT``, default 4002, the Gateway's paper-trading port).
    """

    catalog_path: Path
    host: str
    jupyter_port: int
    panel_port: int
    dask_dashboard_port: int
    dask_address: str | None
    dask_dashboard_url: str | None
    jupyter_url: str | None
    dask_workers: int
    store_url: str | None = None
    redis_url: str | None = None
    ib_host: str | None = None
    ib_port: int = 4002

    @property
    def repository_root(self) -> Path:
        """Return the repository this package is installed from (editable install)."""
        return REPOSITORY_ROOT

    @property
    def backtests_path(self) -> Path:
        """Return the folder holding stored backtest runs."""
        return self.catalog_path / "backtests"

    @property
    def jobs_path(self) -> Path:
        """Return the folder holding archived job runs."""
        return self.catalog_path / "jobs"

    @property
    def store_file(self) -> Path:
        """Return the SQLite file used as the store when no ``store_url`` is set."""
        return self.catalog_path / "quantdesk.sqlite"

    @property
    def store_location(self) -> str:
        """Return the SQLAlchemy URL of the store in effect: ``store_url`` or the SQLite file."""
        return self.store_url or f"sqlite:///{self.store_file}"


def settings() -> Settings:
    """Read the settings from the current environment."""
    workers_raw = os.environ.get("QUANTDESK_DASK_WORKERS", "")
    try:
        workers = int(workers_raw) if workers_raw else (os.cpu_count() or 1)
    except ValueError:
        raise QuantDeskError(
            f"QUANTDESK_DASK_WORKERS={workers_raw!r} is not a whole number: set it to the number of workers"
        ) from None
    return Settings(
        catalog_path=Path(os.environ.get("QUANTDESK_CATALOG", REPOSITORY_ROOT / "catalog")).expanduser().absolute(),
        host=os.environ.get("QUANTDESK_HOST", "127.0.0.1"),
        jupyter_port=_port("QUANTDESK_JUPYTER_PORT", 8888),
        panel_port=_port("QUANTDESK_PANEL_PORT", 5006),
        dask_dashboard_port=_port("QUANTDESK_DASK_DASHBOARD_PORT", 8787),
        dask_address=os.environ.get("QUANTDESK_DASK_ADDRESS") or None,
        dask_dashboard_url=os.environ.get("QUANTDESK_DASK_DASHBOARD_URL") or None,
        jupyter_url=os.environ.get("QUANTDESK_JUPYTER_URL") or None,
        dask_workers=max(1, workers),
        store_url=os.environ.get("QUANTDESK_STORE_URL") or None,
        redis_url=os.environ.get("QUANTDESK_REDIS_URL") or None,
        ib_host=os.environ.get("QUANTDESK_IB_HOST") or None,
        ib_port=_port("QUANTDESK_IB_PORT", 4002),
    )
