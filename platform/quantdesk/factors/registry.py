"""The factor registry: named, documented, pure functions over (time x asset) arrays, with parameter grids.

A *factor* is a function ``f(data, **parameters) -> array``; ``data`` maps input names
(:data:`quantdesk.factors.panel.INPUTS` and any external series) to float64 arrays of shape
``(time, asset)`` (external and market series: ``(time,)``), NaN where an asset has no bar.
It returns a float64 ``(time, asset)`` array, NaN wherever the window does not yet hold
enough observations. It never changes its inputs and looks only backwards in time, so the
pipeline may call it on any block of assets (over the full history) in any process.

A *variant* is one factor with one set of parameters; a *factor series* is one variant on
one asset. Factors registered here form the built-in library (``quantdesk.factors.library``);
a user's own function is addressed by its ``module:function`` path and may carry a grid
through the :func:`factor` decorator.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantdesk.errors import QuantDeskError

FactorFunction = Callable[..., np.ndarray]

_REGISTRY: dict[str, "Factor"] = {}
_LIBRARY = "quantdesk.factors.library"


@dataclass(frozen=True)
class Factor:
    """One registered factor.

    Attributes
    ----------
    name : str
        Registry name (``rsi``), or ``module:function`` for a user factor.
    family : str
        ``momentum``, ``volatility``, ``liquidity``, ``technical``, ``cross_asset``, ``macro`` or ``user``.
    function : callable
        ``function(data, **parameters) -> ndarray (time, asset)``.
    grid : dict
        Parameter name -> the values the default grid tries.
    inputs : tuple of str
        Keys of ``data`` the function reads.
    doc : str
        First line of the function's docstring.
    """

    name: str
    family: str
    function: FactorFunction = field(repr=False, compare=False)
    grid: Mapping[str, tuple] = field(default_factory=dict)
    inputs: tuple[str, ...] = ("close",)
    doc: str = ""

    def variants(self, grid: Mapping[str, Sequence] | None = None) -> list["Variant"]:
        """Return one variant per combination of ``grid`` (default: the factor's own grid)."""
        grid = dict(self.grid if grid is None else grid)
        unknown = set(grid) - set(self.parameter_names())
        if unknown:
            raise QuantDeskError(
                f"Factor {self.name!r} has no parameter {', '.join(sorted(unknown))}: "
                f"its parameters are {', '.join(self.parameter_names()) or 'none'}"
            )
        names = sorted(grid)
        combos = itertools.product(*(list(grid[name]) for name in names)) if names else [()]
        return [Variant(self.name, tuple(zip(names, combo))) for combo in combos]

    def parameter_names(self) -> list[str]:
        """Return the keyword parameters the function takes after ``data``."""
        signature = inspect.signature(self.function)
        return [p.name for p in list(signature.parameters.values())[1:] if p.kind is not p.VAR_KEYWORD]


@dataclass(frozen=True, order=True)
class Variant:
    """One factor with one set of parameters, e.g. ``rsi(window=14)``."""

    factor: str
    parameters: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """Return the variant's name in tables and in the factor store."""
        inside = ", ".join(f"{name}={value}" for name, value in self.parameters)
        return f"{self.factor}({inside})"

    @property
    def lookback(self) -> int:
        """Return the longest window among the parameters (bars of history the first value needs)."""
        windows = [int(v) for _, v in self.parameters if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
        return max(windows, default=1)

    def compute(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return this variant's values on ``data``."""
        return get_factor(self.factor).function(data, **dict(self.parameters))


def factor(
    name: str | None = None,
    *,
    family: str = "user",
    grid: Mapping[str, Iterable] | None = None,
    inputs: Sequence[str] = ("close",),
) -> Callable[[FactorFunction], FactorFunction]:
    """Register the decorated function as a factor (the built-in library uses this; so may users).

    Parameters
    ----------
    name : str, optional
        Registry name; defaults to the function's name.
    family : str
        Factor family, for grouping in listings and the dashboard.
    grid : mapping, optional
        Parameter name -> values of the default grid.
    inputs : sequence of str
        Keys of ``data`` the function reads (``close``, ``high``, ``volume``, ``market``, ...).
    """

    def register(function: FactorFunction) -> FactorFunction:
        key = name or function.__name__
        doc = (inspect.getdoc(function) or "").split("\n", 1)[0]
        entry = Factor(key, family, function, {k: tuple(v) for k, v in (grid or {}).items()}, tuple(inputs), doc)
        function.factor = entry  # so a user function found by its path keeps its grid
        # Only the library's own factors are listed by name; a user's stay addressed by path,
        # so importing a user's module never changes what "every built-in factor" means.
        if function.__module__.startswith(_LIBRARY):
            _REGISTRY[key] = entry
        return function

    return register


def registry() -> dict[str, Factor]:
    """Return every built-in factor by name."""
    importlib.import_module(_LIBRARY)  # registers the built-in families
    return dict(_REGISTRY)


def get_factor(name: str) -> Factor:
    """Return the factor ``name``: a registry name, or ``module:function`` for a user factor.

    Raises
    ------
    QuantDeskError
        For an unknown name (with the closest names) or a path that does not import.
    """
    if ":" in name:
        return _user_factor(name)
    factors = registry()
    if name not in factors:
        close = difflib.get_close_matches(name, factors, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise QuantDeskError(f"Unknown factor {name!r}: {hint}`quantdesk factors list` shows them all")
    return factors[name]


def _user_factor(path: str) -> Factor:
    module_name, _, attribute = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise QuantDeskError(f"Factor {path!r} does not import ({error}): give an importable module:function") from None
    if not callable(function):
        raise QuantDeskError(f"Factor {path!r} is not a function")
    registered = getattr(function, "factor", None)
    if registered is not None:
        return Factor(path, registered.family, function, registered.grid, registered.inputs, registered.doc)
    return Factor(path, "user", function, {}, ("close",), (inspect.getdoc(function) or "").split("\n", 1)[0])


def expand(selection: Mapping[str, Mapping[str, Sequence] | None]) -> list[Variant]:
    """Return the variants of a selection: factor name -> its grid (None for the factor's default grid)."""
    variants: list[Variant] = []
    for name, grid in selection.items():
        variants.extend(get_factor(name).variants(grid))
    return sorted(set(variants), key=variants.index)
