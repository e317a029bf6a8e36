"""`dsconv merge`: join the parts of a sharded conversion into one dataset.

The parts' samples are taken in key order (where one whole run reads them: split by split in
reader order, entry by entry), so the merged dataset has the rows of one whole run in the same
order, the same shards, the same report, byte for byte; only the card says how it was made.
The report is the sum of the parts' reports, drops and warnings interleaved in reading order,
leakage re-checked across the parts. Every row is checked against the digests its part
recorded when it wrote it (its image bytes, its other cells): a part edited or corrupted
since is refused, naming the part, shard and row.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dsconv.converters.base import AFTER_ITEMS, Key
from dsconv.errors import DsconvError
from dsconv.pipeline.card import CardInfo, card_files, read_card_info
from dsconv.pipeline.part import SAMPLES_FILE, Entry, Part, RowsDigest, load_part, part_note
from dsconv.schemas.report import ConversionReport, SplitReport
from dsconv.storage.dataset import REPORT_FILE, iter_batches, shard_paths
from dsconv.storage.files import excerpt
from dsconv.storage.layout import split_sort_key
from dsconv.storage.leaks import LeakFinder, image_digest, leak_warning
from dsconv.storage.target import check_target
from dsconv.storage.writer import ROWS_PER_GROUP, DatasetWriter


def merge_parts(
    folders: Sequence[Path], out: Path, *, overwrite: bool = False, command: str = ""
) -> ConversionReport:
    """Check that the folders are every part of one conversion, then write them as one."""
    check_target(out, folders, overwrite=overwrite)  # before reading parts: OUT may be one
    parts = check_parts([load_part(Path(folder)) for folder in folders])
    examples: list[tuple[str, str]] = []
    leaks = LeakFinder()
    with DatasetWriter(out, overwrite=overwrite, sources=[p.folder for p in parts]) as writer:
        rows = _RowStreams(parts)
        for index, entry in _in_key_order(parts):
            for row in rows.take(index, entry):
                writer.write(entry.split, row)
                example = (row["question"], row["answer"])
                if len(examples) < 2 and example not in examples:
                    examples.append(example)
            leaks.add(entry.split, entry.file, entry.digest)
        rows.check_used()
        writer.finish_splits()
        report = merged_report(parts, leaks)
        writer.write_text(REPORT_FILE, report.model_dump_json(indent=2) + "\n")
        card = read_card_info(parts[0].folder)
        merge_note = (f"Converted in {len(parts)} parts (`--num-shards {len(parts)}`), "
                      "joined with `dsconv merge`.")
        notes = [n for n in card.notes if n != part_note(parts[0].info)] + [merge_note]
        info = CardInfo(name=out.name, source=card.source,
                        command="\n".join(c for c in (card.command, command) if c),
                        examples=examples, num_bytes=writer.nbytes, notes=notes)
        for name, data in card_files(report, info).items():
            writer.write_bytes(name, data)
        writer.commit()
    return report


def check_parts(parts: list[Part]) -> list[Part]:
    """The parts in index order; a one-line error if they are not all of one conversion."""
    if not parts:
        raise DsconvError("give the part folders to merge")
    first = parts[0]
    for part in parts[1:]:
        if part.info.fingerprint != first.info.fingerprint:
            raise DsconvError(
                f"{part.folder} and {first.folder} are parts of different conversions (other "
                f"source, options or tasks: fingerprint {part.info.fingerprint[:12]} ≠ "
                f"{first.info.fingerprint[:12]})")
    count = first.info.count
    by_index: dict[int, Part] = {}
    for part in parts:
        if part.info.index in by_index:
            raise DsconvError(f"{part.folder} and {by_index[part.info.index].folder} are both "
                              f"part {part.info.index} of {count}")
        by_index[part.info.index] = part
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        raise DsconvError(f"incomplete: part(s) {', '.join(map(str, missing))} of {count} "
                          f"missing (given: {', '.join(map(str, sorted(by_index)))})")
    return [by_index[i] for i in range(count)]


def _in_key_order(parts: list[Part]) -> Iterator[tuple[int, Entry]]:
    """Every part's samples, interleaved in the order one whole run reads them."""
    streams = [_keyed(index, part) for index, part in enumerate(parts)]
    for _, index, entry in heapq.merge(*streams):
        yield index, entry


def _keyed(index: int, part: Part) -> Iterator[tuple[Key, int, Entry]]:
    for entry in part.entries():
        yield entry.key, index, entry


