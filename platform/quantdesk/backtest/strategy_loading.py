"""Resolve ``module:Class`` strategy paths and build their configs with clear errors."""

from __future__ import annotations

import importlib
import json
import typing
from typing import Any

import msgspec
from nautilus_trader.config import StrategyConfig
from nautilus_trader.trading.strategy import Strategy

from quantdesk.errors import QuantDeskError

EXAMPLE_PATH = "quantdesk.strategies.ema_cross:EMACross"


def resolve_strategy(path: str) -> tuple[type[Strategy], type[StrategyConfig]]:
    """Return the strategy class at ``module:Class`` and its config class.

    The config class is the annotated type of the strategy's ``config`` argument,
    falling back to ``<Class>Config`` in the same module.
    """
    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name:
        raise QuantDeskError(f"Strategy path {path!r} is not module:Class, e.g. {EXAMPLE_PATH}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise QuantDeskError(f"Unknown strategy {path!r}: module {module_name!r} cannot be imported ({error})") from None
    strategy = getattr(module, class_name, None)
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise QuantDeskError(f"Unknown strategy {path!r}: {module_name} has no Strategy subclass named {class_name!r}")
    try:
        config = typing.get_type_hints(strategy.__init__).get("config")
    except Exception:  # unresolvable annotations: use the naming convention
        config = None
    if not (isinstance(config, type) and issubclass(config, StrategyConfig)):
        config = getattr(module, f"{class_name}Config", None)
    if not (isinstance(config, type) and issubclass(config, StrategyConfig)):
        raise QuantDeskError(f"Strategy {path!r} has no config class: annotate __init__(config: ...) or define {class_name}Config")
    return strategy, config


def config_path(config: type[StrategyConfig]) -> str:
    """Return ``module:Class`` of a config class."""
    return f"{config.__module__}:{config.__name__}"


def build_strategy_config(config: type[StrategyConfig], parameters: dict[str, Any]) -> StrategyConfig:
    """Validate ``parameters`` against ``config`` and return the config instance."""
    fields = set(config.__struct_fields__)
    unknown = sorted(set(parameters) - fields)
    if unknown:
        accepted = ", ".join(sorted(fields - set(StrategyConfig.__struct_fields__)))
        raise QuantDeskError(f"Unknown parameter {unknown[0]!r} for {config.__name__}: it accepts {accepted}")
    try:
        return config.parse(json.dumps(parameters, default=str))
    except msgspec.ValidationError as error:
        message = str(error)
        if " - at `$." in message:
            what, where = message.rsplit(" - at `$.", 1)
            name = where.rstrip("`")
            raise QuantDeskError(
                f"Parameter {name}={parameters.get(name)!r} for {config.__name__} is invalid: {what}"
            ) from None
        raise QuantDeskError(f"Parameters for {config.__name__} are invalid: {message}") from None
    except ValueError as error:
        raise QuantDeskError(f"Parameters for {config.__name__} are invalid: {error}") from None
