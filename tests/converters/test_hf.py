"""Hugging Face detection datasets: local Parquet / JSON Lines and Hub ids, box formats."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dsconv.converters import tables
from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.hf import HfOptions, HfReader, detect, to_coco
from dsconv.errors import DsconvError, InputError, NoAnnotationsError
from dsconv.samples.coins import write_coins
from dsconv.storage.dataset import iter_rows
from tests.helpers import convert_coins, read_all, run_cli, write_image, write_text


def jpeg(size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def test_coins_sample_converts_with_every_object(tmp_path: Path) -> None:
    convert_coins(tmp_path, "hf")


def test_class_names_come_from_the_class_label_feature(tmp_path: Path) -> None:
    write_coins(tmp_path, images=4, seed=1, fmt="hf")
    reader, ledger, samples, _ = read_all(HfReader, tmp_path)
    assert reader.vocabulary().classes[:3] == ["dime", "nickel", "penny"]
    assert reader.splits() == ["train", "validation", "test"] and not ledger.drops
    assert all(s.file_name.endswith(".jpg") and s.image_id == s.file_name[:-4]
               for items in samples.values() for s in items)


@pytest.mark.parametrize(("fmt", "box"), [
    ("coco", [10, 5, 20, 10]), ("xyxy", [10, 5, 30, 15]), ("pascal_voc", [10, 5, 30, 15]),
    ("yolo", [0.5, 0.5, 0.5, 0.5])])
def test_box_formats(fmt: str, box: list[float]) -> None:
    assert to_coco(box, fmt, 40, 20) == pytest.approx((10, 5, 20, 10))


def test_a_wrong_box_format_is_reported(tmp_path: Path) -> None:
    rows = [{"image": {"bytes": None, "path": f"{k}.jpg"},
             "objects": {"bbox": [[20, 10, 38, 19]], "category": ["coin"]}} for k in range(3)]
    for k in range(3):
        write_image(tmp_path / f"{k}.jpg", (40, 20))
    jsonl(tmp_path / "train.jsonl", rows)
    _, ledger, samples, reports = read_all(HfReader, tmp_path)  # xyxy read as coco
    assert reports["train"].objects_clipped == 3
    assert any("3 boxes fall outside" in w and "--bbox-format coco" in w
               for w in ledger.warnings)
    _, ledger, samples, _ = read_all(HfReader, tmp_path, HfOptions(bbox_format="xyxy"))
    assert samples["train"][0].objects[0].bbox == (20, 10, 18, 9) and not ledger.warnings


def test_list_of_records_text_categories_and_column_mapping(tmp_path: Path) -> None:
    jsonl(tmp_path / "data" / "validation.jsonl", [
        {"img": {"bytes": None, "path": "../pics/a.jpg"},
         "objs": [{"box": [1, 1, 5, 5], "label": "dog"}, {"box": [1, 1, 5, 5], "label": 3},
                  {"box": [1, 1, "x", 5], "label": "dog"}, {"box": [1, 1], "label": "cat"}]}])
    write_image(tmp_path / "pics" / "a.jpg", (40, 20))
    options = HfOptions(image_col="img", objects_col="objs", bbox_col="box",
                        category_col="label")
    reader, _, samples, reports = read_all(HfReader, tmp_path, options)
    assert reader.vocabulary().classes == ["cat", "dog", "class_0", "class_1", "class_2",
                                           "class_3"]
    (sample,) = samples["validation"]
    assert [o.category for o in sample.objects] == ["dog", "class_3"]
    assert reports["validation"].objects_dropped == {"invalid_box": 2}
    with pytest.raises(InputError, match="missing column"):
        HfReader(tmp_path, Ledger())


def test_local_image_paths_stay_inside_the_folder(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.jpg")
    root = tmp_path / "ds"
    (root / "pics").mkdir(parents=True)
    (root / "pics" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    objects = {"bbox": [[1, 1, 2, 2]], "category": ["coin"]}
    jsonl(root / "train.jsonl", [
        {"image": {"bytes": None, "path": "../secret.jpg"}, "objects": objects},
        {"image": {"bytes": None, "path": str(tmp_path / "secret.jpg")}, "objects": objects},
        {"image": {"bytes": None, "path": "pics/link.jpg"}, "objects": objects},
        {"image": {"bytes": None, "path": "gone.jpg"}, "objects": objects}])
    _, _, samples, reports = read_all(HfReader, root)
    assert samples["train"] == []
    assert reports["train"].images_dropped == {"missing_image": 1, "unsafe_path": 3}
    assert reports["train"].objects_dropped == {"missing_image": 1, "unsafe_path": 3}


def test_bytes_pass_through_and_bad_rows_are_reported(tmp_path: Path) -> None:
    data = jpeg()
    table = pa.Table.from_pylist([
        {"image": {"bytes": data, "path": None}, "id": 7,
         "objects": {"bbox": [[1, 1, 5, 5]], "category": [0], "id": [70]}},
        {"image": {"bytes": data, "path": "b.jpg"}, "id": 8,
         "objects": {"bbox": [[1, 1, 5, 5]], "category": [5], "id": [80]}},
        {"image": {"bytes": b"not an image", "path": "c.jpg"}, "id": 9,
         "objects": {"bbox": [[1, 1, 5, 5]], "category": [0], "id": [90]}},
    ])
    metadata = {b"huggingface": json.dumps({"info": {"features": {"objects": {
        "feature": {"bbox": {"feature": {"dtype": "float32", "_type": "Value"},
                             "_type": "Sequence"},
                    "category": {"names": ["coin", "note"], "_type": "ClassLabel"}},
        "_type": "Sequence"}}}}).encode()}  # the older `Sequence` of a dict
    (tmp_path / "data").mkdir()
    pq.write_table(table.replace_schema_metadata(metadata),
                   tmp_path / "data" / "train-00000-of-00001.parquet")
    reader, ledger, samples, reports = read_all(HfReader, tmp_path)
    assert reader.vocabulary().classes == ["coin", "note"]
    first, second = samples["train"]
    assert first.image_bytes == data and (first.image_id, first.file_name) == ("7", "7")
    assert first.objects[0].bbox == (1, 1, 5, 5) and second.objects == []
    assert reports["train"].objects_dropped == {"unknown_class": 1, "unreadable_image": 1}
    assert {d.annotation for d in ledger.drops if d.annotation} == {
        "row 1 object 80", "row 2 object 90"}


def test_malformed_json_lines_name_file_and_line(tmp_path: Path) -> None:
    write_text(tmp_path / "train.jsonl", '{"image": "a.jpg", "objects": []}\n{"image": \n')
    reader = HfReader(tmp_path, Ledger(), HfOptions(classes=("coin",)))
    with pytest.raises(InputError) as caught:
        list(reader.samples("train"))
    assert caught.value.file.endswith("train.jsonl") and caught.value.where == "line 2"


def test_fifo_table_is_not_a_hang(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "train.parquet")
    with pytest.raises(InputError, match="FIFO"):
        HfReader(tmp_path, Ledger())


def test_plain_reader_options_and_bad_format(tmp_path: Path) -> None:
    write_coins(tmp_path, images=3, seed=1, fmt="hf")
    reader = HfReader(tmp_path, Ledger(), ReaderOptions(noun="currency"))
    assert reader.vocabulary().noun == "currency" and reader.options.bbox_format == "coco"
    with pytest.raises(DsconvError, match="bbox-format"):
        HfReader(tmp_path, Ledger(), HfOptions(bbox_format="xywh"))  # type: ignore[arg-type]


def test_folder_without_tables_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    with pytest.raises(NoAnnotationsError, match="hf"):
        HfReader(tmp_path, Ledger())


def test_hub_id_streams_through_load_dataset(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub id goes to `load_dataset(..., streaming=True)` (here a local folder standing in
    for the Hub), and gives the same rows as the local files."""
    write_coins(tmp_path / "src", images=5, seed=4, fmt="hf")
    load = tables.load_dataset
    calls = []

    def spy(path: str, **kwargs: Any) -> Any:
        calls.append((path, kwargs.get("streaming")))
        return load(str(tmp_path / "src"), **kwargs)

    monkeypatch.setattr(tables, "load_dataset", spy)
    for name, src in (("hub", "someone/coins"), ("local", str(tmp_path / "src"))):
        result = run_cli("convert", src, tmp_path / name, "--from", "hf",
                         "--bbox-format", "coco")
        assert result.exit_code == 0, result.output
    assert calls == [("someone/coins", True)]
    assert list(iter_rows(tmp_path / "hub")) == list(iter_rows(tmp_path / "local"))


