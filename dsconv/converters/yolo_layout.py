"""Where a YOLO dataset's splits and class names are: `data.yaml` (Ultralytics), a darknet
`obj.data`, or `images/` + `labels/` folders with a names file. Every file named there is
resolved inside the dataset folder (unless allowed) and read bounded.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsconv.converters.base import (
    SPLIT_ALIASES,
    canonical_split,
)
from dsconv.converters.paths import check_inside
from dsconv.converters.yolo_files import (
    IMAGE_FOLDERS,
    LABEL_FOLDERS,
    MAX_LIST_LINE,
    find_file,
    preferred,
)
from dsconv.converters.yolo_yaml import load_yaml, yaml_repr
from dsconv.errors import InputError
from dsconv.storage.files import (
    MAX_LIST_BYTES,
    UnsafeFileError,
    excerpt,
    read_text,
)

if TYPE_CHECKING:

    pass


YAML_FILES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
NAMES_FILES = ("obj.names", "classes.txt", "classes.names", "names.txt", "_darknet.labels")
SPLIT_KEYS = ("train", "val", "valid", "validation", "test")


# .txt files that sit among labels but are not labels: split lists and class-name files
NOT_LABELS = frozenset({*NAMES_FILES, "train.txt", "val.txt", "valid.txt", "test.txt"})


MAX_CLASSES = 10_000  # every question lists the classes: 100k names made 7 GB of questions
Warn = Callable[[str], None]


@dataclass
class Layout:
    root: Path
    sources: dict[str, list[Path]]  # split → image folders, image files or .txt image lists
    names: dict[int, str] | None
    nc: int | None = None
    keypoint_fields: int = 0  # pose datasets: values after the box on every line
    settings: list[Path] = field(default_factory=list)  # the lists and names files read


def locate(src: Path, warn: Warn, allow_outside: bool = False) -> Layout:
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if src.is_file():  # named by the user: its own folder is the root, it is read as named
        if src.suffix.lower() in (".yaml", ".yml"):
            return from_yaml(src, src.parent, warn, allow_outside, trusted=True)
        if src.suffix.lower() == ".data":
            return from_darknet_data(src, src.parent, warn, allow_outside, trusted=True)
    if not src.is_dir():
        raise InputError(src, "expected a dataset folder, a data.yaml or a Darknet .data file")
    for name in YAML_FILES:
        if os.path.lexists(src / name):
            return from_yaml(src / name, src, warn, allow_outside)
    if os.path.lexists(src / "obj.data"):
        return from_darknet_data(src / "obj.data", src, warn, allow_outside)
    return from_folders(src, allow_outside)


def read_setting(file: Path, root: Path, allow_outside: bool, errors: str = "strict") -> str:
    """A data.yaml, obj.data, names file or split list: inside the root, a regular file,
    at most MAX_LIST_BYTES; a one-line error naming it otherwise."""
    try:
        path = check_inside(root, file, allow_outside)
    except ValueError:
        raise InputError(file, f"resolves outside the dataset folder {root} "
                               "(use --allow-outside-root)") from None
    try:
        return read_text(path, MAX_LIST_BYTES, errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(file, f"not UTF-8 text ({exc.reason})") from None
    except (OSError, UnsafeFileError) as exc:
        raise InputError(file, why_unreadable(exc, path)) from None


def why_unreadable(exc: OSError | ValueError, path: str | Path) -> str:
    """Why a file could not be read, without repeating its name."""
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    return str(exc).removeprefix(f"{path} ")


def from_yaml(file: Path, root: Path, warn: Warn, allow_outside: bool,
               trusted: bool = False) -> Layout:
    data = load_yaml(file, read_setting(file, root, allow_outside or trusted))
    base, root = yaml_base(file, root, data.get("path"), warn, allow_outside)
    sources: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        entries = data.get(key)
        if not entries:
            continue
        split = canonical_split(key)
        if split in sources:
            warn(f"{file.name}: {key!r} repeats the {split} split; ignored")
            continue
        entries = entries if isinstance(entries, list) else [entries]
        for entry in entries:
            if isinstance(entry, list | dict):
                raise InputError(file, f"{key}: entries must be paths (folders, images or "
                                       f".txt lists), not {yaml_repr.repr(entry)}")
        paths = resolve_all(file, key, entries, base, root, warn, allow_outside)
        if paths:
            sources[split] = paths
    if not sources:
        raise InputError(file, "no split found: train, val and test are missing or point "
                               "to nothing that exists")
    names, nc = yaml_names(file, data)
    if names is not None and nc is not None and nc != len(names):
        warn(f"{file.name}: nc is {nc} but names has {len(names)} entries; using names")
    lists = [path for paths in sources.values() for path in paths if path.is_file()]
    return Layout(root, sources, names, nc, pose_fields(file, data.get("kpt_shape")),
                   [file, *lists])


def pose_fields(file: Path, shape: Any) -> int:
    """Values after the box on a pose line: `kpt_shape: [17, 3]` → 51."""
    if shape is None:
        return 0
    if not isinstance(shape, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape):
        raise InputError(file, f"kpt_shape must be a list of integers like [17, 3], "
                               f"not {yaml_repr.repr(shape)}")
    return math.prod(shape)


def resolve_all(file: Path, key: str, entries: list[Any], base: Path, root: Path, warn: Warn,
                 allow_outside: bool) -> list[Path]:
    """Split entries as paths inside the root; one outside is an error before anything is
    read from it (`train: /` used to walk the whole filesystem)."""
    paths = []
    for entry in entries:
        text = str(entry)
        if len(text) > MAX_LIST_LINE or not text.isprintable():
            raise InputError(file, f"{key}: {excerpt(text)} is not a path")
        path = find_file(text, (base,), root)
        if path is None:
            warn(f"{file.name}: {key}: {excerpt(text)} not found under {base}; skipped")
            continue
        try:
            paths.append(check_inside(root, path, allow_outside))
        except ValueError:
            raise InputError(file, f"{key}: {excerpt(text)} is outside the dataset folder "
                                   f"{root} (use --allow-outside-root)") from None
    return paths


def yaml_base(file: Path, root: Path, path: Any, warn: Warn, allow_outside: bool
               ) -> tuple[Path, Path]:
    """The folder split entries are relative to, and the root. `path` is relative to the
    YAML's folder and may only name a folder inside the root (else it would move the root:
    `path: /` and every image on the machine is inside); one from another machine falls
    back to the YAML's folder. With `allow_outside_root` a folder elsewhere is the root."""
    if path is None or path == "":
        return file.parent, root
    text = str(path)
    if isinstance(path, list | dict) or len(text) > MAX_LIST_LINE or not text.isprintable():
        raise InputError(file, f"path must be a folder, not {yaml_repr.repr(path)}")
    folder = file.parent / text
    if not folder.is_dir():
        warn(f"{file.name}: path {excerpt(text)} does not exist here; using {file.parent}")
        return file.parent, root
    try:
        check_inside(root, folder)
    except ValueError:
        if not allow_outside:
            raise InputError(file, f"path: {excerpt(text)} is outside the dataset folder "
                                   f"{root} (use --allow-outside-root)") from None
        return folder, folder
    return folder, root


