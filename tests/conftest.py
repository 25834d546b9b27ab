"""Fixtures shared by every suite: one sample catalog, one demo run and real Redis/PostgreSQL servers per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantdesk.backtest import run_backtest
from quantdesk.backtest.examples import demo_spec
from quantdesk.testing import sample_catalog

REPOSITORY = Path(__file__).resolve().parents[1]
ARTIFACTS = REPOSITORY / "tests" / "artifacts"
SHARED_DATA = REPOSITORY.parent / "shared" / "data"


@pytest.fixture(scope="session")
def catalog_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample catalog built once per session; tests must not modify it."""
    return sample_catalog(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="session")
def demo_result(catalog_root: Path):
    """The demo backtest, run once per session on the session catalog."""
    return run_backtest(demo_spec(), catalog=catalog_root)


@pytest.fixture()
def catalog_env(catalog_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point QUANTDESK_CATALOG at the session catalog for this test (and its subprocesses)."""
    monkeypatch.setenv("QUANTDESK_CATALOG", str(catalog_root))
    return catalog_root


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and other files a person may want to look at after a run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster with two single-threaded worker processes, started as the platform starts one."""
    import dataclasses

    from distributed import Client

    from quantdesk.compute import start_local_cluster
    from quantdesk.config import settings

    cluster_settings = dataclasses.replace(settings(), dask_workers=2, dask_dashboard_port=0, host="127.0.0.1")
    with start_local_cluster(cluster_settings) as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="session")
def redis_service():
    """A real redis-server on a free port for the whole session (``.url``, ``.stop()``, ``.restart()``)."""
    from quantdesk.testing import redis_server

    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url():
    """The SQLAlchemy URL of a real PostgreSQL server (trust auth, empty database) for the whole session."""
    from quantdesk.store import close_engines
    from quantdesk.testing import postgres_server

    with postgres_server() as server:
        yield server.url
        # Pooled connections to a server about to stop would only fail later, at garbage collection.
        close_engines(server.url)
