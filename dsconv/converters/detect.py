"""Which source format a folder or file is: `--from auto` and `dsconv detect`.

Each reader may have a classmethod `detect(src) -> Detection | None` saying how sure it is
that `src` is its format and why; a plugin reader without one is never auto-detected. The
built-in readers' classmethods are thin calls into `sniffers`, one function a format, over
one look at the folder (`probe.Probe`): bounded (a few folder levels, at most `MAX_ENTRIES` names a
folder, at most `PEEK_BYTES` of at most a few files), never entering a symlinked folder,
never opening anything but a regular file inside the folder (`dsconv.storage.files`).

`open_reader` builds the reader a conversion asked for, resolving `auto`, and turns a
reader's `NoAnnotationsError` into one line that also says what the folder does look like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dsconv.converters.probe import Detection
from dsconv.errors import DsconvError, NoAnnotationsError

AUTO = "auto"
MIN_CONFIDENCE = 0.5  # below this a format is listed as a weak sign, never chosen
MARGIN = 0.05  # two formats this close are equally sure: ambiguous
# The command a format's own conversion has; other formats go through `dsconv convert`.
COMMANDS = {"coco": "coco-to-vqa", "yolo": "yolo-to-vqa", "voc": "voc-to-vqa"}


class FormatNotDetectedError(DsconvError):
    """No installed format, or more than one equally, recognises the source."""


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
