"""The dataset card: README.md whose YAML front matter the Hub and `datasets` read.

The card is the only place for run metadata (the command, the dsconv version that wrote the
card): the Parquet shards and the report stay byte-identical across runs. `write_card`
regenerates it from the report and the rows, keeping what the previous card recorded.

Class and split names, the source, the title and the notes come from strangers' files (a
source's categories, a downloaded dataset's report and card) and the Hub renders the card as
Markdown with HTML: every such text goes in escaped (`dsconv.pipeline.markdown`), so it
shows as written and never becomes markup.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from dsconv import __version__
from dsconv.inspect.charts import histogram_png
from dsconv.pipeline.markdown import (
    fenced,
    md_code,
    md_text,
    no_html,
    parenthesised,
    python_literal,
    python_string,
)
from dsconv.schemas.report import ConversionReport
from dsconv.storage.dataset import (
    SHARD_READ_ERRORS,
    ShardError,
    iter_rows,
    one_line_error,
    open_shard,
    read_report,
    shard_paths,
)
from dsconv.storage.files import MAX_TEXT_FILE_BYTES, UnsafeFileError, read_text
from dsconv.storage.layout import CARD_FILE, DATA_DIR, FEATURES_YAML, split_sort_key
from dsconv.tasks.base import find_task

HISTOGRAM_FILE = "assets/class_histogram.png"
_PLACEHOLDER = "path/to/"
_SOURCE_RE = re.compile(
    r"Converted from `(?P<source>[^`]*)` \([^)]*\) by dsconv \S+ with:\n\n"
    r"(?P<fence>`{3,})\w*\n(?P<command>.*?)\n(?P=fence)", re.DOTALL)
_OLD_SOURCE_RE = re.compile(r"from `(?P<source>[^`]*)` \(")
_OLD_COMMAND_RE = re.compile(r"Made with:\n\n```\n(?P<command>.*?)\n```", re.DOTALL)
_NOTES_RE = re.compile(r"without the source\.\n\n(?P<notes>.*?)\n\n## Source", re.DOTALL)
_LOAD_RE = re.compile(r'load_dataset\((?P<target>"(?:[^"\\\n]|\\.)+")\)')
_NOT_RECORDED = "(not recorded)"


@dataclass
class CardInfo:
    name: str
    source: str
    command: str
    examples: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)
    license: str | None = None
    num_bytes: dict[str, int] = field(default_factory=dict)  # per split, Arrow size
    repo_id: str | None = None  # where the card tells users to load it from
    notes: list[str] = field(default_factory=list)  # extra paragraphs, e.g. the task token used


def front_matter(report: ConversionReport, info: CardInfo) -> dict:
    # A split whose every row was dropped has no shards; declaring it breaks load_dataset.
    splits = [s for s in _splits(report) if report.splits[s].rows]
    meta: dict = {
        "pretty_name": info.name,
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"{DATA_DIR}/{s}-*"} for s in splits],
        }],
        "dataset_info": {
            "features": FEATURES_YAML,
            "splits": [
                {"name": s, "num_bytes": info.num_bytes.get(s, 0),
                 "num_examples": report.splits[s].rows}
                for s in splits
            ],
        },
        "task_categories": ["visual-question-answering"],
        "size_categories": [_size_category(sum(s.rows for s in report.splits.values()))],
        "tags": ["dsconv", "vqa", report.source_format, *report.tasks],
    }
    if info.license:
        meta["license"] = info.license
    return meta


def render_card(report: ConversionReport, info: CardInfo) -> str:
    meta = yaml.safe_dump(front_matter(report, info), sort_keys=False, allow_unicode=True)
    lines = [f"---\n{meta}---", "", f"# {md_text(info.name)}", "", *_about(report, info)]
    lines += _source(report, info)
    lines += _split_table(report)
    lines += _class_section(report)
    lines += _examples(info.examples)
    lines += _use(info)
    return "\n".join(lines) + "\n"


def card_files(report: ConversionReport, info: CardInfo) -> dict[str, bytes]:
    """README.md, plus the class histogram it shows when the dataset has classes."""
    files = {CARD_FILE: render_card(report, info).encode("utf-8")}
    if report.classes:
        title = "Objects per class (all splits)"
        files[HISTOGRAM_FILE] = histogram_png(_class_totals(report), title)
    return files


def write_card(
    dataset_dir: Path, *, name: str | None = None, source: str | None = None,
    command: str | None = None, license: str | None = None, repo_id: str | None = None,
) -> list[Path]:
    """Regenerate the card from the report and the rows; unset fields keep the old card's."""
    report = ConversionReport.model_validate(read_report(dataset_dir))
    old = read_card_info(dataset_dir)
    num_bytes = old.num_bytes if _covers_splits(old, dataset_dir) else {}
    info = CardInfo(
        name=name or old.name, source=source or old.source, command=command or old.command,
        examples=first_examples(dataset_dir), license=license or old.license,
        num_bytes=num_bytes or arrow_bytes(dataset_dir), repo_id=repo_id or old.repo_id,
        notes=old.notes,
    )
    written = []
    for relative, data in card_files(report, info).items():
        path = dataset_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written.append(path)
    return written


