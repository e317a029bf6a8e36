"""Map `--model` names to adapter classes, importing each family's module only when asked for.

Importing lazily keeps `dsconv train --model florence2` from importing Moondream2's code (and
the other way round), and lets a family's module land later without touching this file:
built-in families live in `dsconv.models.<name>`; third parties register through the
`dsconv.models` entry-point group.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import TypeVar

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter

BUILTIN = ("florence2", "moondream2")
ENTRY_POINT_GROUP = "dsconv.models"

_ADAPTERS: dict[str, type[ModelAdapter]] = {}
A = TypeVar("A", bound=type[ModelAdapter])


def register(cls: A) -> A:
    """Class decorator: make `cls` available as `--model cls.family`."""
    _ADAPTERS[cls.family] = cls
    return cls


def available() -> list[str]:
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(BUILTIN) | set(_ADAPTERS) | plugins)


def get_adapter(name: str) -> type[ModelAdapter]:
    """The adapter class for `name`, importing its module on first use."""
    if name in _ADAPTERS:
        return _ADAPTERS[name]
    if name in BUILTIN:
        module_name = f"dsconv.models.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise DsconvError(f"model family {name!r} is not available in this dsconv") from exc
            raise DsconvError(f"model family {name!r} needs {exc.name!r}: {exc}") from exc
        _register_from(module, name)
    else:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            register(ep.load())
    if name not in _ADAPTERS:
        raise DsconvError(f"unknown model {name!r} (choose from: {', '.join(available())})")
    return _ADAPTERS[name]


def _register_from(module: object, name: str) -> None:
    """Register the module's adapter even if it forgot the decorator."""
    if name in _ADAPTERS:
        return
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, ModelAdapter) and getattr(obj, "family", None) == name:
            register(obj)
            return
