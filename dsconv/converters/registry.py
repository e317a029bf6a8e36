"""Readers by format name: the built-in ones plus any installed through the
`dsconv.converters` entry-point group, so a third party adds a format with a pip install."""

from __future__ import annotations

from dataclasses import fields
from importlib.metadata import entry_points
from typing import Any

from dsconv.errors import DsconvError

GROUP = "dsconv.converters"
BUILTIN = {
    "coco": "dsconv.converters.coco:CocoReader",
    "yolo": "dsconv.converters.yolo:YoloReader",
    "voc": "dsconv.converters.voc:VocReader",
    "dota": "dsconv.converters.dota:DotaReader",
    "labelme": "dsconv.converters.labelme:LabelMeReader",
    "cvat": "dsconv.converters.cvat:CvatReader",
    "labelstudio": "dsconv.converters.labelstudio:LabelStudioReader",
    "hf": "dsconv.converters.hf:HfReader",
}


def available() -> dict[str, str]:
    """Format name → "module:Class", built-ins first; an installed plugin may not replace one."""
    found = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def get_reader(name: str) -> type:
    target = available().get(name)
    if target is None:
        raise DsconvError(f"unknown format {name!r} (installed: {', '.join(available())})")
    module_name, _, attr = target.partition(":")
    try:
        module = __import__(module_name, fromlist=[attr])
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise DsconvError(f"format {name!r}: cannot load {target} ({exc})") from None


def reader_options(reader_cls: type, fmt: str, **given: Any) -> Any:
    """The reader's options object from keyword arguments; one the format does not have is an
    error naming those it has (an option for another format is never silently ignored)."""
    from dsconv.converters.base import ReaderOptions

    options_cls = getattr(reader_cls, "options_class", ReaderOptions)
    known = {f.name for f in fields(options_cls)}
    unknown = sorted(name for name, value in given.items()
                     if name not in known and value not in (None, False))
    if unknown:
        raise DsconvError(f"format {fmt!r} has no option {', '.join(map(repr, unknown))} "
                          f"(its options: {', '.join(sorted(known))})")
    return options_cls(**{k: v for k, v in given.items() if k in known})
