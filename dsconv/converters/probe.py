"""A bounded look at a folder, for format detection: its listings read once and capped,
the first bytes of a file, what kind of label lines a text holds; and `Detection`, one
format's claim on a source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dsconv.converters.paths import resolve_inside
from dsconv.storage.files import MAX_ANNOTATION_BYTES, UnsafeFileError, open_regular

MAX_ENTRIES = 5_000  # names looked at in one folder: enough to see what kind of files it holds
PEEK_BYTES = 4_096  # bytes read from the start of a file to recognise its kind
MAX_NESTED = 50  # sub-folders looked into for a dataset one or two levels down (VOCdevkit)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
SPLIT_NAMES = frozenset({"train", "valid", "val", "validation", "test"})
YOLO_NAMES = ("obj.names", "classes.txt", "classes.names", "names.txt", "_darknet.labels")
DOTA_HEADERS = ("imagesource:", "gsd:")


@dataclass(frozen=True)
class Detection:
    """One format's claim on a source: how sure (0–1) and why (the files that say so)."""

    format: str
    confidence: float
    evidence: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is not between 0 and 1")

    def __str__(self) -> str:
        return f"{self.format} ({self.confidence:.2f}: {self.evidence})"


class Probe:
    """A folder's listings, each read once, capped at `MAX_ENTRIES` names; names are
    relative to the root with `/`. Symlinked folders are not entered."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[str, tuple[dict[str, str], list[str]]] = {}

    def _listing(self, rel: str) -> tuple[dict[str, str], list[str]]:
        if rel not in self._listings:
            dirs: dict[str, str] = {}
            files: list[str] = []
            try:
                with os.scandir(self.root / rel if rel else self.root) as entries:
                    for count, entry in enumerate(entries):
                        if count >= MAX_ENTRIES:
                            break
                        if entry.is_dir(follow_symlinks=False):
                            dirs.setdefault(entry.name.lower(), entry.name)
                        elif entry.is_file():
                            files.append(entry.name)
            except OSError:
                pass
            self._listings[rel] = (dirs, sorted(files))
        return self._listings[rel]

    def dirs(self, rel: str = "") -> list[str]:
        """Sub-folders of `rel`, as paths relative to the root."""
        return [join_rel(rel, name) for name in sorted(self._listing(rel)[0].values())]

    def child(self, rel: str, *names: str, exact: bool = False) -> str | None:
        """The first of `names` that is a sub-folder of `rel` (any capitalisation unless
        `exact`), as a path relative to the root."""
        found = self._listing(rel)[0]
        for name in names:
            actual = found.get(name.lower())
            if actual is not None and (not exact or actual == name):
                return join_rel(rel, actual)
        return None

    def files(self, rel: str = "", suffix: str | None = None) -> list[str]:
        """Files directly in `rel` (names only), those ending in `suffix` (any case) if given."""
        names = self._listing(rel)[1]
        if suffix is None:
            return names
        return [name for name in names if name.lower().endswith(suffix)]

    def has_images(self, rel: str) -> bool:
        return any(os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
                   for name in self.files(rel))

    def splits(self, rel: str = "") -> list[str]:
        """Sub-folders named like a split (train, valid, val, validation, test)."""
        return [d for d in self.dirs(rel) if d.rpartition("/")[2].lower() in SPLIT_NAMES]

    def peek(self, rel: str) -> str:
        """The start of a regular file inside the root, as text; '' when it cannot be read."""
        return peek(self.root, rel)


def peek(root: Path, rel: str) -> str:
    """At most `PEEK_BYTES` of `root/rel` when it is a regular file inside `root`."""
    try:
        path = resolve_inside(root, rel)
        with open_regular(path, MAX_ANNOTATION_BYTES) as handle:
            data = handle.read(PEEK_BYTES)
    except (OSError, UnsafeFileError, ValueError):
        return ""
    return data.decode("utf-8-sig", errors="replace")


def join_rel(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def listed_names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def label_kind(text: str) -> str | None:
    """What the first label line of a `.txt` file is: `yolo` (`class cx cy w h…`, normalised),
    `dota` (`x1 y1 … x4 y4 class_name [difficult]`), or None (empty or neither)."""
    for line in text.splitlines()[:50]:
        stripped = line.strip()
        if not stripped or stripped.lower().startswith(DOTA_HEADERS):
            continue
        fields = stripped.split()
        if (len(fields) >= 9 and all(map(looks_numeric, fields[:8]))
                and not looks_numeric(fields[8])):
            return "dota"
        if len(fields) >= 5 and fields[0].isdigit() and all(map(looks_numeric, fields[1:])):
            return "yolo"
        return None
    return None


def labels_kind(probe: Probe, folder: str, tries: int = 5) -> str | None:
    """The kind of the first non-empty label files in `folder` (looking at a few)."""
    for name in probe.files(folder, ".txt")[:tries]:
        if name.lower() in YOLO_NAMES:
            continue
        kind = label_kind(probe.peek(join_rel(folder, name)))
        if kind is not None:
            return kind
    return None


def probe_folder(src: Path) -> Probe | None:
    return Probe(src) if src.is_dir() else None