def test_cli_column_flags(tmp_path: Path) -> None:
    jsonl(tmp_path / "src" / "train.jsonl", [
        {"picture": {"bytes": None, "path": "a.jpg"},
         "things": {"corners": [[2, 2, 12, 12]], "kind": ["coin"]}}])
    write_image(tmp_path / "src" / "a.jpg", (40, 20))
    result = run_cli("convert", tmp_path / "src", tmp_path / "out", "--from", "hf",
                     "--bbox-format", "xyxy", "--image-col", "picture", "--objects-col",
                     "things", "--bbox-col", "corners", "--category-col", "kind")
    assert result.exit_code == 0, result.output
    (row,) = iter_rows(tmp_path / "out")
    assert row["objects"]["bbox"] == [[2, 2, 10, 10]]


def test_detect(tmp_path: Path) -> None:
    write_coins(tmp_path / "hf", images=3, seed=1, fmt="hf")
    found = detect(tmp_path / "hf")
    assert found is not None and found[0] >= 0.9 and ".parquet" in found[1]
    write_text(tmp_path / "docs" / "train.jsonl", '{"image": "a.jpg", "question": "q"}\n')
    assert detect(tmp_path / "docs") is None


def test_detect_ignores_symlinks(tmp_path: Path) -> None:
    write_coins(tmp_path / "hf", images=3, seed=1, fmt="hf")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.parquet").symlink_to(
        tmp_path / "hf" / "data" / "train-00000-of-00001.parquet")
    assert detect(tmp_path / "ds") is None
