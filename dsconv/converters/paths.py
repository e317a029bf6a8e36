"""Resolve a file name from an annotation safely inside the dataset root."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def resolve_inside(root: Path | str, name: str, allow_outside: bool = False) -> str:
    """The file a name refers to, as a path string; ValueError if it is unsafe.

    Annotation files come from strangers: an absolute name, `..`, or a symlink could make us
    copy any file on the machine into a dataset that is then published. Folders are resolved
    once each (cached) and names checked as strings, so the check costs one `lstat` per image;
    a string is returned because a `Path` interns every part of every name it is made from
    (2 MB that never goes away at 20,000 images).
    """
    if not name or _CONTROL.search(name):
        raise ValueError(f"file name {name!r} is empty or has control characters")
    if allow_outside:
        return os.path.join(root, name)
    parts = name.replace("\\", "/").split("/")
    drive = len(parts[0]) == 2 and parts[0][1] == ":" and parts[0][0].isalpha()
    if parts[0] == "" or drive or ".." in parts:  # /x, \\server\share, C:\x, a/../b
        raise ValueError(f"file name {name!r} leaves the dataset folder (use --allow-outside-root)")
    path = os.path.join(root, name)
    base = _real(os.fspath(root))
    real = os.path.realpath(path) if os.path.islink(path) else os.path.join(
        _real(os.path.dirname(path)), os.path.basename(path))
    if real != base and not real.startswith(base + os.sep):
        raise ValueError(f"file name {name!r} resolves outside {root} (use --allow-outside-root)")
    return path


@lru_cache(maxsize=4096)
def _real(folder: str) -> str:
    return os.path.realpath(folder)


def check_inside(root: Path, path: Path, allow_outside: bool = False) -> Path:
    """A path found on disk or in a list (not a name relative to `root`), checked like
    `resolve_inside`; read the returned path, which is the one that was checked.

    YOLO split lists and `data.yaml` entries name files relative to several bases or
    absolutely, so the path is made relative to the root first.
    """
    if allow_outside:
        return path
    try:
        return Path(resolve_inside(root, Path(os.path.relpath(path, root)).as_posix()))
    except ValueError:  # relpath across Windows drives, or the check itself
        raise ValueError(f"{path} resolves outside {root} (use --allow-outside-root)") from None
