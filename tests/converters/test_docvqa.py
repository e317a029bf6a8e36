"""`dsconv docvqa-to-vqa`: local Parquet, JSON Lines and CSV (read here) and Hub ids."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dsconv.converters import tables
from dsconv.converters.tables import resolve_source
from dsconv.converters.tables import split_of as _split_of
from dsconv.errors import InputError
from dsconv.samples.docs import write_docs
from dsconv.storage.dataset import iter_rows, read_report
from tests.helpers import run_cli

HUB_ID = "HuggingFaceM4/DocumentVQA"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the Hub, even through a path that looks like an id."""
    import datasets.config

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def docs_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    write_docs(out, documents=6, seed=3)
    return out


@pytest.fixture(scope="module")
def docs_vqa(docs_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-vqa") / "out"
    _convert(docs_src, out)
    return out


def _convert(src: str | Path, out: Path, *args: str) -> dict[str, Any]:
    result = run_cli("docvqa-to-vqa", src, out, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return read_report(out)


def _source_rows(src: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((src / "data").glob("*.parquet")):
        split = path.name.split("-")[0]
        for row in pq.read_table(path).to_pylist():
            yield split, row


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_rows_carry_the_source_questions_answers_and_bytes(docs_src: Path, docs_vqa: Path) -> None:
    rows = {row["id"]: row for row in iter_rows(docs_vqa)}
    expected = 0
    for split, source in _source_rows(docs_src):
        if not source["answers"] or not (source["question"] or "").strip():
            continue
        expected += 1
        row = rows[f"{split}/{source['docId']}/docvqa/{source['questionId']}"]
        assert row["question"] == "<DocVQA>" + source["question"]
        assert row["answers"] == source["answers"]
        assert row["answer"] == source["answers"][0]
        assert row["image"]["bytes"] == source["image"]["bytes"]
        assert row["image"]["path"] == source["image"]["path"]
        assert row["image_id"] == str(source["docId"])
        assert (row["width"], row["height"]) == _size(source["image"]["bytes"])
        assert row["objects"] == {"bbox": [], "category": []}
        assert row["task"] == "docvqa"
    assert expected and len(rows) == expected


def test_report_accounts_for_every_question(docs_src: Path, docs_vqa: Path) -> None:
    report = read_report(docs_vqa)
    read: dict[str, int] = {}
    for split, _ in _source_rows(docs_src):
        read[split] = read.get(split, 0) + 1
    assert report["source_format"] == "docvqa" and report["classes"] == []
    for split, counts in report["splits"].items():
        assert counts["questions"] == read[split]
        assert counts["rows"] + sum(counts["questions_dropped"].values()) == counts["questions"]
        assert counts["objects_total"] == counts["objects_kept"] == 0


def test_validate_passes_and_datasets_opens_it(docs_vqa: Path) -> None:
    import datasets

    result = run_cli("validate", docs_vqa)
    assert result.exit_code == 0, result.output
    loaded = datasets.load_dataset(str(docs_vqa))
    report = read_report(docs_vqa)
    assert {s: len(loaded[s]) for s in loaded} == {
        s: c["rows"] for s, c in report["splits"].items() if c["rows"]}
    first = loaded["train"][0]
    assert first["image"].size == (first["width"], first["height"])


def test_card_mentions_the_prefix_and_has_no_class_table(docs_vqa: Path) -> None:
    card = (docs_vqa / "README.md").read_text()
    assert "`<DocVQA>`" in card
    assert "## Classes" not in card
    assert "| split | images | questions | rows | questions dropped |" in card


@pytest.mark.parametrize("prefix", ["<VQA>", ""])
def test_prefix_variants(docs_src: Path, tmp_path: Path, prefix: str) -> None:
    _convert(docs_src, tmp_path / "out", "--prefix", prefix, "--split", "train")
    questions = {row["id"]: row["question"] for row in iter_rows(tmp_path / "out")}
    assert questions and all(i.startswith("train/") for i in questions)
    source = {f"{s}/{r['docId']}/docvqa/{r['questionId']}": r["question"]
              for s, r in _source_rows(docs_src)}
    assert all(q == prefix + source[i] for i, q in questions.items())


def test_ids_are_unique_and_stable(docs_src: Path, docs_vqa: Path, tmp_path: Path) -> None:
    ids = [row["id"] for row in iter_rows(docs_vqa, columns=["id"])]
    assert len(ids) == len(set(ids))
    _convert(docs_src, tmp_path / "again")
    assert [row["id"] for row in iter_rows(tmp_path / "again", columns=["id"])] == ids
    for old, new in zip(sorted((docs_vqa / "data").glob("*.parquet")),
                        sorted((tmp_path / "again" / "data").glob("*.parquet")), strict=True):
        assert old.read_bytes() == new.read_bytes()


def _csv_source(folder: Path) -> dict[str, bytes]:
    """Two pages as image files and a CSV naming them relative to its folder."""
    pages = folder / "pages"
    pages.mkdir(parents=True)
    images = {}
    for name, color in (("a.png", "white"), ("b.jpg", "gray")):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), color).save(buffer, "JPEG" if name.endswith("jpg") else "PNG")
        (pages / name).write_bytes(buffer.getvalue())
        images[f"pages/{name}"] = buffer.getvalue()
    with (folder / "val.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["page", "q", "refs", "doc"])
        writer.writerow(["pages/a.png", "Who signed?", "NA", "007"])
        writer.writerow(["pages/a.png", "When?", json.dumps(["1993", "in 1993"]), "007"])
        writer.writerow(["pages/b.jpg", "Total?", "$ 12", ""])
    return images


def test_csv_with_image_paths_and_mapped_columns(tmp_path: Path) -> None:
    images = _csv_source(tmp_path / "src")
    report = _convert(tmp_path / "src", tmp_path / "out", "--image-col", "page",
                      "--question-col", "q", "--answers-col", "refs", "--doc-id-col", "doc")
    assert list(report["splits"]) == ["validation"]
    rows = list(iter_rows(tmp_path / "out"))
    assert [r["question"] for r in rows] == ["<DocVQA>Who signed?", "<DocVQA>When?",
                                             "<DocVQA>Total?"]
    assert [r["answers"] for r in rows] == [["NA"], ["1993", "in 1993"], ["$ 12"]]
    assert [r["image"]["path"] for r in rows] == ["pages/a.png", "pages/a.png", "pages/b.jpg"]
    assert all(r["image"]["bytes"] == images[r["image"]["path"]] for r in rows)
    assert rows[0]["id"] == "validation/007/docvqa/0" and rows[1]["id"] == "validation/007/docvqa/1"
    hashed = rows[2]["image_id"]  # no doc id: a hash of the bytes
    assert len(hashed) == 16 and rows[2]["id"] == f"validation/{hashed}/docvqa/0"
    assert (rows[2]["width"], rows[2]["height"]) == (64, 48)


def test_hub_ids_and_local_paths_give_the_same_rows(
    docs_src: Path, docs_vqa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Hub id streams through `load_dataset`; local files are read without it (it would
    reach the Hub), into the very same rows."""
    assert resolve_source(HUB_ID) == [tables.hub_spec(HUB_ID)]
    calls: list[tuple[str, Any, bool]] = []
    load = tables.load_dataset

    def spy(path: str, **kwargs: Any) -> Any:
        calls.append((path, kwargs.get("data_files"), kwargs.get("streaming")))
        # The "Hub" here is a local dataset folder, which datasets reads like a Hub repo.
        return load(str(docs_src) if path == HUB_ID else path, **kwargs)

    monkeypatch.setattr(tables, "load_dataset", spy)
    _convert(HUB_ID, tmp_path / "hub")
    assert calls == [(HUB_ID, None, True)]
    _convert(docs_src, tmp_path / "local")
    assert calls == [(HUB_ID, None, True)]
    for name in ("hub", "local"):
        assert list(iter_rows(tmp_path / name)) == list(iter_rows(docs_vqa))


def _edited_source(docs_src: Path, out: Path) -> None:
    """The train split with a row of no answers, one with a broken image, one empty question."""
    table = pq.read_table(docs_src / "data" / "train-00000-of-00001.parquet")
    rows = table.to_pylist()
    rows[0]["answers"] = []
    rows[1]["image"] = {"bytes": b"\x89PNG\r\n\x1a\n not really", "path": "broken.png"}
    rows[2]["question"] = "  "
    (out / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema),
                   out / "data" / "train-00000-of-00001.parquet")


def test_bad_rows_are_reported_drops(docs_src: Path, tmp_path: Path) -> None:
    _edited_source(docs_src, tmp_path / "src")
    report = _convert(tmp_path / "src", tmp_path / "out")
    train = report["splits"]["train"]
    assert train["questions_dropped"] == {"empty_question": 1, "no_answers": 1,
                                          "unreadable_image": 1}
    assert train["rows"] == train["questions"] - 3
    reasons = {d["annotation"].split(" (")[0]: d["reason"] for d in report["drops"]}
    assert reasons == {"row 0": "no_answers", "row 1": "unreadable_image",
                       "row 2": "empty_question"}
    assert all(d["file"].endswith("train-00000-of-00001.parquet") for d in report["drops"])
    assert run_cli("validate", tmp_path / "out").exit_code == 0


def test_a_split_without_answers_is_reported_and_the_dataset_opens(
    docs_src: Path, tmp_path: Path,
) -> None:
    """DocVQA's test split hides its answers: every question is a reported drop."""
    import datasets

    (tmp_path / "src" / "data").mkdir(parents=True)
    for path in (docs_src / "data").glob("*.parquet"):
        table = pq.read_table(path)
        if path.name.startswith("test-"):
            rows = [row | {"answers": None} for row in table.to_pylist()]
            table = pa.Table.from_pylist(rows, schema=table.schema)
        pq.write_table(table, tmp_path / "src" / "data" / path.name)
    report = _convert(tmp_path / "src", tmp_path / "out")
    test = report["splits"]["test"]
    assert test["rows"] == 0 and test["questions_dropped"] == {"no_answers": test["questions"]}
    assert "test" not in datasets.load_dataset(str(tmp_path / "out"))


def test_missing_columns_are_one_line_naming_what_exists(docs_src: Path, tmp_path: Path) -> None:
    result = run_cli("docvqa-to-vqa", docs_src, tmp_path / "out", "--question-col", "query",
                     "--answers-col", "refs")
    assert result.exit_code != 0
    error = result.exception
    assert isinstance(error, InputError)
    message = str(error)
    assert "\n" not in message
    assert "missing columns query, refs" in message
    assert "questionId" in message and "answers" in message
    assert not (tmp_path / "out").exists()


def test_a_named_id_column_must_exist(docs_src: Path, tmp_path: Path) -> None:
    result = run_cli("docvqa-to-vqa", docs_src, tmp_path / "out", "--id-col", "qid")
    assert isinstance(result.exception, InputError)
    assert "missing column qid" in str(result.exception)


def test_split_filter_accepts_source_names(docs_src: Path, tmp_path: Path) -> None:
    report = _convert(docs_src, tmp_path / "out", "--split", "val", "--max-items", "1")
    assert list(report["splits"]) == ["validation"]
    assert report["splits"]["validation"]["questions"] == 1
    result = run_cli("docvqa-to-vqa", docs_src, tmp_path / "none", "--split", "dev")
    assert result.exit_code != 0
    assert "no split dev (has train, validation" in str(result.exception)


@pytest.mark.parametrize(("relative", "split"), [
    ("data/train-00000-of-00001.parquet", "train"),
    ("data/val-00000-of-00002.parquet", "validation"),
    ("qa_valid.jsonl", "validation"),
    ("test/questions.csv", "test"),
    ("questions.csv", "train"),
])
def test_split_names_come_from_file_and_folder_names(relative: str, split: str) -> None:
    root = Path("/src")
    assert _split_of(root / relative, root) == split


def test_sample_docs_command(tmp_path: Path) -> None:
    result = run_cli("sample", "docs", tmp_path / "docs", "--documents", "4")
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "docs" / "data").glob("train-*.parquet"))


def test_not_a_source_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Hub dataset id"):
        resolve_source(str(tmp_path / "nope" / "x.parquet"))


# --- Local sources: containment, no network, hostile tables ----------------------------------


def _jpeg(color: str = "white") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, "JPEG")
    return buffer.getvalue()