def read_card_info(dataset_dir: Path) -> CardInfo:
    """What an existing card recorded (name, source, command, license, sizes), or defaults."""
    info = CardInfo(name=dataset_dir.resolve().name, source=_NOT_RECORDED, command=_NOT_RECORDED)
    path = dataset_dir / CARD_FILE
    if not path.exists():
        return info
    try:
        text = read_text(path, MAX_TEXT_FILE_BYTES, errors="replace")
    except (OSError, UnsafeFileError):  # a FIFO, a huge file: nothing worth keeping in it
        return info
    meta, body = _split_front_matter(text)
    splits = (meta.get("dataset_info") or {}).get("splits") or []
    info = replace(
        info, name=str(meta.get("pretty_name") or info.name),
        license=meta.get("license") if isinstance(meta.get("license"), str) else None,
        num_bytes={s["name"]: int(s.get("num_bytes") or 0) for s in splits
                   if isinstance(s, dict) and "name" in s},
    )
    if match := _SOURCE_RE.search(body):
        info = replace(info, source=match["source"], command=match["command"])
    else:
        if match := _OLD_SOURCE_RE.search(body):
            info = replace(info, source=match["source"])
        if match := _OLD_COMMAND_RE.search(body):
            info = replace(info, command=match["command"])
    if match := _NOTES_RE.search(body):
        info = replace(info, notes=match["notes"].split("\n\n"))
    match = _LOAD_RE.search(body)
    target = python_literal(match["target"]) if match else None
    if isinstance(target, str) and not target.startswith(_PLACEHOLDER):
        info = replace(info, repo_id=target)
    return info


def first_examples(dataset_dir: Path, n: int = 2) -> list[tuple[str, str]]:
    examples: list[tuple[str, str]] = []
    for row in iter_rows(dataset_dir, columns=["question", "answer"], batch_size=16):
        example = (row["question"], row["answer"])
        if example not in examples:
            examples.append(example)
            if len(examples) == n:
                break
    return examples


def arrow_bytes(dataset_dir: Path) -> dict[str, int]:
    """Arrow size per split, read a row group at a time (what `num_bytes` states)."""
    sizes: dict[str, int] = {}
    for split, paths in shard_paths(dataset_dir).items():
        for path in paths:
            parquet = open_shard(path)
            for i in range(parquet.num_row_groups):
                try:
                    group = parquet.read_row_group(i)
                except SHARD_READ_ERRORS as exc:
                    raise ShardError(path, f"damaged Parquet ({one_line_error(exc)})") from None
                sizes[split] = sizes.get(split, 0) + group.nbytes
    return sizes


def _covers_splits(old: CardInfo, dataset_dir: Path) -> bool:
    """Keep the sizes the writer measured unless the splits changed; re-measuring reads it all."""
    return bool(old.num_bytes) and set(old.num_bytes) == set(shard_paths(dataset_dir))


def _split_front_matter(text: str) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except (yaml.YAMLError, RecursionError):
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[end + 4:]


def _splits(report: ConversionReport) -> list[str]:
    return sorted(report.splits, key=split_sort_key)


def _class_totals(report: ConversionReport) -> dict[str, int]:
    return {c: sum(s.per_class.get(c, 0) for s in report.splits.values()) for c in report.classes}


def _about(report: ConversionReport, info: CardInfo) -> list[str]:
    rows = sum(s.rows for s in report.splits.values())
    images = sum(s.images for s in report.splits.values())
    objects = sum(s.objects_kept for s in report.splits.values())
    lines = [
        f"A visual-question-answering (VQA) dataset for fine-tuning small vision-language "
        f"models: {rows:,} question–answer rows over {images:,} images"
        + (f" with {objects:,} labelled objects in {len(report.classes)} classes" if objects
           else "")
        + f", made by [dsconv](https://pypi.org/project/dsconv/) from a "
        f"{md_text(report.source_format)} "
        "dataset. Each row pairs one image with a question and its answer. Tasks:",
        "",
    ]
    for name in report.tasks:
        task = find_task(name)
        lines.append(f"- {md_code(name)}" + (f": {task.summary}" if task else ""))
    lines += [
        "",
        "Every row keeps what its question was made from (the objects' boxes and classes, or a "
        "document's reference answers), so the dataset can be re-templated without the source.",
    ]
    for note in info.notes:
        lines += ["", no_html(note)]
    return lines


