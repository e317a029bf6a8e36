"""Which source format a folder or file is: `--from auto` and `dsconv detect`.

Each reader may have a classmethod `detect(src) -> Detection | None` saying how sure it is
that `src` is its format and why; a plugin reader without one is never auto-detected. The
built-in readers' classmethods are thin calls into the functions here, so that the look at
the folder is one piece of code: bounded (a few folder levels, at most `MAX_ENTRIES` names a
folder, at most `PEEK_BYTES` of at most a few files), never entering a symlinked folder,
never opening anything but a regular file inside the folder (`dsconv.storage.files`).

`open_reader` builds the reader a conversion asked for, resolving `auto`, and turns a
reader's `NoAnnotationsError` into one line that also says what the folder does look like.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dsconv.converters.paths import resolve_inside
from dsconv.errors import DsconvError, NoAnnotationsError
from dsconv.storage.files import MAX_ANNOTATION_BYTES, UnsafeFileError, open_regular

AUTO = "auto"
MAX_ENTRIES = 5_000  # names looked at in one folder: enough to see what kind of files it holds
PEEK_BYTES = 4_096  # bytes read from the start of a file to recognise its kind
MAX_NESTED = 50  # sub-folders looked into for a dataset one or two levels down (VOCdevkit)
MIN_CONFIDENCE = 0.5  # below this a format is listed as a weak sign, never chosen
MARGIN = 0.05  # two formats this close are equally sure: ambiguous

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
SPLIT_NAMES = frozenset({"train", "valid", "val", "validation", "test"})
ROBOFLOW_COCO = "_annotations.coco.json"
PLAIN_COCO = ("annotations.json", ROBOFLOW_COCO, "instances.json")
YOLO_YAML = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
YOLO_NAMES = ("obj.names", "classes.txt", "classes.names", "names.txt", "_darknet.labels")
DOTA_HEADERS = ("imagesource:", "gsd:")
# The command a format's own conversion has; other formats go through `dsconv convert`.
COMMANDS = {"coco": "coco-to-vqa", "yolo": "yolo-to-vqa", "voc": "voc-to-vqa"}


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


class FormatNotDetectedError(DsconvError):
    """No installed format, or more than one equally, recognises the source."""


# --- a bounded look at a folder ---------------------------------------------------------


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
        return [_join(rel, name) for name in sorted(self._listing(rel)[0].values())]

    def child(self, rel: str, *names: str, exact: bool = False) -> str | None:
        """The first of `names` that is a sub-folder of `rel` (any capitalisation unless
        `exact`), as a path relative to the root."""
        found = self._listing(rel)[0]
        for name in names:
            actual = found.get(name.lower())
            if actual is not None and (not exact or actual == name):
                return _join(rel, actual)
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


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _listed(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _number(text: str) -> bool:
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
        if len(fields) >= 9 and all(map(_number, fields[:8])) and not _number(fields[8]):
            return "dota"
        if len(fields) >= 5 and fields[0].isdigit() and all(map(_number, fields[1:])):
            return "yolo"
        return None
    return None


def _labels_kind(probe: Probe, folder: str, tries: int = 5) -> str | None:
    """The kind of the first non-empty label files in `folder` (looking at a few)."""
    for name in probe.files(folder, ".txt")[:tries]:
        if name.lower() in YOLO_NAMES:
            continue
        kind = label_kind(probe.peek(_join(folder, name)))
        if kind is not None:
            return kind
    return None


def _folder(src: Path) -> Probe | None:
    return Probe(src) if src.is_dir() else None


# --- the built-in formats ----------------------------------------------------------------


def detect_coco(src: Path) -> Detection | None:
    """Roboflow split folders, MMDetection `annotations/instances_*.json`, a plain file."""
    if src.is_file():
        head = peek(src.parent, src.name)
        if src.suffix.lower() == ".json" and _coco_head(head):
            return Detection("coco", 0.9, f"{src.name} (a JSON object with COCO keys)")
        return None
    probe = _folder(src)
    if probe is None:
        return None
    splits = [_join(d, ROBOFLOW_COCO) for d in probe.dirs() if ROBOFLOW_COCO in probe.files(d)]
    if splits:
        return Detection("coco", 0.95, _listed(splits))
    annotations = probe.child("", "annotations", exact=True)
    if annotations:
        found = [_join(annotations, n) for n in probe.files(annotations, ".json")
                 if n.startswith("instances_")]
        if found:
            return Detection("coco", 0.95, _listed(found))
    for name in PLAIN_COCO:
        if name in probe.files() and _coco_head(probe.peek(name)):
            return Detection("coco", 0.9, name)
    return None


def _coco_head(head: str) -> bool:
    return head.lstrip().startswith("{") and ('"images"' in head or '"annotations"' in head)


def detect_yolo(src: Path) -> Detection | None:
    """data.yaml / obj.data, `images/` + `labels/` trees, `Images/` + `Annotations/*.txt`,
    Darknet names file and labels beside images."""
    if src.is_file():
        suffix = src.suffix.lower()
        head = peek(src.parent, src.name)
        if suffix in (".yaml", ".yml") and ("names" in head or "train" in head):
            return Detection("yolo", 0.95, src.name)
        if suffix == ".data" and ("names" in head or "train" in head):
            return Detection("yolo", 0.95, f"{src.name} (Darknet)")
        return None
    probe = _folder(src)
    if probe is None:
        return None
    trees = _label_trees(probe)
    dota = any(kind == "dota" for _, kind in trees)
    for name in (*YOLO_YAML, "obj.data"):
        if name in probe.files():
            if dota or (_dota_folders(probe) and not trees):
                return Detection("yolo", 0.4, f"{name}, but the labels are DOTA lines")
            return Detection("yolo", 0.95, name)
    if trees:
        evidence, kind = trees[0]
        if kind == "dota":
            return Detection("yolo", 0.4, f"{evidence}, but its lines are DOTA's")
        return Detection("yolo", 0.9 if kind == "yolo" else 0.7, evidence)
    for base in ("", *probe.splits()):
        darknet = _darknet(probe, base)
        if darknet is not None:
            return darknet
    return None


def _label_trees(probe: Probe) -> list[tuple[str, str | None]]:
    """(evidence, label kind) for each `images/`+`labels/` or `Images/`+`Annotations/*.txt`
    pair at the root, in split folders, or as `images/{split}` + `labels/{split}`."""
    found: list[tuple[str, str | None]] = []
    for base in ("", *probe.splits()):
        images = probe.child(base, "images")
        if images is None:
            continue
        for name in ("labels", "annotations"):
            labels = probe.child(base, name)
            if labels is None:
                continue
            folders = [labels, *probe.dirs(labels)]
            with_txt = [f for f in folders if probe.files(f, ".txt")]
            if not with_txt:
                continue
            kind = _labels_kind(probe, with_txt[0])
            if name == "annotations" and kind != "yolo":
                continue  # Annotations/ holds VOC XML or something else: not YOLO's
            found.append((f"{images}/ + {with_txt[0]}/*.txt", kind))
    return found


def _darknet(probe: Probe, base: str) -> Detection | None:
    """Label `.txt` files beside the images, with a names file or with YOLO lines."""
    if not probe.has_images(base):
        return None
    kind = _labels_kind(probe, base)
    names = [n for n in probe.files(base) if n.lower() in YOLO_NAMES or n.endswith(".names")]
    names += [n for n in probe.files() if base and (n.lower() in YOLO_NAMES)]
    where = _join(base, "*.txt") if base else "*.txt"
    if names and kind == "yolo":
        return Detection("yolo", 0.85, f"{names[0]} + {where} beside images (Darknet)")
    if kind == "yolo":
        return Detection("yolo", 0.6, f"{where} with YOLO lines beside images")
    return None


def detect_voc(src: Path) -> Detection | None:
    """`Annotations/*.xml` + `JPEGImages/` (also one or two levels down), lowercase
    `annotations/` + `images/`, or XML files beside their images."""
    probe = _folder(src)
    if probe is None:
        return None
    tops = probe.dirs()[:MAX_NESTED]
    roots = ["", *tops, *(d for top in tops for d in probe.dirs(top)[:MAX_NESTED])]
    for root in roots:
        annotations = probe.child(root, "Annotations")
        if annotations is None:
            continue
        xml = probe.files(annotations, ".xml")
        images = probe.child(root, "JPEGImages", "images")
        if not xml or images is None or not _voc_head(probe.peek(_join(annotations, xml[0]))):
            continue
        exact = annotations.endswith("Annotations") and images.endswith("JPEGImages")
        evidence = f"{annotations}/*.xml ({len(xml)} files) + {images}/"
        return Detection("voc", 0.95 if exact else 0.9, evidence)
    for base in (*probe.splits(), ""):
        xml = probe.files(base, ".xml")
        if xml and probe.has_images(base) and _voc_head(probe.peek(_join(base, xml[0]))):
            where = _join(base, "*.xml") if base else "*.xml"
            return Detection("voc", 0.8, f"{where} beside images")
    return None


def _voc_head(head: str) -> bool:
    return "<annotation" in head


def detect_dota(src: Path) -> Detection | None:
    """`images/` + `labelTxt/*.txt` at the root or in split folders, or Roboflow's
    `labels/` holding DOTA lines."""
    probe = _folder(src)
    if probe is None:
        return None
    found = _dota_folders(probe)
    if found:
        return Detection("dota", 0.95, _listed([f"{f}/*.txt" for f in found]))
    for base in ("", *probe.splits()):
        labels = probe.child(base, "labels")
        if labels and probe.child(base, "images") and _labels_kind(probe, labels) == "dota":
            return Detection("dota", 0.9, f"{labels}/*.txt with DOTA lines")
    return None


def _dota_folders(probe: Probe) -> list[str]:
    """`labelTxt` folders with `.txt` files beside an `images` folder."""
    found = []
    for base in ("", *probe.splits()):
        labels = probe.child(base, "labelTxt")
        if labels and probe.child(base, "images") and probe.files(labels, ".txt"):
            found.append(labels)
    return found


# --- every installed format --------------------------------------------------------------


def detect_formats(src: Path) -> list[Detection]:
    """Every installed format's claim on `src`, surest first: a reader's `detect(src)` returns a
    `Detection` or a `(confidence, evidence)` pair. A reader without `detect`, or one that
    cannot be loaded or fails while looking, makes no claim."""
    found = []
    for name, method in _detectors().items():
        try:
            claim = method(Path(src))
        except Exception:  # a plugin's failed look at a stranger's folder is no claim
            continue
        if isinstance(claim, tuple) and len(claim) == 2:  # (confidence, evidence)
            claim = Detection(name, float(claim[0]), str(claim[1]))
        if isinstance(claim, Detection):
            found.append(replace(claim, format=name))
    return sorted(found, key=lambda d: -d.confidence)


def _detectors() -> dict[str, Callable[[Path], Any]]:
    """Format name → its reader's `detect`, for the readers that load and have one."""
    from dsconv.converters.registry import available, get_reader

    found = {}
    for name in available():
        try:
            method = getattr(get_reader(name), "detect", None)
        except DsconvError:
            continue
        if callable(method):
            found[name] = method
    return found


