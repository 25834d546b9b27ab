"""What a sweep maximizes: a number computed from a run's summary (higher is better)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from quantdesk.errors import QuantDeskError

Objective = Callable[[dict[str, Any]], float | None]


def _calmar(summary: dict[str, Any]) -> float | None:
    cagr, drawdown = summary.get("cagr"), summary.get("max_drawdown")
    if cagr is None or not drawdown:
        return None
    return cagr / -drawdown


BUILT_IN: dict[str, Objective] = {
    "sharpe": lambda summary: summary.get("sharpe"),
    "sortino": lambda summary: summary.get("sortino"),
    "calmar": _calmar,
    "profit_factor": lambda summary: summary.get("profit_factor"),
    "total_return": lambda summary: summary.get("total_return"),
}


def resolve_objective(name: str) -> Objective:
    """Return the objective called ``name``: a built-in one or a ``module:function`` path."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    module_name, _, function_name = name.partition(":")
    if not module_name or not function_name:
        raise QuantDeskError(
            f"Unknown objective {name!r}: use one of {', '.join(BUILT_IN)} or a module:function path"
        )
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise QuantDeskError(f"Objective {name!r} cannot be loaded ({error}): check the module:function path") from None
    if not callable(function):
        raise QuantDeskError(f"Objective {name!r} is not a function")
    return function


def score(objective: Objective, summary: dict[str, Any]) -> float | None:
    """Return the objective's value, or None where it is undefined (no trades, zero volatility, ...)."""
    value = objective(summary)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
