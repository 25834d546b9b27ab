"""Repository rules: layout, the stdlib `platform` module, pyproject/environment.yml agreement, notebooks."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
# Conda-forge names of pyproject requirements where they differ; an extra becomes its own package.
CONDA_NAMES = {"arch": ["arch-py"], "dask[distributed]": ["dask", "distributed"]}


def test_platform_is_a_source_root_not_a_package() -> None:
    assert not (ROOT / "platform" / "__init__.py").exists()
    for folder in ("notebooks/research", "notebooks/reports", "apps", "platform/quantdesk", "kernels", "catalog", "tests"):
        assert (ROOT / folder).is_dir(), folder
    committed = subprocess.run(["git", "ls-files", "catalog"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert sorted(committed) == ["catalog/.gitignore", "catalog/README.md"]


def test_import_platform_from_the_repository_root_is_the_standard_library() -> None:
    probe = "import platform; print(platform.__file__); print(platform.python_version())"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    location, version = out.split()
    assert Path(location).parent == Path(sysconfig.get_paths()["stdlib"])
    assert version == ".".join(map(str, sys.version_info[:3]))


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", requirement.strip())
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_yml_mirrors_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted: dict[str, str] = {}
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name, spec = _split(requirement)
        for conda_name in CONDA_NAMES.get(name, [name]):
            wanted[conda_name] = spec

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    have: dict[str, str] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for pip_requirement in entry["pip"]:
                if pip_requirement != "-e .":
                    name, spec = _split(pip_requirement)
                    have[name] = spec
        elif entry.startswith("python="):
            assert entry == "python=3.12"
            assert project["requires-python"] == ">=3.12"
        elif entry != "pip":
            name, spec = _split(entry)
            have[name] = spec
    assert have == wanted


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    assert book.cells[0].cell_type == "markdown" and book.cells[0].source.startswith("# ")
    parameters = book.cells[1]
    assert parameters.cell_type == "code" and "parameters" in parameters.metadata.get("tags", [])
    for statement in ast.parse(parameters.source).body:  # literals only, each annotated
        assert isinstance(statement, ast.AnnAssign) and isinstance(statement.value, ast.Constant)
    for line in parameters.source.splitlines():
        assert "  # " in line, f"parameter without help: {line}"
    assert all(not c.get("outputs") and not c.get("execution_count") for c in book.cells if c.cell_type == "code")
    assert book.metadata.kernelspec.name == "quantdesk"
    assert not any(re.search(r"^\s*(def|class) ", c.source, re.M) for c in book.cells if c.cell_type == "code")


def test_kernel_spec_starts_the_repository_venv() -> None:
    import json

    spec = json.loads((ROOT / "kernels" / "quantdesk" / "kernel.json").read_text())
    launcher = ROOT / "kernels" / "quantdesk" / "start-kernel"
    assert spec["argv"][0] == "{resource_dir}/start-kernel" and launcher.stat().st_mode & 0o111


def test_apps_are_thin() -> None:
    for app in (ROOT / "apps").glob("*.py"):
        tree = ast.parse(app.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))], app.name
        assert ".servable(" in app.read_text(), app.name
        assert len(app.read_text().splitlines()) <= 15, app.name
