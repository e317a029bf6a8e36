"""The dataset card: README.md whose YAML front matter the Hub and `datasets` read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from dsconv import __version__
from dsconv.io.layout import DATA_DIR, features, split_sort_key
from dsconv.schemas.report import ConversionReport


@dataclass
class CardInfo:
    name: str
    source: str
    command: str
    examples: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)
    license: str | None = None
    num_bytes: dict[str, int] = field(default_factory=dict)  # per split, Arrow size


def front_matter(report: ConversionReport, info: CardInfo) -> dict:
    splits = sorted(report.splits, key=split_sort_key)
    meta: dict = {
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"{DATA_DIR}/{s}-*"} for s in splits],
        }],
        "dataset_info": {
            "features": features()._to_yaml_list(),
            "splits": [
                {"name": s, "num_bytes": info.num_bytes.get(s, 0),
                 "num_examples": report.splits[s].rows}
                for s in splits
            ],
        },
        "task_categories": ["visual-question-answering"],
        "tags": ["dsconv", "vqa", *report.tasks],
    }
    if info.license:
        meta["license"] = info.license
    return meta


def render_card(report: ConversionReport, info: CardInfo) -> str:
    meta = yaml.safe_dump(front_matter(report, info), sort_keys=False)
    lines = [
        f"---\n{meta}---",
        f"# {info.name}",
        "",
        f"A visual-question-answering dataset made by [dsconv](https://pypi.org/project/dsconv/) "
        f"{__version__} from `{info.source}` ({report.source_format}), for fine-tuning small "
        f"vision-language models. Tasks: {', '.join(f'`{t}`' for t in report.tasks)}.",
        "",
        "Made with:",
        "",
        f"```\n{info.command}\n```",
        "",
        "## Splits",
        "",
        "| split | images | rows | objects kept | objects dropped |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in sorted(report.splits, key=split_sort_key):
        s = report.splits[name]
        lines.append(f"| {name} | {s.images} | {s.rows} | {s.objects_kept} | "
                     f"{sum(s.objects_dropped.values())} |")
    lines += _class_table(report)
    if info.examples:
        lines += ["", "## Examples", ""]
        for question, answer in info.examples:
            lines += [f"**Q:** {question}", "", f"**A:**\n```\n{answer}\n```", ""]
    lines += [
        "",
        "## Use",
        "",
        "```python\nimport datasets\n\nds = datasets.load_dataset(\"path/or/repo-id\")\n"
        "print(ds[\"train\"][0][\"question\"], ds[\"train\"][0][\"answer\"])\n```",
        "",
        "Every row has `id`, `image`, `image_id`, `width`, `height`, `objects` (COCO "
        "`[x, y, w, h]` boxes in pixels with category names), `task`, `question`, `answer` and "
        "`answers`. What was left out of the source, and why, is in `conversion_report.json`.",
        "",
        "Fine-tune on it with `dsconv train DIR --model florence2 --output runs/x`.",
        "",
    ]
    return "\n".join(lines)


def _class_table(report: ConversionReport) -> Sequence[str]:
    if not report.classes:
        return []
    lines = ["", "## Classes", "", "| class | " + " | ".join(report.splits) + " |",
             "|---|" + "---:|" * len(report.splits)]
    for name in report.classes:
        counts = [str(s.per_class.get(name, 0)) for s in report.splits.values()]
        lines.append(f"| {name} | " + " | ".join(counts) + " |")
    return lines
