"""The dataset card: a Hub card whose YAML `datasets` honours and whose numbers are the report's."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import datasets
import pytest
import yaml
from PIL import Image

from dsconv.pipeline.card import HISTOGRAM_FILE, read_card_info
from dsconv.schemas.report import ConversionReport
from dsconv.storage.dataset import iter_rows
from tests.helpers import run_cli


def _meta_and_body(card: Path) -> tuple[dict, str]:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def _report(folder: Path) -> ConversionReport:
    return ConversionReport.model_validate_json((folder / "conversion_report.json").read_text())


def _table(body: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip("|").split("|")])
    return rows


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_front_matter_parses_and_load_dataset_honours_it(coins_vqa: Path, tmp_path: Path) -> None:
    meta, _ = _meta_and_body(coins_vqa / "README.md")
    report = _report(coins_vqa)
    assert meta["task_categories"] == ["visual-question-answering"]
    assert {"dsconv", "vqa", "count-json"} <= set(meta["tags"])
    files = meta["configs"][0]["data_files"]
    assert [f["split"] for f in files] == ["train", "validation", "test"]
    assert [f["path"] for f in files] == ["data/train-*", "data/validation-*", "data/test-*"]
    sizes = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert sizes == {name: s.rows for name, s in report.splits.items()}
    assert datasets.Features._from_yaml_list(meta["dataset_info"]["features"])["image"] == (
        datasets.Image())

    copy = shutil.copytree(coins_vqa, tmp_path / "copy")
    ds = datasets.load_dataset(str(copy), cache_dir=str(tmp_path / "cache"))
    assert {name: len(split) for name, split in ds.items()} == sizes
    assert isinstance(ds["train"].features["image"], datasets.Image)


def test_card_numbers_equal_the_report(coins_vqa: Path) -> None:
    _, body = _meta_and_body(coins_vqa / "README.md")
    report = _report(coins_vqa)
    splits = _table(body, "| split | images | rows | objects |")
    for name, images, rows, objects, objects_dropped, images_dropped in splits[:-1]:
        s = report.splits[name]
        assert [int(images), int(rows), int(objects)] == [s.images, s.rows, s.objects_kept]
        assert int(objects_dropped) == sum(s.objects_dropped.values())
        assert int(images_dropped) == sum(s.images_dropped.values())
    assert splits[-1][0] == "total"
    assert int(splits[-1][2]) == sum(s.rows for s in report.splits.values())

    classes = _table(body, "| class |")
    assert [row[0] for row in classes] == report.classes
    order = ["train", "validation", "test"]
    for name, *counts, total in classes:
        assert [int(c) for c in counts] == [report.splits[s].per_class.get(name, 0) for s in order]
        assert int(total) == sum(int(c) for c in counts)


def test_card_has_examples_use_and_histogram(coins_vqa: Path) -> None:
    text = (coins_vqa / "README.md").read_text(encoding="utf-8")
    questions = {row["question"] for row in iter_rows(coins_vqa, columns=["question"])}
    answers = {row["answer"] for row in iter_rows(coins_vqa, columns=["answer"])}
    blocks = re.findall(r"```text\n(.*?)\n```", text, re.DOTALL)
    assert len(blocks) == 4 and blocks[0] in questions and blocks[1] in answers
    assert "load_dataset(" in text and "dsconv train DIR" in text
    assert "```bash\ndsconv" in text  # the command that made it
    assert f"![Objects per class]({HISTOGRAM_FILE})" in text
    with Image.open(coins_vqa / HISTOGRAM_FILE) as image:
        assert image.format == "PNG" and image.width >= 400


def test_card_regenerates_keeping_run_metadata(coins_vqa: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(coins_vqa, tmp_path / "coins-vqa")
    before = _digests(folder)
    old = read_card_info(folder)
    assert old.source != "(not recorded)" and old.command.startswith("dsconv")

    result = run_cli("card", folder, "--license", "cc-by-4.0", "--repo-id", "me/coins-vqa")
    assert result.exit_code == 0, result.output
    after = _digests(folder)
    for name in before:  # shards and report untouched; the histogram is drawn again identically
        if name != "README.md":
            assert after[name] == before[name], name
    info = read_card_info(folder)
    assert (info.source, info.command, info.name) == (old.source, old.command, old.name)
    assert (info.license, info.repo_id) == ("cc-by-4.0", "me/coins-vqa")
    meta, body = _meta_and_body(folder / "README.md")
    assert meta["license"] == "cc-by-4.0"
    assert 'load_dataset("me/coins-vqa")' in body

    assert run_cli("card", folder).exit_code == 0  # a second run keeps what the first set
    assert read_card_info(folder).license == "cc-by-4.0"


def test_card_without_report_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = run_cli("card", tmp_path)
    assert result.exit_code != 0
    assert "conversion_report.json" in str(result.exception)


@pytest.mark.parametrize("text", ["a ``` fence", "````"])
def test_examples_with_backticks_keep_their_fence(text: str) -> None:
    from dsconv.pipeline.markdown import fenced as _fenced

    fence, body, close = _fenced(text, "text")
    assert body == text and fence.startswith(close) and close not in text


HOSTILE = '<img src=x onerror="alert(1)">'


def _hostile_card(coins_vqa: Path) -> str:
    """The coins card with every text a stranger's dataset controls made hostile."""
    from dsconv.pipeline.card import CardInfo, render_card

    report = _report(coins_vqa)
    rename = {c: f"{c}{HOSTILE}" for c in report.classes}
    rename[report.classes[0]] = "a|b [x](javascript:alert(1)) `c` <script>alert(1)</script>"
    data = report.model_dump()
    data["classes"] = [rename[c] for c in report.classes]
    for split in data["splits"].values():
        split["per_class"] = {rename[c]: n for c, n in split["per_class"].items()}
    data["source_format"] = f"coco{HOSTILE}"
    hostile = ConversionReport.model_validate(data)
    info = CardInfo(name=f"coins{HOSTILE}", source=f"x` {HOSTILE} `y", command="dsconv",
                    examples=[(f"q{HOSTILE}", "a\n```\n<script>alert(1)</script>")],
                    notes=[f"Questions start with `<DocVQA>`. {HOSTILE}"],
                    repo_id=f'me/x")\n```\n{HOSTILE}')
    return render_card(hostile, info)