def choose_format(src: Path, found: list[Detection] | None = None) -> Detection:
    """The one format `src` is; `FormatNotDetectedError` (one line, every candidate and its
    evidence) when none is sure enough or two are equally sure."""
    if not Path(src).exists():
        raise FormatNotDetectedError(f"{src}: no such file or folder")
    found = detect_formats(src) if found is None else found
    sure = [d for d in found if d.confidence >= MIN_CONFIDENCE]
    if not sure:
        weak = f"; weak signs: {', '.join(map(str, found))}" if found else ""
        raise FormatNotDetectedError(
            f"{src}: no dataset format recognised (checked {', '.join(_detectors())}){weak}; "
            "pass --from FORMAT (see `dsconv formats`)")
    tied = [d for d in sure if d.confidence > sure[0].confidence - MARGIN]
    if len(tied) > 1:
        raise FormatNotDetectedError(
            f"{src}: looks like several formats: {', '.join(map(str, tied))}; "
            "pass --from FORMAT")
    return sure[0]


def open_reader(fmt: str, src: Path, ledger: Any, options: Any = None) -> Any:
    """The reader for `fmt` (`auto`: the format `src` is detected as) on `src`. A reader that
    finds none of its annotation files says what it looked for; this adds what the folder
    does look like, so that a wrong command is one step from the right one."""
    from dsconv.converters.registry import get_reader

    if fmt == AUTO:
        fmt = choose_format(src).format
    reader_type = get_reader(fmt)
    try:
        return reader_type(src, ledger, options)
    except NoAnnotationsError as exc:
        raise no_annotations_hint(exc) from None


def no_annotations_hint(exc: NoAnnotationsError) -> DsconvError:
    """The reader's error plus the formats the folder does look like, on one line."""
    hint = other_format_hint(Path(exc.src), exc.format)
    return DsconvError(f"{exc}{hint or '; no other format recognised there either'}")


def other_format_hint(src: Path, fmt: str) -> str:
    """'; it has COCO annotations (…): use coco-to-vqa, …' when `src` looks like a format
    other than `fmt`; '' when it does not."""
    others = [d for d in detect_formats(src)
              if d.confidence >= MIN_CONFIDENCE and d.format != fmt.lower()]
    if not others:
        return ""
    best = others[0]
    use = COMMANDS.get(best.format, f"`dsconv convert --from {best.format}`")
    return (f"; it has {best.format.upper()} annotations ({best.evidence}): use {use}, "
            "or `dsconv convert --from auto`")
