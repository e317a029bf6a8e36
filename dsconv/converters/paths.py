"""Resolve a file name from an annotation safely inside the dataset root."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath


def resolve_inside(root: Path, name: str, allow_outside: bool = False) -> Path:
    """The file a name refers to; ValueError if it is unsafe.

    Annotation files come from strangers: an absolute name, `..`, or a symlink could make us
    copy any file on the machine into a dataset that is then published.
    """
    if not name or any(ord(c) < 32 or c == "\x7f" for c in name):
        raise ValueError(f"file name {name!r} is empty or has control characters")
    if allow_outside:
        return root / name
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute():
        raise ValueError(f"file name {name!r} is absolute (use --allow-outside-root)")
    path = root / name
    resolved, base = path.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise ValueError(f"file name {name!r} resolves outside {root} (use --allow-outside-root)")
    return path
