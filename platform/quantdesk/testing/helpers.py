"""Helpers shared by the test suites (and usable from notebooks)."""

from __future__ import annotations

import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from quantdesk.catalog.sample import build_sample_catalog
from quantdesk.config.settings import REPOSITORY_ROOT

_BUILT: dict[int, Path] = {}


def sample_catalog(path: Path, simulated_sessions: int = 252) -> Path:
    """Build the sample catalog at ``path``, copying one built earlier in this process when possible."""
    template = _BUILT.get(simulated_sessions)
    if template is not None and template.exists() and template != path:
        shutil.copytree(template / "data", path / "data")
        shutil.copy2(template / "quantdesk-manifest.json", path / "quantdesk-manifest.json")
        return path
    build_sample_catalog(path, simulated_sessions=simulated_sessions)
    _BUILT[simulated_sessions] = path
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0) -> int:
    """Poll ``url`` until it answers with any HTTP status; return the status.

    Raises
    ------
    TimeoutError
        When nothing answers within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = error
            time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Return the environment for a child process: the repository's Jupyter kernel visible, overrides applied."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(REPOSITORY_ROOT), env.get("JUPYTER_PATH")]))
    env.update(overrides)
    return env
