"""Run the platform: JupyterLab, the Panel apps and Dask side by side, stopped together.

:func:`run_platform` is what ``quantdesk up`` (and so ``make up``) runs. The Dask
scheduler lives in this process (a LocalCluster) unless ``QUANTDESK_DASK_ADDRESS``
names one; JupyterLab and the Panel server are child processes that connect to it
through these environment variables:

``QUANTDESK_DASK_ADDRESS``
    The scheduler every notebook and dashboard submits work to.
``QUANTDESK_DASK_DASHBOARD_URL``
    The Dask dashboard link the apps show.
``QUANTDESK_JUPYTER_URL``
    JupyterLab's base URL (``http://HOST:PORT``, no token), for links from the apps.

The paper node runs inside the Panel server by default (the Live dashboard talks to it
directly). With ``QUANTDESK_REDIS_URL`` set it runs as a process of its own
(``quantdesk node run``), publishing to Redis, and the Panel server follows its stream.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from quantdesk.config.settings import Settings, settings
from quantdesk.errors import QuantDeskError
from quantdesk.testing import free_port, subprocess_env, wait_for_http

if TYPE_CHECKING:
    from distributed import LocalCluster

START_TIMEOUT = 180.0  # JupyterLab alone takes 20-40 s on a busy two-core machine
STOP_TIMEOUT = 20.0  # JupyterLab shuts its kernels down before it exits
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


@dataclass
class _Service:
    name: str
    process: subprocess.Popen
    probe: str | None  # a URL that answers once the service is ready; None: running is ready


def run_platform(skip_sample: bool = False) -> int:
    """Start JupyterLab, the Panel apps and Dask, print their URLs, and run until stopped.

    Ctrl-C (SIGINT) or SIGTERM stops every service, kernels and Dask workers included.

    Parameters
    ----------
    skip_sample : bool
        Do not build the sample catalog when it is missing, nor run the demo backtest.

    Returns
    -------
    int
        0 after a requested stop.

    Raises
    ------
    QuantDeskError
        When a port is taken, the configured Dask scheduler does not answer, or a
        service stops on its own (everything else is stopped first).
    """
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    services: list[_Service] = []
    cluster: LocalCluster | None = None
    try:
        config = settings()
        # Ports first: a taken one should fail at once, not after building the catalog.
        config = replace(
            config,
            jupyter_port=_available_port(config.host, config.jupyter_port, "QUANTDESK_JUPYTER_PORT"),
            panel_port=_available_port(config.host, config.panel_port, "QUANTDESK_PANEL_PORT"),
            dask_dashboard_port=_available_port(
                config.host, config.dask_dashboard_port, "QUANTDESK_DASK_DASHBOARD_PORT"
            ),
        )
        if not skip_sample:
            _prepare_demo(config)
        if config.dask_address:
            dask_address, dashboard = _check_scheduler(config)
        else:
            _say("Starting the Dask LocalCluster ...")
            from quantdesk.compute import start_local_cluster

            # Worker processes inherit an ignored SIGINT: a terminal's Ctrl-C then reaches the
            # launcher alone, which closes the cluster in order instead of workers dying mid-task.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                cluster = start_local_cluster(config)
            finally:
                signal.signal(signal.SIGINT, _interrupt)
            dask_address, dashboard = cluster.scheduler_address, cluster.dashboard_link

        jupyter_base = f"http://{_url_host(config.host)}:{config.jupyter_port}"
        env = subprocess_env(QUANTDESK_DASK_ADDRESS=dask_address, QUANTDESK_JUPYTER_URL=jupyter_base)
        if dashboard:
            env["QUANTDESK_DASK_DASHBOARD_URL"] = dashboard
        _say("Starting JupyterLab and the Panel server ...")
        jupyter, token = _start_jupyter(config, env, jupyter_base)
        services.append(jupyter)  # at once, so that a stop arriving now still ends it
        if config.redis_url:
            services.append(_start_node(config, env))
        panel, apps = _start_panel(config, env)
        services.append(panel)

        _wait_until_ready(services, [dashboard] if cluster is not None and dashboard else [])
        query = f"?token={token}" if token else ""
        panel_base = panel.probe.removesuffix("/")
        urls = {"JupyterLab": f"{jupyter_base}/lab/tree/notebooks{query}", "Panel apps": f"{panel_base}/"}
        urls |= {f"  {app}": f"{panel_base}/{app}" for app in apps}
        urls["Dask dashboard"] = dashboard or f"none (the scheduler at {dask_address} serves no dashboard)"
        _print_block(config, urls)
        where = f"its own process, events through {config.redis_url}" if config.redis_url else "the Panel server"
        _say(f"Paper node: AAPL.XNAS minute bars replayed at 60x with sandbox execution, in {where} (see the Live app)")
        while True:
            _check_running(services)
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave processes behind;
        # every step below is bounded by a timeout instead.
        for number in previous:
            signal.signal(number, signal.SIG_IGN)
        if services or cluster is not None:
            _say("\nStopping QuantDesk ...")
            _stop(services, cluster)
        for number, handler in previous.items():
            signal.signal(number, handler)


def _interrupt(number: int, frame: object) -> None:
    # SIGTERM gets the same clean stop as Ctrl-C.
    raise KeyboardInterrupt


def _say(text: str) -> None:
    # stdout is often a pipe (make, tests, log collectors): show each line at once.
    print(text, flush=True)


def _prepare_demo(config: Settings) -> None:
    """Build the sample catalog when it is missing and run the demo backtest (both no-ops once done)."""
    from quantdesk.backtest import run_backtest
    from quantdesk.backtest.examples import demo_spec
    from quantdesk.catalog.sample import build_sample_catalog

    def step(description: str) -> None:
        _say(f"  sample catalog: {description}")

    root, written = build_sample_catalog(config.catalog_path, progress=step)
    if written:
        _say(f"Wrote the sample catalog at {root}")
    _say("Preparing the demo backtest for the Performance dashboard ...")
    try:
        run_backtest(demo_spec(), catalog=root)
    except QuantDeskError as error:
        # A catalog of the user's own may lack the demo's AAPL bars; the platform is still useful.
        print(f"quantdesk: warning: skipped the demo backtest: {error}", file=sys.stderr, flush=True)


def _available_port(host: str, port: int, variable: str) -> int:
    """Return ``port``, or a free one when it is 0; refuse a port something already listens on."""
    if port == 0:
        return free_port(host)
    with socket.socket() as probe:
        # Servers reuse addresses too, so a connection in TIME_WAIT must not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise QuantDeskError(
                f"{variable}={port} is not available on {host} ({error.strerror}): stop what listens there "
                f"(another `quantdesk up`?) or set {variable} to a free port (0 picks one)"
            ) from None
    return port


def _check_scheduler(config: Settings) -> tuple[str, str | None]:
    """Check that the configured scheduler answers; return its address and dashboard URL."""
    from quantdesk.compute import get_client

    _say(f"Connecting to the Dask scheduler at {config.dask_address} ...")
    try:
        client = get_client(config)  # raises QuantDeskError naming the address when nothing answers
    except ValueError as error:
        raise QuantDeskError(
            f"QUANTDESK_DASK_ADDRESS={config.dask_address!r} is not a Dask address ({error}): "
            "use tcp://HOST:PORT, or unset it to use a LocalCluster"
        ) from None
    with client:
        if config.dask_dashboard_url:
            return config.dask_address, config.dask_dashboard_url
        try:
            return config.dask_address, client.dashboard_link
        except KeyError:  # a scheduler started without its dashboard
            return config.dask_address, None


def _start_jupyter(config: Settings, env: dict[str, str], base_url: str) -> tuple[_Service, str]:
    """Start JupyterLab on the repository; return the service and its token ("" on a loopback host)."""
    root = config.repository_root
    token = "" if _is_loopback(config.host) else secrets.token_urlsafe(24)
    # The token travels in the environment, not the command line, where `ps` would show it.
    env = env | {"JUPYTER_TOKEN": token}
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        f"--ip={config.host}", f"--port={config.jupyter_port}",
        "--ServerApp.port_retries=0",  # another port would not match the printed URL
        f"--ServerApp.root_dir={root}",
        # Its own URL banner and start-up notes would bury the launcher's block of URLs.
        "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN",
        # Embedded defaults need no network: no news feed, no update checks.
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if not token:
        command.append("--IdentityProvider.token=")  # an empty JUPYTER_TOKEN means "generate one"
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; JupyterLab refuses that otherwise
    probe = f"{base_url}/api/status" + (f"?token={token}" if token else "")
    return _Service("JupyterLab", _spawn(command, env, root), probe), token


def _start_panel(config: Settings, env: dict[str, str]) -> tuple[_Service, list[str]]:
    """Start the Panel server on every file in ``apps/``; return the service and the app names."""
    # Its path only: importing the setup script would start a feed in the launcher.
    live_setup = importlib.util.find_spec("quantdesk.live.serve_setup").origin
    root = config.repository_root
    files = sorted((root / "apps").glob("*.py"))
    if not files:
        _say(f"No apps in {root / 'apps'} yet: the Panel index will be empty")
    hosts = {config.host}
    if _is_loopback(config.host) or config.host in WILDCARD_HOSTS:
        hosts |= {"localhost", "127.0.0.1"}
    if config.host in WILDCARD_HOSTS:
        hosts |= {socket.gethostname(), socket.getfqdn()}
    hosts -= WILDCARD_HOSTS
    command = [
        sys.executable, "-m", "panel", "serve", *map(str, files),
        "--address", config.host, "--port", str(config.panel_port),
        # "/" stays the index of all apps even while apps/ holds a single one.
        "--disable-index-redirect",
        "--log-level", "warning",
        # The live feed (the paper node, or the reader of a node's Redis stream) starts with the server.
        "--setup", live_setup,
        *(f"--allow-websocket-origin={host}:{config.panel_port}" for host in sorted(hosts)),
    ]
    url = f"http://{_url_host(config.host)}:{config.panel_port}/"
    return _Service("the Panel server", _spawn(command, env, root), url), [file.stem for file in files]


def _start_node(config: Settings, env: dict[str, str]) -> _Service:
    """Start the paper node as its own process, publishing its events to ``QUANTDESK_REDIS_URL``."""
    from quantdesk.streaming import check_redis

    check_redis(config.redis_url)  # a clear message now rather than a node failing in the background
    command = [sys.executable, "-m", "quantdesk.cli", "node", "run"]
    # Its health is its process: the launcher's check that services keep running covers it.
    return _Service("the paper node", _spawn(command, env, config.repository_root), probe=None)


def _spawn(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    # A session of its own keeps a terminal's Ctrl-C away from the child, so the
    # launcher alone decides the order of shutdown, and lets it signal the whole group.
    return subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)


def _wait_until_ready(services: list[_Service], urls: list[str]) -> None:
    """Poll until every service answers HTTP, failing fast when one of them exits."""
    pending = [service.probe for service in services if service.probe] + urls
    deadline = time.monotonic() + START_TIMEOUT
    while pending:
        _check_running(services)
        if time.monotonic() > deadline:
            raise QuantDeskError(
                f"{', '.join(pending)} did not answer within {START_TIMEOUT:.0f} s: "
                "see the messages above, or try again on a less busy machine"
            )
        try:
            wait_for_http(pending[0], timeout=1.0)
            pending.pop(0)
        except TimeoutError:
            pass


def _check_running(services: list[_Service]) -> None:
    for service in services:
        status = service.process.poll()
        if status is not None:
            raise QuantDeskError(
                f"{service.name} stopped unexpectedly (exit status {status}; its messages are above), "
                "so everything else was stopped too: fix the cause and run `quantdesk up` again"
            )


def _print_block(config: Settings, urls: dict[str, str]) -> None:
    width = max(map(len, urls)) + 2
    lines = [f"  {name:<{width}}{url}" for name, url in urls.items()]
    if config.host in WILDCARD_HOSTS:
        lines.append(f"  (listening on all interfaces: from elsewhere use {socket.gethostname()} for 127.0.0.1)")
    _say("\n".join(["", "QuantDesk is running (Ctrl-C stops everything):", *lines, ""]))


def _stop(services: list[_Service], cluster: LocalCluster | None) -> None:
    """Stop the services' process groups and everything they started, then close the LocalCluster."""
    # Kernels run in sessions of their own; note them now, before JupyterLab exits and they are reparented.
    descendants: list[psutil.Process] = []
    for service in services:
        with suppress(psutil.NoSuchProcess):
            descendants += psutil.Process(service.process.pid).children(recursive=True)
        if service.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for service in services:
        try:
            service.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{service.name} did not stop within {STOP_TIMEOUT:.0f} s: killing it")
            with suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
    _, alive = psutil.wait_procs(descendants, timeout=max(0.1, deadline - time.monotonic()))
    for process in alive:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    if cluster is not None:
        try:
            cluster.close(timeout=STOP_TIMEOUT)
        except Exception as error:  # the workers are daemons: they end with this process anyway
            print(f"quantdesk: warning: the Dask cluster did not close cleanly ({error!r})", file=sys.stderr)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    """Return the host to put in URLs: this machine for a wildcard bind, brackets for IPv6."""
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
