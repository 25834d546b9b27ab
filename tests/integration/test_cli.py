"""The command line: a good spec runs; each kind of bad input exits non-zero with one line naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantdesk.testing import subprocess_env

QUANTDESK = [sys.executable, "-m", "quantdesk.cli"]
GOOD = {
    "strategy": "quantdesk.strategies.ema_cross:EMACross",
    "instrument_ids": ["MSFT.XNAS"],
    "bar_spec": "1-DAY-LAST",
    "start": "2010-01-01",
    "end": "2011-12-31",
    "parameters": {"fast_period": 5, "slow_period": 20, "trade_size": 200},
}


def quantdesk(*args: str, catalog: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*QUANTDESK, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(QUANTDESK_CATALOG=str(catalog)),
        timeout=300,
    )


def test_backtest_run_from_yaml_then_list(catalog_root: Path, tmp_path: Path) -> None:
    spec = tmp_path / "msft.yaml"
    spec.write_text(yaml.safe_dump(GOOD))
    done = quantdesk("backtest", "run", str(spec), "--json", catalog=catalog_root)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["fills"] > 0 and summary["first_bar"].startswith("2010-01-04")
    assert summary["last_bar"].startswith("2011-12-30")
    listed = quantdesk("backtest", "list", catalog=catalog_root)
    assert summary["run_id"][:12] in listed.stdout


@pytest.mark.parametrize(
    ("change", "named", "advice"),
    [
        ({"instrument_ids": ["TSLA.XNAS"]}, "TSLA.XNAS", "the catalog has"),
        ({"strategy": "quantdesk.strategies.nope:Nope"}, "quantdesk.strategies.nope:Nope", "cannot be imported"),
        ({"strategy": "quantdesk.strategies.ema_cross"}, "quantdesk.strategies.ema_cross", "module:Class"),
        ({"parameters": {"fast_period": "ten"}}, "fast_period='ten'", "Expected `int`"),
        ({"parameters": {"speed": 3}}, "speed", "it accepts"),
        ({"starting_capital": "lots"}, "starting_capital", "Expected `float`"),
        ({"start": "2012-01-01", "end": "2011-01-01"}, "start 2012-01-01 is not before end 2011-01-01", "Empty date range"),
        ({"start": "2011-13-45"}, "2011-13-45", "ISO 8601"),
        ({"start": "2020-01-01", "end": "2020-12-31"}, "2020-01-01", "the catalog has 2000-03-01 to 2013-03-01"),
        ({"instrument_ids": ["SPX.INDEX"]}, "SPX.INDEX", "cannot be traded"),
    ],
)
def test_bad_spec_is_one_clear_line(catalog_root: Path, tmp_path: Path, change: dict, named: str, advice: str) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({**GOOD, **change}))
    done = quantdesk("backtest", "run", str(spec), catalog=catalog_root)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert named in lines[0] and advice in lines[0]
    assert "Traceback" not in done.stderr


def test_missing_catalog_is_one_clear_line(tmp_path: Path) -> None:
    spec = tmp_path / "good.json"
    spec.write_text(json.dumps(GOOD))
    done = quantdesk("backtest", "run", str(spec), catalog=tmp_path / "no-catalog")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "no-catalog" in done.stderr and "quantdesk catalog sample" in done.stderr


def test_missing_spec_file_is_one_clear_line(catalog_root: Path, tmp_path: Path) -> None:
    done = quantdesk("backtest", "run", str(tmp_path / "absent.yaml"), catalog=catalog_root)
    assert done.returncode == 2 and "absent.yaml" in done.stderr and done.stderr.strip().count("\n") == 0


@pytest.mark.slow
def test_sweep_and_walk_forward_from_yaml(catalog_root: Path, tmp_path: Path) -> None:
    sweep = {"base": GOOD | {"start": "2006-01-01"}, "grid": {"fast_period": [5, 10], "slow_period": [20, 40]}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    env = {"QUANTDESK_DASK_WORKERS": "2"}
    done = subprocess.run([*QUANTDESK, "backtest", "sweep", str(tmp_path / "sweep.yaml")], capture_output=True, text=True,
                          env=subprocess_env(QUANTDESK_CATALOG=str(catalog_root), **env), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sweep ") and "4 combinations, objective sharpe" in lines[0]
    assert len(lines) == 2 + 4 and all("finished" in line or "stored" in line for line in lines[2:])

    walk = {"sweep": sweep, "in_sample_months": 36, "out_of_sample_months": 12}
    (tmp_path / "walk.yaml").write_text(yaml.safe_dump(walk))
    done = subprocess.run([*QUANTDESK, "backtest", "walk-forward", str(tmp_path / "walk.yaml")], capture_output=True,
                          text=True, env=subprocess_env(QUANTDESK_CATALOG=str(catalog_root), **env), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 windows" in done.stdout and "stitched out-of-sample return" in done.stdout


@pytest.mark.parametrize(
    ("command", "config", "named"),
    [
        ("sweep", {"base": GOOD, "grid": {"speed": [1, 2]}}, "Sweep parameter 'speed' is not a field of EMACrossConfig"),
        ("sweep", {"base": GOOD, "grid": {"fast_period": [5]}, "objective": "luck"}, "Unknown objective 'luck'"),
        ("sweep", {"base": GOOD, "grid": {"fast_period": [5]}, "method": "random"}, "samples=None with method random"),
        ("sweep", {"base": GOOD, "grid": {"fast_period": "5"}}, "Sweep parameter 'fast_period': write a list"),
        ("walk-forward", {"sweep": {"base": GOOD, "grid": {"fast_period": [5]}}, "in_sample_months": 30},
         "No walk-forward window fits between 2010-01-01 and 2011-12-31"),
    ],
)
def test_bad_sweep_files_are_one_line(catalog_root: Path, tmp_path: Path, command: str, config: dict, named: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    done = quantdesk("backtest", command, str(path), catalog=catalog_root)
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], lines


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"replay": {"instrument_ids": ["AAPL.XNAS"], "speed": -1}}, "replay.speed -1.0 is negative"),
        ({"replay": {"instrument_ids": ["AAPL.XNAS"]}, "colour": "red"}, "unknown field `colour`"),
        ({"replay": {"instrument_ids": ["NOPE.XNAS"]}}, "NOPE.XNAS"),
        ({"data": "ib", "execution": "ib", "ib": {"port": 1, "account_id": "DU1", "instrument_ids": ["AAPL.NASDAQ"]}},
         "No Interactive Brokers Gateway answers at 127.0.0.1:1"),
    ],
)
def test_bad_node_configs_are_one_line(catalog_root: Path, tmp_path: Path, config: dict, named: str) -> None:
    path = tmp_path / "node.json"
    path.write_text(json.dumps({"name": "cli", **config}))
    done = quantdesk("node", "run", str(path), catalog=catalog_root)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
