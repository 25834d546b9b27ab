"""Run a report notebook with papermill and archive it with its parameters and an HTML copy.

Each run gets its own folder ``<catalog>/jobs/<job>/<UTC time>-<parameters hash>/`` holding
``notebook.ipynb`` (executed), ``report.html``, ``parameters.json``, ``status.json`` and any
file the notebook writes to :func:`output_folder` (e.g. a data export beside the report).
The folder is assembled under a hidden name and renamed when complete; a failed run is
archived too, with its error, so nothing a scheduler started is lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from quantdesk.catalog.store import catalog_root
from quantdesk.config.settings import REPOSITORY_ROOT
from quantdesk.errors import QuantDeskError

REPORTS = REPOSITORY_ROOT / "notebooks" / "reports"
KERNEL_NAME = "quantdesk"
JOB_FOLDER = "QUANTDESK_JOB_FOLDER"  # a running job's archive folder, for files its notebook writes


@dataclass(frozen=True)
class JobRecord:
    """The outcome of one job run."""

    job: str
    folder: Path
    status: str
    parameters: dict[str, Any]
    started: str
    seconds: float
    error: str | None = None


def available_jobs() -> list[str]:
    """Return the job names: the stems of the notebooks in ``notebooks/reports/``."""
    return sorted(p.stem for p in REPORTS.glob("*.ipynb"))


def _notebook(name: str) -> Path:
    path = REPORTS / f"{name}.ipynb"
    if not path.is_file():
        raise QuantDeskError(f"Unknown job {name!r}: the jobs are {', '.join(available_jobs()) or 'none'}")
    return path


def _convert(job: str, name: str, raw: Any, declared: dict[str, Any]) -> Any:
    """Convert a CLI string to the type the notebook's parameters cell declares."""
    if name not in declared:
        raise QuantDeskError(f"Unknown parameter {name!r} for job {job}: it accepts {', '.join(declared)}")
    if not isinstance(raw, str):
        return raw
    kind = (declared[name].get("inferred_type_name") or "str").lower()
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
    except ValueError:
        raise QuantDeskError(f"Parameter {name}={raw!r} for job {job} is not a valid {kind}") from None
    return raw


def output_folder(folder: str | Path = "") -> Path:
    """Return where a report notebook writes its files: ``folder``, else its job's archive folder, else the current one.

    A job's files written there end up next to its ``report.html``.
    """
    return Path(folder or os.environ.get(JOB_FOLDER) or ".")


@contextlib.contextmanager
def _kernel_environment(catalog: Path, folder: Path) -> Iterator[None]:
    """Let the kernel find the repository's kernel spec, the chosen catalog and the run's archive folder."""
    saved = {key: os.environ.get(key) for key in ("JUPYTER_PATH", "QUANTDESK_CATALOG", JOB_FOLDER)}
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(REPOSITORY_ROOT), saved["JUPYTER_PATH"]]))
    os.environ["QUANTDESK_CATALOG"] = str(catalog)
    os.environ[JOB_FOLDER] = str(folder)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _write_html(executed: Path, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_filename(str(executed))
    target.write_text(body, encoding="utf-8")


def run_job(
    name: str, parameters: dict[str, Any] | None = None, catalog: str | Path | None = None, progress: bool = True
) -> JobRecord:
    """Execute ``notebooks/reports/<name>.ipynb`` with ``parameters`` and archive the run.

    Parameters
    ----------
    name : str
        Job name (notebook stem).
    parameters : dict, optional
        Overrides of the notebook's ``parameters`` cell; strings are converted to the
        declared types.
    catalog : str or Path, optional
        Catalog root the report reads and the archive is written under.
    progress : bool
        Show papermill's cell progress bar.

    Returns
    -------
    JobRecord
        ``status`` is ``"succeeded"`` or ``"failed"`` (with ``error``).
    """
    import papermill

    notebook = _notebook(name)
    declared = papermill.inspect_notebook(str(notebook))
    values = {key: _convert(name, key, value, declared) for key, value in (parameters or {}).items()}
    root = catalog_root(catalog)
    archive = root / "jobs" / name
    archive.mkdir(parents=True, exist_ok=True)

    started = datetime.now(UTC)
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
    run_name = f"{started:%Y%m%dT%H%M%S}Z-{digest}"
    staging = Path(tempfile.mkdtemp(dir=archive, prefix=f".running-{run_name}-"))
    (staging / "parameters.json").write_text(json.dumps(values, indent=2, default=str))

    error: str | None = None
    clock = time.perf_counter()
    with _kernel_environment(root, staging):
        try:
            papermill.execute_notebook(
                str(notebook),
                str(staging / "notebook.ipynb"),
                parameters=values,
                kernel_name=KERNEL_NAME,
                cwd=str(notebook.parent),
                progress_bar=progress,
            )
        except papermill.PapermillExecutionError as failure:
            error = f"{failure.ename}: {failure.evalue} (cell {failure.exec_count})"
        except Exception as failure:  # kernel could not start, notebook unreadable, ...
            error = f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - clock
    if (staging / "notebook.ipynb").exists():
        _write_html(staging / "notebook.ipynb", staging / "report.html")
    status = "failed" if error else "succeeded"
    (staging / "status.json").write_text(
        json.dumps({"status": status, "started": started.isoformat(), "seconds": seconds, "error": error}, indent=2)
    )
    folder = archive / run_name
    if folder.exists():  # same second, same parameters: keep both
        folder = archive / f"{run_name}-{staging.name[-6:]}"
    staging.rename(folder)
    return JobRecord(name, folder, status, values, started.isoformat(), seconds, error)


def list_job_runs(name: str | None = None, catalog: str | Path | None = None) -> pd.DataFrame:
    """Return past job runs, newest first: job, run, status, started, seconds, parameters, folder."""
    if name is not None:
        _notebook(name)
    rows = []
    jobs_root = catalog_root(catalog) / "jobs"
    for status_file in sorted(jobs_root.glob(f"{name or '*'}/*/status.json")):
        folder = status_file.parent
        if folder.name.startswith("."):
            continue
        status = json.loads(status_file.read_text())
        rows.append(
            {
                "job": folder.parent.name,
                "run": folder.name,
                "status": status["status"],
                "started": status["started"],
                "seconds": round(status["seconds"], 1),
                "parameters": (folder / "parameters.json").read_text().replace("\n", " "),
                "folder": str(folder),
            }
        )
    frame = pd.DataFrame(rows, columns=["job", "run", "status", "started", "seconds", "parameters", "folder"])
    return frame.sort_values("started", ascending=False, ignore_index=True)


__all__ = ["JobRecord", "available_jobs", "list_job_runs", "output_folder", "run_job"]
