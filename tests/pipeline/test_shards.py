"""`--num-shards/--shard-index` and `dsconv merge`: parts of one conversion, joined, equal a
whole run row for row; mismatched or incomplete sets of parts are refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsconv.converters.base import DetectionSample, Ledger, Vocabulary
from dsconv.errors import DsconvError
from dsconv.pipeline.convert import ConvertOptions, convert_detection
from dsconv.pipeline.shard import Share
from dsconv.storage.dataset import REPORT_FILE, shard_paths
from dsconv.tasks.base import TaskContext, get_task
from dsconv.validation import validate_dataset
from tests.helpers import assert_one_line_error, run_cli, run_main
from tests.scale_data import MAX_SIDE, write_messy_coco

PARTS = 3
OPTIONS = {
    "source splits, resized": ("-t", "count-json", "-t", "presence", "--max-image-size",
                               str(MAX_SIDE), "--workers", "2"),
    "re-split, classes kept": ("-t", "count-class", "-t", "florence-od", "--split-ratios",
                               "0.5,0.25,0.25", "--classes", "dime,penny=cent",
                               "--absent-rate", "0.5"),
}


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_messy_coco(tmp_path_factory.mktemp("messy"))


def convert(src: Path, out: Path, *options: str) -> Path:
    result = run_cli("coco-to-vqa", src, out, *options)
    assert result.exit_code == 0, result.output
    return out


def convert_parts(src: Path, root: Path, *options: str, count: int = PARTS) -> list[Path]:
    return [convert(src, root / f"part-{i}", *options, "--num-shards", str(count),
                    "--shard-index", str(i)) for i in range(count)]


def merge(*args: Path | str):
    return run_cli("merge", *args)


def report_without_part(dataset: Path) -> dict:
    report = json.loads((dataset / REPORT_FILE).read_text())
    report.pop("part", None)
    return report


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_parts_merged_equal_one_run(messy: Path, tmp_path: Path, options: tuple[str, ...]
                                    ) -> None:
    whole = convert(messy, tmp_path / "whole", *options)
    parts = convert_parts(messy, tmp_path / "parts", *options)
    result = merge(parts[2], parts[0], parts[1], tmp_path / "merged")
    assert result.exit_code == 0, result.output
    merged = tmp_path / "merged"

    assert {s: [p.name for p in ps] for s, ps in shard_paths(merged).items()} == \
        {s: [p.name for p in ps] for s, ps in shard_paths(whole).items()}
    for split, paths in shard_paths(whole).items():
        for path in paths:
            mine = merged / "data" / path.name
            assert pq.read_table(mine).equals(pq.read_table(path)), split
            assert mine.read_bytes() == path.read_bytes(), split
    assert report_without_part(merged) == report_without_part(whole)
    assert (merged / REPORT_FILE).read_bytes() == (whole / REPORT_FILE).read_bytes()
    assert validate_dataset(merged).ok
    for part in parts:
        assert validate_dataset(part).ok, part
    card = (merged / "README.md").read_text()
    assert "joined with `dsconv merge`" in card and "part 0 of" not in card


def test_parts_split_the_work_and_are_marked(messy: Path, tmp_path: Path) -> None:
    parts = convert_parts(messy, tmp_path, "--split-ratios", "0.8,0.1,0.1")
    reports = [json.loads((p / REPORT_FILE).read_text()) for p in parts]
    assert [r["part"]["index"] for r in reports] == [0, 1, 2]
    assert {r["part"]["count"] for r in reports} == {PARTS}
    assert len({r["part"]["fingerprint"] for r in reports}) == 1
    images = [sum(s["images"] for s in r["splits"].values()) for r in reports]
    assert all(n > 0 for n in images)
    assert all("unknown_image" not in json.dumps(r["drops"]) for r in reports[1:])  # part 0's
    assert "unknown_image" in json.dumps(reports[0]["drops"])
    assert (parts[1] / "part" / "samples.parquet").is_file()


def test_merge_refuses_an_incomplete_set(messy: Path, tmp_path: Path) -> None:
    parts = convert_parts(messy, tmp_path)
    result = merge(parts[0], parts[2], tmp_path / "out")
    assert isinstance(result.exception, DsconvError)
    assert str(result.exception) == "incomplete: part(s) 1 of 3 missing (given: 0, 2)"
    assert not (tmp_path / "out").exists()
    result = merge(parts[0], parts[1], parts[1], parts[2], tmp_path / "out")
    assert "both part 1 of 3" in str(result.exception)


def test_merge_refuses_parts_of_different_conversions(messy: Path, tmp_path: Path) -> None:
    parts = convert_parts(messy, tmp_path / "a")
    other = convert(messy, tmp_path / "b", "--seed", "1", "--num-shards", "3",
                    "--shard-index", "1")
    result = merge(parts[0], other, parts[2], tmp_path / "out")
    assert isinstance(result.exception, DsconvError)
    message = str(result.exception)
    assert "parts of different conversions" in message and "\n" not in message
    fewer = convert(messy, tmp_path / "c", "--num-shards", "2", "--shard-index", "1")
    assert "different conversions" in str(merge(parts[0], fewer, tmp_path / "out").exception)


def test_merge_refuses_whole_datasets_and_broken_parts(messy: Path, tmp_path: Path) -> None:
    whole = convert(messy, tmp_path / "whole")
    assert "not a part" in str(merge(whole, tmp_path / "out").exception)
    parts = convert_parts(messy, tmp_path / "parts", count=2)
    (parts[1] / "part" / "ledger.json").unlink()
    assert "ledger.json: missing" in str(merge(*parts, tmp_path / "out").exception)
    assert "overlaps the source" in str(merge(parts[0], parts[1], parts[0]).exception)


@pytest.mark.parametrize(("options", "message"), [
    (("--num-shards", "3"), "go together"),
    (("--shard-index", "0"), "go together"),
    (("--num-shards", "3", "--shard-index", "3"), "must be 0 to 2"),
])
def test_shard_options_are_checked(messy: Path, tmp_path: Path, options: tuple[str, ...],
                                   message: str) -> None:
    result = run_cli("coco-to-vqa", messy, tmp_path / "out", *options)
    assert isinstance(result.exception, DsconvError)
    assert message in str(result.exception)


class _StreamingReader:
    """A reader that only streams (no `items`/`read`): it cannot skip other parts' images."""

    name: ClassVar[str] = "stream"
    description: ClassVar[str] = "test"

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(["dot"])

    def splits(self) -> list[str]:
        return ["train"]

    def count(self, split: str) -> int | None:
        return None

    def samples(self, split: str) -> Iterator[DetectionSample]:
        yield from ()


