"""Frozen configs of parameter sweeps and walk-forward optimizations."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from nautilus_trader.common.config import NautilusConfig

from quantdesk.config.backtest import BacktestSpec
from quantdesk.config.files import convert, read_mapping
from quantdesk.errors import QuantDeskError

METHODS = ("grid", "random")


class SweepConfig(NautilusConfig, frozen=True):
    """A set of backtests: one base spec, and the strategy parameters to vary.

    Parameters
    ----------
    base : BacktestSpec
        The run every combination starts from; its ``parameters`` hold the fixed ones.
    grid : dict
        Strategy config field -> the values to try: a list, or ``{start, stop, step}``
        (``stop`` included when the steps land on it), e.g. ``{"fast_period": [5, 10],
        "slow_period": {"start": 20, "stop": 60, "step": 10}}``.
    method : str
        ``grid`` runs every combination; ``random`` draws ``samples`` distinct ones.
    samples : int, optional
        Combinations drawn by ``random``.
    seed : int
        Seed of the ``random`` draw (the same seed draws the same combinations).
    objective : str
        What to maximize: ``sharpe``, ``sortino``, ``calmar`` (CAGR / max drawdown),
        ``profit_factor``, ``total_return``, or ``module:function`` taking the run's summary dict.
    """

    base: BacktestSpec
    grid: dict[str, Any]  # checked by values(): a list, or a {start, stop, step} mapping
    method: str = "grid"
    samples: int | None = None
    seed: int = 0
    objective: str = "sharpe"

    def __hash__(self) -> int:
        return hash(self.id)

    def values(self) -> dict[str, list[Any]]:
        """Return the grid with every ``{start, stop, step}`` range expanded to its values."""
        return {name: _expand(name, values) for name, values in self.grid.items()}

    def size(self) -> int:
        """Return the number of combinations in the full grid."""
        return math.prod(len(values) for values in self.values().values())

    def check(self) -> SweepConfig:
        """Check the fields that need no catalog; return self so calls chain."""
        self.base.check()
        if self.method not in METHODS:
            raise QuantDeskError(f"Unknown sweep method {self.method!r}: use one of {', '.join(METHODS)}")
        if not self.grid:
            raise QuantDeskError("The sweep grid is empty: give at least one parameter and its values")
        for name, values in self.values().items():
            if not values:
                raise QuantDeskError(f"Sweep parameter {name!r} has no values: list at least one")
        if self.method == "random" and (self.samples is None or self.samples < 1):
            raise QuantDeskError(f"samples={self.samples} with method random: draw at least 1 combination")
        return self

    def combinations(self) -> list[dict[str, Any]]:
        """Return the parameter combinations to run, in a stable order."""
        values = self.values()
        names = list(values)
        if self.method == "grid":
            return [dict(zip(names, combo)) for combo in itertools.product(*values.values())]
        total = self.size()
        # Draw indices into the full product rather than listing it: grids can be huge.
        drawn = np.random.default_rng(self.seed).choice(total, size=min(self.samples, total), replace=False)
        sizes = [len(values[name]) for name in names]
        combos = []
        for index in sorted(int(i) for i in drawn):
            combo = {}
            for name, size in zip(reversed(names), reversed(sizes)):
                index, position = divmod(index, size)
                combo[name] = values[name][position]
            combos.append({name: combo[name] for name in names})
        return combos

    def specs(self) -> list[BacktestSpec]:
        """Return one backtest spec per combination (base parameters overridden by the grid's)."""
        return [msgspec.structs.replace(self.base, parameters={**self.base.parameters, **combo}) for combo in self.combinations()]

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "sweep") -> SweepConfig:
        """Build a sweep from plain data (parsed JSON/YAML), naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> SweepConfig:
        """Read a sweep from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls.from_mapping(read_mapping(path, "sweep"), source=f"sweep {str(path)!r}")


class WalkForwardConfig(NautilusConfig, frozen=True):
    """Optimize on a window, trade the next one with the winner, step forward, repeat.

    Parameters
    ----------
    sweep : SweepConfig
        What to optimize and how; its base spec's ``start``/``end`` span all windows.
    in_sample_months : int
        Length of each optimization window.
    out_of_sample_months : int
        Length of each trading window that follows it (also the step between windows).
    anchored : bool
        Keep every in-sample window starting at the first date (growing) instead of rolling.
    """

    sweep: SweepConfig
    in_sample_months: int = 36
    out_of_sample_months: int = 12
    anchored: bool = False

    def __hash__(self) -> int:
        return hash(self.id)

    def check(self) -> WalkForwardConfig:
        """Check the windows fit in the base period; return self so calls chain."""
        self.sweep.check()
        for name in ("in_sample_months", "out_of_sample_months"):
            if getattr(self, name) < 1:
                raise QuantDeskError(f"{name}={getattr(self, name)} must be at least 1")
        start, end = self.sweep.base.period()
        if start is None or end is None:
            raise QuantDeskError("A walk-forward needs the base spec's start and end: set both")
        if not self.windows():
            raise QuantDeskError(
                f"No walk-forward window fits between {self.sweep.base.start} and {self.sweep.base.end}: "
                f"{self.in_sample_months} + {self.out_of_sample_months} months are longer than the period"
            )
        return self

    def windows(self) -> list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, pd.Timestamp]]:
        """Return ``(in-sample start, in-sample end, out-of-sample start, out-of-sample end)`` per window.

        Ends are exclusive instants (the next window's start), so no bar is in two of them.
        """
        start, end = self.sweep.base.period()
        first = start.normalize()
        in_sample = pd.DateOffset(months=self.in_sample_months)
        windows = []
        for k in itertools.count():
            step = pd.DateOffset(months=k * self.out_of_sample_months)
            in_start = first if self.anchored else first + step
            in_end = first + step + in_sample
            out_end = in_end + pd.DateOffset(months=self.out_of_sample_months)
            if out_end - pd.Timedelta(1, unit="ns") > end:
                return windows
            windows.append((in_start, in_end, in_end, out_end))
        raise AssertionError("unreachable")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "walk-forward") -> WalkForwardConfig:
        """Build a walk-forward config from plain data, naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> WalkForwardConfig:
        """Read a walk-forward config from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls.from_mapping(read_mapping(path, "walk-forward config"), source=f"walk-forward {str(path)!r}")


def _expand(name: str, values: Any) -> list[Any]:
    if isinstance(values, list):
        return values
    if not isinstance(values, dict):
        raise QuantDeskError(f"Sweep parameter {name!r}: write a list of values or {{start, stop, step}}, not {values!r}")
    unknown = set(values) - {"start", "stop", "step"}
    if unknown or not {"start", "stop"} <= set(values):
        raise QuantDeskError(f"Sweep parameter {name!r}: write a list of values or {{start, stop, step}}, not {values}")
    start, stop, step = values["start"], values["stop"], values.get("step", 1)
    if not step or (stop - start) / step < 0:
        raise QuantDeskError(f"Sweep parameter {name!r}: step {step} never gets from {start} to {stop}")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    expanded = [start + i * step for i in range(count)]
    return [round(v, 12) if isinstance(v, float) else v for v in expanded]
