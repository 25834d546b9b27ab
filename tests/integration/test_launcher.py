"""`quantdesk up`: every service answers, the apps share one Dask cluster, and a stop leaves no process behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import requests
import websocket
from distributed import Client

from quantdesk.testing import free_port, subprocess_env

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
QUANTDESK = Path(sys.executable).parent / "quantdesk"
START_TIMEOUT = 240  # JupyterLab takes 20-40 s on a busy two-core machine
STOP_TIMEOUT = 90
URL_LINE = re.compile(r"^\s+(?P<name>\S.*?)\s{2,}(?P<url>https?://\S+)$")


class Launched:
    """A `quantdesk up` process, its stdout read line by line on a thread, its stderr in a file."""

    def __init__(self, env: dict[str, str], stderr: Path) -> None:
        self.stderr_path = stderr
        with stderr.open("w") as sink:
            # A session of its own lets the teardown signal the launcher with its Dask workers.
            self.process = subprocess.Popen(
                [str(QUANTDESK), "up", "--no-sample"],
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
                env=env,
                start_new_session=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.recorded: list[psutil.Process] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # Draining stdout keeps the launcher and its children from blocking on a full pipe.
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def _printed(self, timeout: float, awaited: str) -> Iterator[str]:
        """Yield the launcher's stdout lines as they come, failing when it exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"quantdesk up exited ({self.process.wait()}) before printing {awaited}:\n{self.stderr()}")
            self.seen.append(line)
            yield line
        pytest.fail(f"no {awaited} within {timeout} s; stdout so far:\n{''.join(self.seen)}\n{self.stderr()}")

    def urls(self) -> dict[str, str]:
        """Wait for the block of URLs the launcher prints once every service answers."""
        urls: dict[str, str] = {}
        in_block = False
        for line in self._printed(START_TIMEOUT, "its URLs"):
            if line.startswith("QuantDesk is running"):
                in_block = True
            elif in_block and not line.strip():
                return urls
            elif in_block and (match := URL_LINE.match(line.rstrip())):
                urls[match["name"]] = match["url"]
        raise AssertionError("unreachable: _printed fails at its deadline")

    def wait_for_line(self, text: str, timeout: float = 120) -> str:
        """Return the first line printed (so far or within ``timeout``) that contains ``text``."""
        earlier = [line for line in self.seen if text in line]
        if earlier:
            return earlier[0]
        for line in self._printed(timeout, repr(text)):
            if text in line:
                return line
        raise AssertionError("unreachable: _printed fails at its deadline")

    def record_descendants(self) -> list[psutil.Process]:
        self.recorded = psutil.Process(self.process.pid).children(recursive=True)
        return self.recorded

    def kill_everything(self) -> None:
        """Kill the launcher's group and every process it started: the teardown after a failed test."""
        with_children: list[psutil.Process] = list(self.recorded)
        try:
            with_children += psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        for process in with_children:
            try:
                process.kill()  # psutil checks the start time, so a reused pid is left alone
            except psutil.NoSuchProcess:
                pass


@pytest.fixture()
def launch(tmp_path: Path, catalog_root: Path) -> Iterator[Callable[..., Launched]]:
    """Start `quantdesk up --no-sample` on the session catalog and free ports; kill it all afterwards."""
    started: list[Launched] = []

    def start(**overrides: str) -> Launched:
        settings = {
            "QUANTDESK_CATALOG": str(catalog_root),
            "QUANTDESK_HOST": "127.0.0.1",
            "QUANTDESK_JUPYTER_PORT": str(free_port()),
            "QUANTDESK_PANEL_PORT": str(free_port()),
            "QUANTDESK_DASK_DASHBOARD_PORT": str(free_port()),
            "QUANTDESK_DASK_WORKERS": "1",
        }
        env = subprocess_env(**(settings | overrides))
        for name in ("QUANTDESK_DASK_ADDRESS", "QUANTDESK_DASK_DASHBOARD_URL", "QUANTDESK_JUPYTER_URL"):
            if name not in overrides:
                env.pop(name, None)  # a developer's shell must not point the launcher elsewhere
        launched = Launched(env, tmp_path / f"stderr-{len(started)}.txt")
        started.append(launched)
        return launched

    yield start
    for launched in started:
        launched.kill_everything()


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return ""