def test_card_shows_hostile_names_as_text_never_as_html(coins_vqa: Path) -> None:
    """Class names, the source, the title and notes reach README.md, which the Hub renders
    as Markdown with HTML: none of them may become a tag or a link."""
    from markdown_it import MarkdownIt

    text = _hostile_card(coins_vqa)
    _, body = text[4:].split("\n---\n", 1)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
    assert re.findall(r"<img[^>]*>", html) == [  # only the card's own histogram
        f'<img src="{HISTOGRAM_FILE}" alt="Objects per class" />']
    assert "<script" not in html and 'href="javascript' not in html
    assert "&lt;img src=x onerror=" in html  # shown, as text
    assert "<code>&lt;DocVQA&gt;</code>" in html  # a note's code span kept
    rows = re.findall(r"<tr>\n(.*?)</tr>", html, re.DOTALL)
    classes = [row for row in rows if "alert" in row]
    assert len(classes) == len(_report(coins_vqa).classes)
    assert all(row.count("<td") == 5 for row in classes)  # a | in a name adds no cell


def test_a_regenerated_hostile_card_is_stable(coins_vqa: Path, tmp_path: Path) -> None:
    """Escaping is idempotent: a card regenerated from itself keeps its notes as they were."""
    from dsconv.pipeline.card import read_card_info

    folder = shutil.copytree(coins_vqa, tmp_path / "d")
    (folder / "README.md").write_text(_hostile_card(coins_vqa), encoding="utf-8")
    assert run_cli("card", folder).exit_code == 0
    first = (folder / "README.md").read_text(encoding="utf-8")
    assert run_cli("card", folder).exit_code == 0
    assert (folder / "README.md").read_text(encoding="utf-8") == first
    assert "<img" not in "".join(read_card_info(folder).notes)


def test_class_histogram_stays_bounded_with_many_classes() -> None:
    """One bar a class made a 26 px row each: 5,000 classes, a 130,000-pixel picture."""
    import io

    from dsconv.inspect.charts import histogram_png

    counts = {f"class-{i:04d}-" + "x" * 200: i for i in range(300)}
    with Image.open(io.BytesIO(histogram_png(counts, "t"))) as image:
        assert image.size[0] == 720 and image.size[1] < 1500
    from dsconv.inspect.charts import MAX_BARS, capped

    bars = capped(counts)
    assert len(bars) == MAX_BARS + 1
    assert bars[0] == (f"class-0299-{'x' * 200}", 299)
    assert bars[-1] == ("250 other classes", sum(range(250)))
