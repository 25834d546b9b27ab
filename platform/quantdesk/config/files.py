"""Read run configs from JSON or YAML files, and turn plain data into frozen configs with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from quantdesk.errors import QuantDeskError

Config = TypeVar("Config")


def read_mapping(path: str | Path, what: str = "spec") -> dict[str, Any]:
    """Return the mapping stored in a ``.json``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    if not path.is_file():
        raise QuantDeskError(f"{what.capitalize()} file {str(path)!r} does not exist: give the path of a .json or .yaml {what}")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:
        raise QuantDeskError(f"{what.capitalize()} file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'JSON'}: {error}") from None
    if not isinstance(data, dict):
        raise QuantDeskError(f"{what.capitalize()} file {str(path)!r} must hold a mapping of fields, not {type(data).__name__}")
    return data


def convert(mapping: dict[str, Any], config_class: type[Config], source: str) -> Config:
    """Build ``config_class`` from plain data, naming the bad field when it does not fit."""
    try:
        return msgspec.convert(mapping, config_class)
    except msgspec.ValidationError as error:
        raise QuantDeskError(f"Bad {source}: {describe(error)}") from None


def describe(error: msgspec.ValidationError) -> str:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.x``` into a user's sentence."""
    message = str(error)
    if " - at `$." in message:
        what, where = message.rsplit(" - at `$.", 1)
        return f"field {where.rstrip('`')!r}: {what}"
    return message