def _write_table(path: Path, rows: list[dict[str, Any]]) -> Path:
    """`rows` (image paths as text) as CSV, JSON Lines or Parquet, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _hostile_source(tmp_path: Path, suffix: str) -> tuple[Path, bytes]:
    """A table whose image cells name a page inside the folder, then files outside it."""
    secret = _jpeg("red")
    (tmp_path / "secret.jpg").write_bytes(secret)
    src = tmp_path / "deep" / "src"
    (src / "pages").mkdir(parents=True)
    (src / "pages" / "ok.jpg").write_bytes(_jpeg())
    (src / "pages" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    names = ["pages/ok.jpg", str(tmp_path / "secret.jpg"), "../../secret.jpg",
             "pages/link.jpg", "/etc/passwd"]
    _write_table(src / f"val{suffix}", [
        {"image": name, "question": f"q{i}?", "answers": "a", "questionId": str(i)}
        for i, name in enumerate(names)])
    return src, secret


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_image_paths_leaving_the_folder_are_unsafe_drops(tmp_path: Path, suffix: str) -> None:
    src, secret = _hostile_source(tmp_path, suffix)
    report = _convert(src, tmp_path / "out")
    assert report["splits"]["validation"]["questions_dropped"] == {"unsafe_path": 4}
    rows = list(iter_rows(tmp_path / "out"))
    assert [r["image"]["path"] for r in rows] == ["pages/ok.jpg"]
    assert all(r["image"]["bytes"] != secret for r in rows)
    assert all("--allow-outside-root" in d["detail"] for d in report["drops"])


def test_allow_outside_root_reads_them(tmp_path: Path) -> None:
    src, secret = _hostile_source(tmp_path, ".csv")
    report = _convert(src, tmp_path / "out", "--allow-outside-root")
    assert report["splits"]["validation"]["questions_dropped"] == {"unreadable_image": 1}
    assert [d["annotation"].split(" (")[0] for d in report["drops"]] == ["row 4"]  # /etc/passwd
    rows = list(iter_rows(tmp_path / "out"))
    assert [r["image"]["bytes"] == secret for r in rows] == [False, True, True, True]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_device_named_as_an_image_is_unreadable_not_a_hang(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pages").mkdir(parents=True)
    os.mkfifo(src / "pages" / "pipe.jpg")
    (src / "pages" / "zero.jpg").symlink_to("/dev/zero")
    _write_table(src / "val.csv", [
        {"image": name, "question": "q?", "answers": "a"}
        for name in ("pages/pipe.jpg", "pages/zero.jpg", "pages/missing.jpg")])
    report = _convert(src, tmp_path / "out", "--allow-outside-root", "--allow-empty")
    assert report["splits"]["validation"]["questions_dropped"] == {
        "missing_image": 1, "unreadable_image": 2}
    result = run_cli("docvqa-to-vqa", src, tmp_path / "out2", "--allow-outside-root")
    assert result.exit_code == 1
    assert "every question was dropped (unreadable_image: 2, missing_image: 1" in str(
        result.exception)


def test_data_files_must_be_regular_files_inside_the_folder(tmp_path: Path) -> None:
    elsewhere = _write_table(tmp_path / "elsewhere" / "train.csv", [
        {"image": str(tmp_path / "elsewhere" / "x.jpg"), "question": "q?", "answers": "a"}])
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.csv").symlink_to(elsewhere)
    result = run_cli("docvqa-to-vqa", src, tmp_path / "out")
    assert isinstance(result.exception, InputError), result.output
    assert "train.csv" in str(result.exception) and "outside" in str(result.exception)
    result = run_cli("docvqa-to-vqa", src / "train.csv", tmp_path / "out")  # named directly
    assert isinstance(result.exception, InputError) and "outside" in str(result.exception)
    assert not (tmp_path / "out").exists()
    (tmp_path / "elsewhere" / "x.jpg").write_bytes(_jpeg())
    report = _convert(src, tmp_path / "out", "--allow-outside-root")
    assert report["splits"]["train"]["rows"] == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_as_a_data_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "train.jsonl")
    for given in (src, src / "train.jsonl"):
        result = run_cli("docvqa-to-vqa", given, tmp_path / "out")
        assert isinstance(result.exception, InputError), result.output
        assert "train.jsonl" in str(result.exception) and "FIFO" in str(result.exception)


def test_a_folder_without_data_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "src" / "pages").mkdir(parents=True)
    (tmp_path / "src" / "pages" / "a.jpg").write_bytes(_jpeg())
    result = run_cli("docvqa-to-vqa", tmp_path / "src", tmp_path / "out")
    assert isinstance(result.exception, InputError)
    assert "no .parquet, .jsonl, .csv, .json files" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_a_local_conversion_opens_no_connection(
    docs_src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The offline switches of the fixture above are undone: local files alone must not
    reach the network, whatever the environment says."""
    import socket

    import datasets.config

    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    src = tmp_path / "src"
    (src / "pages").mkdir(parents=True)
    (src / "pages" / "a.jpg").write_bytes(_jpeg())
    _write_table(src / "train.jsonl", [{"image": "pages/a.jpg", "question": "q?",
                                        "answers": ["a"]}])
    _write_table(src / "train.csv", [{"image": "pages/a.jpg", "question": "q?", "answers": "a"}])
    for given in (docs_src, src / "train.jsonl", src / "train.csv"):
        out = tmp_path / "out" / given.name
        result = run_cli("docvqa-to-vqa", given, out)
        assert result.exit_code == 0, (result.output, result.exception)
    assert attempts == []