def test_a_streaming_reader_cannot_be_sharded(tmp_path: Path) -> None:
    options = ConvertOptions(out=tmp_path / "out", tasks=[get_task("count-json")],
                             context=TaskContext(Vocabulary(["dot"])), share=Share(0, 2))
    with pytest.raises(DsconvError, match="streams its source"):
        convert_detection(_StreamingReader(), Ledger(), options)
    assert not (tmp_path / "out").exists()


def test_one_part_of_one_is_the_whole(messy: Path, tmp_path: Path) -> None:
    whole = convert(messy, tmp_path / "whole")
    (part,) = convert_parts(messy, tmp_path / "parts", count=1)
    assert merge(part, tmp_path / "merged").exit_code == 0
    assert report_without_part(tmp_path / "merged") == report_without_part(whole)


# --- merge checks what it joins against what each part recorded ---------------------------

@pytest.fixture(scope="module")
def two_parts(messy: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return convert_parts(messy, tmp_path_factory.mktemp("two-parts"), count=2)


def copied_parts(parts: list[Path], root: Path) -> list[Path]:
    import shutil

    return [shutil.copytree(part, root / part.name) for part in parts]


def rewrite_row(shard: Path, index: int, change: Callable[[dict], None]) -> str:
    """Change one row of a shard in place, as an editor would; returns the row's id."""
    table = pq.read_table(shard)
    rows = table.to_pylist()
    change(rows[index])
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), shard)
    return rows[index]["id"]


def flip_a_byte(row: dict) -> None:
    data = bytearray(row["image"]["bytes"])
    data[len(data) // 2] ^= 0xFF
    row["image"]["bytes"] = bytes(data)


@pytest.mark.parametrize(("change", "what"), [
    (lambda row: row.update(answer=row["answer"] + " "), "row(s) of image"),
    (lambda row: row["objects"]["bbox"][0].__setitem__(0, 1.5) if row["objects"]["bbox"]
     else row.update(question="?"), "row(s) of image"),
    (flip_a_byte, "image bytes differ"),
], ids=["answer", "box", "image bytes"])
def test_merge_refuses_a_part_edited_or_corrupted_since_it_was_written(
    two_parts: list[Path], tmp_path: Path, change: Callable[[dict], None], what: str
) -> None:
    parts = copied_parts(two_parts, tmp_path)
    shard = shard_paths(parts[1], "train")["train"][0]
    row_id = rewrite_row(shard, 1, change)
    line = assert_one_line_error(run_main("merge", *parts, tmp_path / "out"), what)
    assert f"{parts[1]}: data/{shard.name} row 1 ('{row_id}')" in line
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".dsconv-tmp-*"))


def test_unchanged_parts_still_merge_after_a_rewrite(two_parts: list[Path],
                                                     tmp_path: Path) -> None:
    """The digests are of the rows' values, not the file's bytes: a shard written again with
    the same rows (another pyarrow, other row groups) merges."""
    parts = copied_parts(two_parts, tmp_path)
    shard = shard_paths(parts[0], "train")["train"][0]
    pq.write_table(pq.read_table(shard), shard, row_group_size=7)
    assert run_main("merge", *parts, tmp_path / "out").exit_code == 0


def test_merge_refuses_a_deeply_nested_ledger(two_parts: list[Path], tmp_path: Path) -> None:
    parts = copied_parts(two_parts, tmp_path)
    (parts[1] / "part" / "ledger.json").write_text("[" * 5000 + "]" * 5000)
    assert_one_line_error(run_main("merge", *parts, tmp_path / "out"), "ledger.json",
                          "nested too deeply")


@pytest.mark.parametrize("damage", ["truncated", "not parquet"])
def test_merge_refuses_a_damaged_shard(two_parts: list[Path], tmp_path: Path,
                                       damage: str) -> None:
    parts = copied_parts(two_parts, tmp_path)
    shard = shard_paths(parts[1], "train")["train"][0]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"hello" * 100)
    assert_one_line_error(run_main("merge", *parts, tmp_path / "out"), str(shard))
    assert not (tmp_path / "out").exists()