class _RowStreams:
    """Each part's rows per split, read a row group at a time, handed out sample by sample
    once they match the digests the part recorded for the sample."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self._streams: dict[tuple[int, str], Iterator[_Located]] = {}
        self._shards = [shard_paths(part.folder) for part in parts]

    def take(self, index: int, entry: Entry) -> list[dict[str, Any]]:
        stream = self._stream(index, entry.split)
        rows: list[dict[str, Any]] = []
        digest = RowsDigest()
        checked: bytes | None = None
        first: _Located | None = None
        for _ in range(entry.rows):
            located = next(stream, None)
            if located is None:
                raise DsconvError(f"{self.parts[index].folder}: fewer {entry.split} rows than "
                                  f"{SAMPLES_FILE} lists")
            row, first = located.row, first or located
            data = (row.get("image") or {}).get("bytes") or b""
            if data != checked:  # a sample's rows share one image: hashed once
                if image_digest(data) != entry.image_digest:
                    raise self._tampered(index, located, "its image bytes differ from those "
                                         "the part wrote")
                checked = data
            digest.add(row)
            rows.append(row)
        if digest.hexdigest() != entry.rows_digest:
            what = (f"the {entry.rows} row(s) of image {excerpt(entry.file)} differ from those "
                    "the part wrote")
            if first is None:
                raise DsconvError(f"{self.parts[index].folder}: {SAMPLES_FILE}: {what}")
            raise self._tampered(index, first, what)
        return rows

    def check_used(self) -> None:
        for index, split in ((i, s) for i, shards in enumerate(self._shards) for s in shards):
            if next(self._stream(index, split), None) is not None:
                raise DsconvError(f"{self.parts[index].folder}: more {split} rows than "
                                  f"{SAMPLES_FILE} lists")

    def _tampered(self, index: int, located: _Located, what: str) -> DsconvError:
        return DsconvError(
            f"{self.parts[index].folder}: {located.shard} row {located.index} "
            f"({excerpt(str(located.row.get('id')))}): {what} (recorded in {SAMPLES_FILE}); "
            "the part was edited or corrupted since: convert it again")

    def _stream(self, index: int, split: str) -> Iterator[_Located]:
        key = (index, split)
        if key not in self._streams:
            self._streams[key] = _rows(self._shards[index].get(split, []))
        return self._streams[key]


class _Located:
    """A row and where it is: its shard's name and its index in the shard."""

    __slots__ = ("index", "row", "shard")

    def __init__(self, row: dict[str, Any], shard: str, index: int) -> None:
        self.row, self.shard, self.index = row, shard, index


def _rows(paths: list[Path]) -> Iterator[_Located]:
    for path in paths:
        index = 0
        for batch in iter_batches(path, batch_size=ROWS_PER_GROUP):
            for row in batch.to_pylist():
                yield _Located(row, f"{path.parent.name}/{path.name}", index)
                index += 1


def merged_report(parts: list[Part], leaks: LeakFinder) -> ConversionReport:
    """The sum of the parts' reports: counts added, drops and warnings in reading order,
    leakage found again over all the parts (their own only saw their share)."""
    first = parts[0].report
    drops = _by_key((drop, key) for part in parts
                    for drop, key in zip(part.report.drops, part.drop_keys, strict=True))
    warnings = _by_key((warning, key) for part in parts
                       for warning, key in zip(part.report.warnings, part.warning_keys,
                                               strict=True)
                       if key != AFTER_ITEMS)
    leakage = leaks.leaks()
    if leakage:
        warnings.append(leak_warning(leakage))
    return ConversionReport.model_validate({
        **first.model_dump(exclude={"part"}),
        "splits": {name: split.model_dump() for name, split in _sum_splits(parts).items()},
        "drops": [drop.model_dump() for drop in drops],
        "warnings": warnings,
        "leakage": [leak.model_dump() for leak in leakage],
    })


def _by_key(records: Any) -> list[Any]:
    return [record for record, _ in sorted(records, key=lambda pair: pair[1])]


def _sum_splits(parts: list[Part]) -> dict[str, SplitReport]:
    classes = parts[0].report.classes
    names = sorted({name for part in parts for name in part.report.splits}, key=split_sort_key)
    out: dict[str, SplitReport] = {}
    for name in names:
        splits = [part.report.splits[name] for part in parts if name in part.report.splits]
        seen = sum(part.objects_seen.get(name, 0) for part in parts)
        total = sum(s.objects_total for s in splits)
        if seen != total:
            raise DsconvError(f"split {name}: the parts read {seen} objects but kept or "
                              f"dropped {total}; the parts do not add up")
        per_class = _add(s.per_class for s in splits)
        questions = [s.questions for s in splits if s.questions is not None]
        out[name] = SplitReport(
            images=sum(s.images for s in splits),
            images_dropped=dict(sorted(_add(s.images_dropped for s in splits).items())),
            rows=sum(s.rows for s in splits),
            objects_total=total,
            objects_kept=sum(s.objects_kept for s in splits),
            objects_clipped=sum(s.objects_clipped for s in splits),
            objects_dropped=dict(sorted(_add(s.objects_dropped for s in splits).items())),
            per_class={c: per_class[c] for c in classes if per_class[c]},
            questions=sum(questions) if questions else None,
            questions_dropped=(dict(sorted(_add(s.questions_dropped or {} for s in splits)
                                           .items())) if questions else None),
        )
    return out


def _add(counts: Any) -> Counter[str]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return total


def merge(
    parts: Sequence[str | Path], out: str | Path, *, overwrite: bool = False,
    command: str = "",
) -> ConversionReport:
    """Join the part folders of one sharded conversion (`convert(..., num_shards=N,
    shard_index=I)`, one per machine) into the dataset a single run would have written:
    the same rows, shards and report. Refuses a set with a part missing, parts of different
    conversions, or a part whose contents do not match what it recorded.

    Example:
        >>> import dsconv
        >>> dsconv.merge(["parts/0", "parts/1"], "out/photos-vqa").splits["train"].rows
        1600
    """
    return merge_parts([Path(p) for p in parts], Path(out), overwrite=overwrite,
                       command=command or "dsconv.merge(...)")
