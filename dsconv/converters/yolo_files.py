"""Finding a YOLO dataset's images and their label files on disk: listing folders, pairing
an image with the label beside it (`images/` → `labels/`), naming files relative to the root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dsconv.converters.base import (
    IMAGE_SUFFIXES,
)
from dsconv.converters.paths import check_inside

if TYPE_CHECKING:

    pass


IMAGE_FOLDERS = ("images", "jpegimages")  # lower-cased; an image path's last one of these…
LABEL_FOLDERS = ("labels", "annotations")  # …becomes the first of these beside it
MAX_LIST_LINE = 4096  # PATH_MAX: a longer line in a split list is not a path
Found = tuple[str, str, str]  # an image's path, its name relative to the root, its label's name


class LabelFolders:
    """Where an image folder's labels are: its last images folder (`images`, `Images`,
    `JPEGImages`) replaced with the label folder beside it (`labels`, `annotations`, any
    capitalisation), else the folder itself. Names relative to the root, worked out once per
    folder (a per-image `split` of the path took longer than the rest of the lookup)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, str] = {}

    def label(self, image: str) -> str:
        """The label file's name for an image's name."""
        folder, _, file = image.rpartition("/")
        labels = self._folders.get(folder)
        if labels is None:
            labels = self.folder(folder)
        return labels + file.rpartition(".")[0] + ".txt"  # an image's name has a suffix

    def folder(self, folder: str) -> str:
        """The label folder's name for an image folder's name, with a trailing `/` ("" for
        the root)."""
        labels = self._folders.get(folder)
        if labels is not None:
            return labels
        parts = folder.split("/") if folder else []
        for i in range(len(parts) - 1, -1, -1):
            if parts[i].lower() in IMAGE_FOLDERS:
                sibling = self._sibling("/".join(parts[:i]))
                if sibling is not None:
                    parts[i] = sibling
                break
        labels = self._folders[folder] = "".join(part + "/" for part in parts)
        return labels

    def _sibling(self, parent: str) -> str | None:
        try:
            with os.scandir(os.path.join(self.root, parent)) as entries:
                folders = [e.name for e in entries
                           if e.name.lower() in LABEL_FOLDERS and e.is_dir()]
        except OSError:
            return None
        return preferred(folders, LABEL_FOLDERS)


def preferred(names: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of `wanted` (lower-case) among `names`, the exact spelling first."""
    for choice in wanted:
        matches = sorted(n for n in names if n.lower() == choice)
        if matches:
            return choice if choice in matches else matches[0]
    return None


def find_file(entry: str, bases: Iterable[Path], root: Path | None = None) -> Path | None:
    """An existing path for a split or list entry, tolerating the usual export mismatches.

    Tried in order: as written (relative to each base); without Ultralytics' leading `../`
    or Darknet's leading `data/`; for an absolute path written on another machine, its
    trailing components (at least two) under the first base. Each also with `val` and
    `valid` swapped. The first one inside `root` (default: the first base) wins; one
    outside is returned only when nothing inside exists, to be refused or allowed later.
    """
    path = Path(entry)
    bases = list(bases)
    candidates = [path] if path.is_absolute() else [b / path for b in bases]
    for prefix in ("../", "data/"):
        if entry.startswith(prefix):
            candidates += [b / entry[len(prefix):] for b in bases]
    if path.is_absolute():
        parts = path.parts[1:]
        candidates += [bases[0] / Path(*parts[i:]) for i in range(1, len(parts) - 1)]
    outside = None
    for candidate in candidates:
        for variant in (candidate, swap_val(candidate)):
            if not variant.exists():
                continue
            try:
                return check_inside(root or bases[0], variant)
            except ValueError:
                outside = outside or variant
    return outside


def swap_val(path: Path) -> Path:
    swap = {"val": "valid", "valid": "val"}
    return Path(*(swap.get(part, part) for part in path.parts))


def files_under(folder: str | Path, wanted: Callable[[str], bool], skip_hidden: bool,
                 skip: frozenset[str] = frozenset()) -> list[str]:
    """The files under `folder` whose names are `wanted`, not entering symlinked folders (as
    `Path.rglob`) nor those in `skip`, in no particular order."""
    found: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if skip_hidden and entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if entry.path not in skip:
                            pending.append(entry.path)
                    elif wanted(entry.name) and entry.is_file():
                        found.append(entry.path)
        except PermissionError:  # an unreadable folder holds nothing we can read
            continue
    return found


def path_order(path: str) -> list[str]:
    """The order of `Path`s: component by component (`a/b` before `a-b`)."""
    return os.path.normcase(path).split(os.sep)


def is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def is_text(name: str) -> bool:
    return name.endswith(".txt")


def relative_path(path: str, base: Path) -> str:
    """Forward-slash name relative to `base` when the file is under it, else as given."""
    prefix = str(base).rstrip(os.sep) + os.sep
    name = path[len(prefix):] if path.startswith(prefix) else path
    return name.replace(os.sep, "/")


def name_in(root: Path, path: str | Path) -> str:
    """`path` relative to the root as `resolve_inside` checks it: `../x` or a drive when it
    is outside (refused there unless allowed)."""
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # on another drive (Windows)
        return Path(path).as_posix()


def file_stem(name: str) -> str:
    return os.path.splitext(name.rpartition("/")[2])[0]