def _source(report: ConversionReport, info: CardInfo) -> list[str]:
    return [
        "", "## Source", "",
        f"Converted from {md_code(info.source)} ({parenthesised(report.source_format)}) by "
        f"dsconv {md_text(report.dsconv_version).replace(' ', '')} with:",
        "", *fenced(info.command, "bash"), "",
        "Everything read from the source is either in the rows or listed, with its reason, in "
        "`conversion_report.json`. This card was written by dsconv "
        f"{__version__}; regenerate it with `dsconv card DIR`.",
    ]


def _split_table(report: ConversionReport) -> list[str]:
    if any(s.questions is not None for s in report.splits.values()):
        return _question_table(report)
    lines = ["", "## Splits", "",
             "| split | images | rows | objects | objects dropped | images dropped |",
             "|---|---:|---:|---:|---:|---:|"]
    totals = [0] * 5
    for name in _splits(report):
        s = report.splits[name]
        numbers = [s.images, s.rows, s.objects_kept, sum(s.objects_dropped.values()),
                   sum(s.images_dropped.values())]
        totals = [a + b for a, b in zip(totals, numbers, strict=True)]
        lines.append(f"| {md_text(name)} | " + " | ".join(str(n) for n in numbers) + " |")
    lines.append("| **total** | " + " | ".join(f"**{n}**" for n in totals) + " |")
    return lines


def _question_table(report: ConversionReport) -> list[str]:
    """Documents have no objects: a source row is one question about one image."""
    lines = ["", "## Splits", "", "| split | images | questions | rows | questions dropped |",
             "|---|---:|---:|---:|---:|"]
    totals = [0] * 4
    for name in _splits(report):
        s = report.splits[name]
        numbers = [s.images, s.questions or 0, s.rows, sum((s.questions_dropped or {}).values())]
        totals = [a + b for a, b in zip(totals, numbers, strict=True)]
        lines.append(f"| {md_text(name)} | " + " | ".join(str(n) for n in numbers) + " |")
    lines.append("| **total** | " + " | ".join(f"**{n}**" for n in totals) + " |")
    return lines


def _class_section(report: ConversionReport) -> list[str]:
    if not report.classes:
        return []
    splits = _splits(report)
    lines = ["", "## Classes", "", "Objects kept per class:", "",
             f"![Objects per class]({HISTOGRAM_FILE})", "",
             "| class | " + " | ".join(map(md_text, splits)) + " | total |",
             "|---|" + "---:|" * (len(splits) + 1)]
    for name, total in _class_totals(report).items():
        counts = [str(report.splits[s].per_class.get(name, 0)) for s in splits]
        lines.append(f"| {md_text(name)} | " + " | ".join(counts) + f" | {total} |")
    return lines


def _examples(examples: Sequence[tuple[str, str]]) -> list[str]:
    if not examples:
        return []
    lines = ["", "## Examples"]
    for i, (question, answer) in enumerate(examples, 1):
        lines += ["", f"Row {i}, question:", "", *fenced(question, "text"), "",
                  "answer:", "", *fenced(answer, "text")]
    return lines


def _use(info: CardInfo) -> list[str]:
    target = info.repo_id or f"{_PLACEHOLDER}{info.name}"
    load = "\n".join([
        "from datasets import load_dataset",
        "",
        f"ds = load_dataset({python_string(target)})",
        'row = ds["train"][0]',
        'row["image"]  # a PIL image',
        'print(row["question"], row["answer"])',
    ])
    train = f"dsconv train {shlex.quote(info.repo_id or 'DIR')} --model florence2 --out " \
            f"{shlex.quote('runs/' + info.name)}"
    return [
        "", "## Load", "",
        *fenced(load, "python"),
        "",
        "Columns: `id` (stable, `{split}/{image_id}/{task}/{k}`), `image`, `image_id`, `width`, "
        "`height`, `objects` (COCO `[x, y, w, h]` boxes in pixels and class names), `task`, "
        "`question`, `answer` and `answers` (every reference answer).",
        "",
        "## Fine-tune", "",
        *fenced(train, "bash"),
        "",
        "With the dataset in a local folder `DIR`"
        + (f" ({md_code(f'hf download {info.repo_id} --repo-type dataset --local-dir DIR')})"
           if info.repo_id else "") + ", "
        "`dsconv stats DIR` and `dsconv preview DIR` show what is in it; "
        "`dsconv export DIR --to messages OUT` writes the chat layout that TRL's SFT trainer "
        "reads, `--to jsonl` the image/prefix/suffix JSON Lines layout.",
    ]


def _size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
              (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]
    return next((label for bound, label in bounds if rows < bound), "10M<n<100M")
