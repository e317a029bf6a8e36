"""Map `--model` names to adapter classes, importing each family's module only when asked for.

Importing lazily keeps `dsconv train --model florence2` from importing Moondream2's code (and
the other way round), and lets a family's module land later without touching this file:
built-in families live in `dsconv.models.<name>`; third parties register through the
`dsconv.models` entry-point group.
"""

from __future__ import annotations

import importlib
import inspect
import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter

BUILTIN = ("florence2", "moondream2", "chat", "paligemma")
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


# What `detect_family` recognises, for its error message.
SUPPORTED = ("Florence-2 (florence2)", "Moondream2 remote code (moondream2)",
             "PaliGemma (paligemma)",
             "any model AutoModelForImageTextToText loads with a chat template (chat)")


def detect_family(base: str, revision: str | None = None) -> str:
    """The adapter for a checkpoint, read from its `config.json` (a local folder or the Hub).

    Florence-2 and PaliGemma have their own adapters although transformers' image-text-to-text
    mapping lists them; Moondream2 is remote code (`auto_map`/`architectures` name it); every
    other model type that `AutoModelForImageTextToText` maps is served by the chat adapter.
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    config = read_config(base, revision)
    model_type = str(config.get("model_type") or "")
    remote = [str(v) for v in (config.get("auto_map") or {}).values()]
    names = [model_type, *remote, *(str(a) for a in config.get("architectures") or [])]
    if model_type == "florence2":
        return "florence2"
    if any("moondream" in name.lower() for name in names):
        return "moondream2"
    if model_type == "paligemma":
        return "paligemma"
    if model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return "chat"
    raise DsconvError(f"{base}: model type {model_type or 'unknown'!r} is not supported; "
                      f"supported: {', '.join(SUPPORTED)}; or force one with --model")


def read_config(base: str, revision: str | None = None) -> dict[str, Any]:
    """`config.json` of a local folder, else of a Hub repo (one small download, cached)."""
    path = Path(base) / "config.json"
    if Path(base).is_dir():
        if not path.is_file():
            raise DsconvError(f"{base}: not a model folder (no config.json)")
    else:
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(base, "config.json", revision=revision))
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DsconvError(f"{base}: cannot read its config.json to tell the model family "
                              f"({reason}); pass --model") from exc
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DsconvError(f"{path}: not a JSON config ({exc})") from exc
    if not isinstance(config, dict):
        raise DsconvError(f"{path}: not a JSON object")
    return config