@pytest.mark.parametrize(("lines", "where"), [
    (['[1, 2]', '{"image": "a.jpg", "question": "q", "answers": "a"}'], "line 1"),
    (['{"image": "a.jpg", "question": "q", "answers": "a"}', "", "  ", '"late"'], "line 4"),
    (['{"image": "a.jpg", "question": "q", "answers": "a"}', '{"image": '], "line 2"),
    (['{"image": "a.jpg", "question": "q", "answers": ' + "[" * 3000 + "]" * 3000 + "}"],
     "line 1"),
])
def test_bad_json_lines_are_one_line_errors_with_the_line(
    tmp_path: Path, lines: list[str], where: str,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(_jpeg())
    (tmp_path / "src" / "qa.jsonl").write_text("\n".join(lines) + "\n")
    result = run_cli("docvqa-to-vqa", tmp_path / "src" / "qa.jsonl", tmp_path / "out")
    error = result.exception
    assert isinstance(error, InputError), (result.output, error)
    assert error.file.endswith("qa.jsonl") and error.where == where
    assert "\n" not in str(error) and len(str(error)) < 300
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "content"), [
    ("qa.jsonl", b'{"image": "a.jpg", "question": "\xff\xfe", "answers": "a"}\n'),
    ("qa.csv", b"image,question,answers\na.jpg,\xff\xfe,a\n"),
    ("qa.parquet", b"PAR1 this is not parquet PAR1"),
])
def test_unreadable_data_files_are_one_line_errors(
    tmp_path: Path, name: str, content: bytes,
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / name).write_bytes(content)
    result = run_cli("docvqa-to-vqa", tmp_path / "src", tmp_path / "out")
    error = result.exception
    assert isinstance(error, InputError), (result.output, error)
    assert error.file.endswith(name) and "\n" not in str(error)
    assert not (tmp_path / "out").exists()