def _run_in_a_new_kernel(jupyter_base: str, code: str) -> str:
    """Start a kernel of the repository's spec as the JupyterLab front end does, run ``code``, return its stdout."""
    session = requests.Session()
    assert session.get(f"{jupyter_base}/lab", timeout=30).status_code == 200
    created = session.post(
        f"{jupyter_base}/api/kernels",
        json={"name": "quantdesk"},
        headers={"X-XSRFToken": session.cookies.get("_xsrf", "")},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    channels = websocket.create_connection(
        f"{jupyter_base.replace('http', 'ws', 1)}/api/kernels/{created.json()['id']}/channels", timeout=120
    )
    request_id = uuid.uuid4().hex
    channels.send(json.dumps({
        "header": {"msg_id": request_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    stdout = []
    try:
        while True:
            message = json.loads(channels.recv())
            if message["parent_header"].get("msg_id") != request_id:
                continue
            if message["msg_type"] == "stream":
                stdout.append(message["content"]["text"])
            elif message["msg_type"] == "error":
                pytest.fail("\n".join(message["content"]["traceback"]))
            elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return "".join(stdout)
    finally:
        channels.close()


@pytest.mark.parametrize(
    ("stop_signal", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c-to-the-terminal-group", "sigterm-to-the-launcher"],
)
def test_up_serves_everything_and_stops_without_orphans(
    launch: Callable[..., Launched], stop_signal: signal.Signals, whole_group: bool
) -> None:
    started = time.monotonic()
    launched = launch()
    urls = launched.urls()
    startup = time.monotonic() - started
    apps = sorted(path.stem for path in (REPOSITORY / "apps").glob("*.py"))
    assert {"JupyterLab", "Panel apps", "Dask dashboard", *apps} == set(urls), urls

    jupyter_base = urls["JupyterLab"].split("/lab/")[0]
    assert urls["JupyterLab"] == f"{jupyter_base}/lab/tree/notebooks"  # no token on a loopback host
    assert requests.get(f"{jupyter_base}/api/status", timeout=30).status_code == 200
    assert requests.get(urls["JupyterLab"], timeout=30).status_code == 200
    specs = requests.get(f"{jupyter_base}/api/kernelspecs", timeout=30).json()["kernelspecs"]
    assert "quantdesk" in specs  # found through JUPYTER_PATH=<repository>
    # A notebook runs on the repository's kernel, with this package, pointed at the launcher's cluster.
    seen_by_kernel = _run_in_a_new_kernel(
        jupyter_base, "import os, quantdesk; print(quantdesk.__name__, os.environ['QUANTDESK_DASK_ADDRESS'])"
    )

    index = requests.get(urls["Panel apps"], timeout=60)
    assert index.status_code == 200
    for app in apps:
        assert f'href="./{app}"' in index.text, f"the Panel index does not link {app}"
        assert urls[app] == f"{urls['Panel apps']}{app}"
    assert requests.get(urls["Dask dashboard"], timeout=30).status_code == 200
    assert urls["Dask dashboard"].endswith("/status")
    # The paper node starts with the Panel server, in its process (no Redis configured).
    assert "in the Panel server" in launched.wait_for_line("Paper node:")
    launched.wait_for_line("live feed running (in-process)")

    deadline = time.monotonic() + 60
    while not any("ipykernel" in _cmdline(p) for p in launched.record_descendants()):
        assert time.monotonic() < deadline, "the kernel process never appeared"
        time.sleep(0.5)
    recorded = launched.record_descendants()
    commands = [_cmdline(process) for process in recorded]
    panel = next(p for p, command in zip(recorded, commands) if "panel serve" in command)
    assert any("-m jupyterlab" in command for command in commands)
    assert any("multiprocessing" in command for command in commands)  # the Dask worker

    # The apps reach the launcher's cluster (one worker) and link to its dashboard and JupyterLab.
    panel_env = panel.environ()
    assert panel_env["QUANTDESK_DASK_DASHBOARD_URL"] == urls["Dask dashboard"]
    assert panel_env["QUANTDESK_JUPYTER_URL"] == jupyter_base
    assert seen_by_kernel.split() == ["quantdesk", panel_env["QUANTDESK_DASK_ADDRESS"]]
    with Client(panel_env["QUANTDESK_DASK_ADDRESS"], timeout="30s") as client:
        assert len(client.scheduler_info()["workers"]) == 1
        assert client.submit(sum, [1, 2, 3]).result(timeout=60) == 6

    stopping = time.monotonic()
    if whole_group:
        os.killpg(launched.process.pid, stop_signal)
    else:
        launched.process.send_signal(stop_signal)
    assert launched.process.wait(STOP_TIMEOUT) == 0, launched.stderr()
    stop = time.monotonic() - stopping
    # Helpers such as multiprocessing's resource tracker exit once they see the launcher gone.
    _, alive = psutil.wait_procs(recorded, timeout=15)
    assert not alive, [(p.pid, _cmdline(p)) for p in alive]
    assert "Traceback" not in launched.stderr(), launched.stderr()
    print(f"startup {startup:.1f} s, stop {stop:.1f} s, {len(recorded)} descendants")


def test_with_redis_the_paper_node_runs_as_its_own_process_and_publishes(
    launch: Callable[..., Launched], redis_service
) -> None:
    import redis

    launched = launch(QUANTDESK_REDIS_URL=redis_service.url)
    launched.urls()
    assert f"events through {redis_service.url}" in launched.wait_for_line("Paper node:")
    launched.wait_for_line("live feed running (redis)")
    recorded = launched.record_descendants()
    assert any("node run" in _cmdline(p) for p in recorded), [_cmdline(p) for p in recorded]
    stream = redis.Redis.from_url(redis_service.url)
    deadline = time.monotonic() + 60
    while stream.xlen("nautilus-streams") < 50:
        assert time.monotonic() < deadline, "the node process published nothing to Redis"
        time.sleep(0.5)
    launched.process.send_signal(signal.SIGTERM)
    assert launched.process.wait(STOP_TIMEOUT) == 0, launched.stderr()
    _, alive = psutil.wait_procs(recorded, timeout=15)
    assert not alive, [(p.pid, _cmdline(p)) for p in alive]
    assert "Traceback" not in launched.stderr(), launched.stderr()


def test_a_service_that_dies_stops_everything(launch: Callable[..., Launched]) -> None:
    launched = launch()
    launched.urls()
    recorded = launched.record_descendants()
    panel = next(p for p in recorded if "panel serve" in _cmdline(p))
    panel.kill()
    assert launched.process.wait(STOP_TIMEOUT) != 0
    stderr = launched.stderr()
    assert "the Panel server stopped unexpectedly" in stderr, stderr
    _, alive = psutil.wait_procs(recorded, timeout=15)
    assert not alive, [(p.pid, _cmdline(p)) for p in alive]


def test_unreachable_dask_scheduler_is_one_clear_line(launch: Callable[..., Launched]) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    launched = launch(QUANTDESK_DASK_ADDRESS=address)
    assert launched.process.wait(120) != 0
    lines = launched.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("quantdesk: error:") and address in lines[0]
    assert "Traceback" not in lines[0]


def test_a_taken_port_is_one_clear_line(launch: Callable[..., Launched]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        launched = launch(QUANTDESK_PANEL_PORT=str(port))
        assert launched.process.wait(120) == 2
    lines = launched.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"QUANTDESK_PANEL_PORT={port}" in lines[0] and "free port" in lines[0]