def yaml_names(file: Path, data: dict[str, Any]) -> tuple[dict[int, str] | None, int | None]:
    names, nc = data.get("names"), data.get("nc")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool)):
        raise InputError(file, f"nc must be an integer, not {yaml_repr.repr(nc)}")
    if names is None:
        return None, nc
    if isinstance(names, list):
        pairs: Iterable[tuple[Any, Any]] = enumerate(names)
    elif isinstance(names, dict):
        pairs = names.items()
    else:
        raise InputError(file, f"names must be a list or an {{id: name}} map, not "
                               f"{yaml_repr.repr(names)}")
    check_class_count(file, len(names))
    out = {}
    for key, name in pairs:
        if isinstance(name, list | dict):
            raise InputError(file, f"names: {yaml_repr.repr(key)} must be a class name, not "
                                   f"{yaml_repr.repr(name)}")
        out[name_id(file, key)] = str(name)
    return out, nc


def name_id(file: Path, key: Any) -> int:
    """A names map key: an integer, or ASCII digits (`int` also reads `٣` and `1_0`)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 10:
        return int(key)
    raise InputError(file, f"names map keys must be integer class ids, not {yaml_repr.repr(key)}")


def check_class_count(file: Path, count: int) -> None:
    if count > MAX_CLASSES:
        raise InputError(file, f"{count:,} class names; at most {MAX_CLASSES:,} are "
                               "supported (every question lists the classes)")


def from_darknet_data(file: Path, root: Path, warn: Warn, allow_outside: bool = False,
                       trusted: bool = False) -> Layout:
    """A Darknet / CVAT `obj.data`: `train = data/train.txt`, `names = data/obj.names`…

    The class names end up in every question, so a names file outside the folder is refused
    like an image would be."""
    values: dict[str, str] = {}
    text = read_setting(file, root, allow_outside or trusted, errors="replace")
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[key.strip().lower()] = value.strip()
    sources: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        if values.get(key):
            sources.setdefault(canonical_split(key), []).extend(
                resolve_all(file, key, [values[key]], root, root, warn, allow_outside))
    sources = {k: v for k, v in sources.items() if v}
    names_file = find_file(values["names"], (root,)) if values.get("names") else None
    if names_file is not None:
        try:
            check_inside(root, names_file, allow_outside)
        except ValueError as exc:
            raise InputError(file, f"names: {exc}") from None
    names = (read_names(names_file, root, allow_outside) if names_file
             else names_beside(root, allow_outside, root))
    settings = [file, *(p for paths in sources.values() for p in paths if p.is_file())]
    if names_file is not None:
        settings.append(names_file)
    if not sources:
        sources = from_folders(root, allow_outside).sources
    classes = values.get("classes", "")
    nc = int(classes) if classes.isascii() and classes.isdigit() and len(classes) < 10 else None
    return Layout(root, sources, names, nc, settings=settings)


def from_folders(src: Path, allow_outside: bool) -> Layout:
    """No data.yaml: `images/{split}` or `{split}/[images]` folders, else all of it is train.
    Folder names in any capitalisation (`Images/`, `JPEGImages/`)."""
    base = child_folder(src, IMAGE_FOLDERS) or src
    sources: dict[str, list[Path]] = {}
    for child in folders_in(base):
        if child.name.lower() in SPLIT_ALIASES:
            folder = child_folder(child, IMAGE_FOLDERS) or child
            sources.setdefault(canonical_split(child.name), []).append(folder)
    sources = sources or {"train": [base]}
    for folder in (f for folders in sources.values() for f in folders):
        try:
            check_inside(src, folder, allow_outside)
        except ValueError:
            raise InputError(folder, f"resolves outside the dataset folder {src} "
                                     "(use --allow-outside-root)") from None
    beside = [f for f in (child_folder(src, LABEL_FOLDERS),) if f is not None]
    names = names_beside(src, allow_outside, src, *beside,
                          *(f for folders in sources.values() for f in folders))
    return Layout(src, sources, names)


def folders_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError as exc:
        raise InputError(folder, why_unreadable(exc, folder)) from None


def child_folder(folder: Path, wanted: tuple[str, ...]) -> Path | None:
    """`folder`'s sub-folder named one of `wanted` (lower-case) in any capitalisation."""
    choice = preferred([p.name for p in folders_in(folder)], wanted)
    return folder / choice if choice else None


def names_beside(root: Path, allow_outside: bool, *folders: Path) -> dict[int, str] | None:
    for folder in folders:
        for name in NAMES_FILES:
            if os.path.lexists(folder / name):
                return read_names(folder / name, root, allow_outside)
        for file in sorted(folder.glob("*.names")):
            return read_names(file, root, allow_outside)
    return None


def read_names(file: Path, root: Path, allow_outside: bool) -> dict[int, str]:
    lines = read_setting(file, root, allow_outside, errors="replace").splitlines()
    names = [line.strip() for line in lines if line.strip()]
    check_class_count(file, len(names))
    return dict(enumerate(names))


def ordered_names(names: dict[int, str], warn: Warn) -> list[str]:
    classes = [names[i] for i in sorted(names)]
    unique = list(dict.fromkeys(classes))
    if len(unique) < len(classes):
        warn(f"class names repeat ({', '.join(sorted(Counter(classes) - Counter(unique)))}); "
             "their ids are counted as one class")
    return unique