def test_cells_in_the_report_are_short_escaped_excerpts(tmp_path: Path) -> None:
    long_name = "\x1b[31m" + "x" * 5000 + ".jpg"
    src = tmp_path / "src"
    _write_table(src / "train.csv", [
        {"image": long_name, "question": "q?", "answers": "a",
         "questionId": "\x1b[2J" + "7" * 5000},
        {"image": "pages/" + "y" * 240 + ".jpg", "question": "q?", "answers": "a",
         "questionId": "[red]boom[/]\n"}])
    report = _convert(src, tmp_path / "out", "--allow-empty")
    assert report["splits"]["train"]["questions_dropped"] == {"missing_image": 1,
                                                              "unsafe_path": 1}
    for drop in report["drops"]:
        for text in (drop["annotation"], drop["detail"]):
            assert len(text) < 200 and "\x1b" not in text and "\n" not in text


def test_a_hub_row_naming_a_local_file_is_unsafe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Hub dataset has no folder: an absolute path in it would read this machine's files."""
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(_jpeg("red"))
    hub = tmp_path / "hub"
    _write_table(hub / "data" / "train-00000-of-00001.parquet", [
        {"image": {"bytes": _jpeg(), "path": "page.jpg"}, "question": "q?", "answers": ["a"]},
        {"image": {"bytes": None, "path": str(secret)}, "question": "q?", "answers": ["a"]}])
    load = tables.load_dataset
    monkeypatch.setattr(tables, "load_dataset",
                        lambda path, **kwargs: load(str(hub) if path == HUB_ID else path, **kwargs))
    report = _convert(HUB_ID, tmp_path / "out")
    assert report["splits"]["train"]["questions_dropped"] == {"unsafe_path": 1}
    assert [r["image"]["path"] for r in iter_rows(tmp_path / "out")] == ["page.jpg"]
    _convert(HUB_ID, tmp_path / "allowed", "--allow-outside-root")
    rows = list(iter_rows(tmp_path / "allowed"))
    assert [r["image"]["bytes"] == secret.read_bytes() for r in rows] == [False, True]


def test_image_bytes_that_are_a_number_are_not_allocated(tmp_path: Path) -> None:
    """`bytes(10**12)` would allocate a terabyte: a number where image bytes belong is a drop."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "val.jsonl").write_text(json.dumps(
        {"image": {"bytes": 10**12, "path": None}, "question": "q?", "answers": ["a"]}) + "\n")
    report = _convert(src, tmp_path / "out", "--allow-empty")
    assert report["splits"]["validation"]["questions_dropped"] == {"unreadable_image": 1}
