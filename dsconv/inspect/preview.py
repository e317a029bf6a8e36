"""A look at the rows as a person sees them: each image with its boxes, question and answer.

The HTML page is self-contained (thumbnails embedded as base64 JPEG, inline CSS), so it opens
in any browser from disk or as a CI artifact, with no server.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from dsconv.errors import DsconvError, InputError
from dsconv.inspect.charts import PALETTE, font
from dsconv.storage.dataset import iter_rows, read_report, shard_paths
from dsconv.storage.images import decode_image
from dsconv.tasks.base import Box, find_task

THUMB = 384  # longest side of a thumbnail in the page, pixels
CELL = 256  # longest side of a thumbnail in the contact sheet


@dataclass(frozen=True)
class Failure:
    """One row `dsconv score` got wrong, as written to failures.jsonl."""

    id: str
    expected: str
    predicted: str


@dataclass
class Item:
    row: dict
    image: Image.Image  # annotated thumbnail
    failure: Failure | None = None


@dataclass
class PreviewResult:
    html: Path
    png: Path | None
    shown: int
    missing: list[str] = field(default_factory=list)  # failure ids not found in the dataset


def write_preview(
    dataset_dir: Path, *, split: str | None = None, n: int = 24, out: Path = Path("preview.html"),
    png: Path | None = None, failures: Path | None = None,
) -> PreviewResult:
    classes = _classes(dataset_dir)
    wanted = read_failures(failures) if failures else None
    picked, missing = select_rows(dataset_dir, split, n, wanted)
    items = [Item(row, failure_thumbnail(row, failure, classes) if failure else
                  annotated_thumbnail(row, classes), failure) for row, failure in picked]
    count = len(items)
    title = f"{dataset_dir.name}: " + (
        f"{count} failure{'' if count == 1 else 's'}" if wanted is not None
        else f"{count} row{'' if count == 1 else 's'} of {_split_label(picked, split)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(items, title), encoding="utf-8")
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(items).save(png, format="PNG")
    return PreviewResult(out, png, len(items), missing)


def read_failures(path: Path) -> list[Failure]:
    if not path.is_file():
        raise DsconvError(f"{path}: no such failures file")
    failures = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            failures.append(Failure(str(data["id"]), _text(data.get("expected")),
                                    _text(data.get("predicted"))))
        except (ValueError, KeyError, TypeError) as exc:
            reason = "no id" if isinstance(exc, KeyError) else f"not a JSON object ({exc})"
            raise InputError(path, reason, where=f"line {number}") from None
    return failures


def select_rows(
    dataset_dir: Path, split: str | None, n: int, failures: list[Failure] | None,
) -> tuple[list[tuple[dict, Failure | None]], list[str]]:
    """The first `n` rows of the split, or the rows the failures name (in their order)."""
    if failures is None:
        name = split or next(iter(shard_paths(dataset_dir)), None)
        rows = _take(iter_rows(dataset_dir, name, batch_size=32), n)
        return [(row, None) for row in rows], []
    by_id = {f.id: f for f in failures[:n]}
    found: dict[str, dict] = {}
    for row in iter_rows(dataset_dir, split, batch_size=32):
        if row["id"] in by_id:
            found[row["id"]] = row
            if len(found) == len(by_id):
                break
    picked: list[tuple[dict, Failure | None]] = [(found[i], f) for i, f in by_id.items()
                                                 if i in found]
    return picked, [i for i in by_id if i not in found]


def annotated_thumbnail(row: dict, classes: list[str], size: int = THUMB,
                        boxes: list[Box] | None = None) -> Image.Image:
    """The row's image scaled down to `size`, with its boxes and class names drawn (or, given
    `boxes`, those (label, pixel xyxy) boxes instead)."""
    try:
        image = decode_image(row["image"]["bytes"])
    except Exception as exc:  # Pillow raises many types for broken files
        return _placeholder(f"image does not decode ({exc.__class__.__name__})", size)
    scale = min(1.0, size / max(image.size))
    if scale < 1.0:
        size_scaled = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size_scaled, Image.Resampling.LANCZOS)
    if boxes is None:
        objects = row.get("objects") or {}
        xywh, categories = objects.get("bbox") or [], objects.get("category") or []
    else:
        xywh = [[x1, y1, x2 - x1, y2 - y1] for _, (x1, y1, x2, y2) in boxes]
        categories = [label for label, _ in boxes]
    if not xywh:
        return image
    return _draw_boxes(image, [[v * scale for v in box] for box in xywh], categories, classes)


def failure_thumbnail(row: dict, failure: Failure, classes: list[str],
                      size: int = THUMB) -> Image.Image:
    """A failed row of a box task (one whose descriptor reads answers as boxes): the reference
    boxes and the predicted ones side by side; any other row as `annotated_thumbnail`."""
    task = find_task(row.get("task") or "")
    if task is None or task.parse_boxes is None or task.reference_boxes is None:
        return annotated_thumbnail(row, classes, size)
    try:
        reference = task.reference_boxes(row)
        predicted = task.parse_boxes(failure.predicted, row)
    except (KeyError, TypeError, ValueError):  # a row not of the shape its task writes
        return annotated_thumbnail(row, classes, size)
    truth = annotated_thumbnail(row, classes, size, boxes=reference)
    guess = annotated_thumbnail(row, classes, size, boxes=predicted or [])
    note = "predicted" if predicted is not None else "predicted: unreadable"
    return _side_by_side([(truth, "truth"), (guess, note)])


def render_html(items: list[Item], title: str) -> str:
    figures = "\n".join(_figure(item) for item in items)
    empty = "" if items else "<p>No rows to show.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{empty}<main>
{figures}
</main>
</body>
</html>
"""


def contact_sheet(items: list[Item], columns: int = 6, cell: int = CELL) -> Image.Image:
    """The thumbnails in a grid, each with its row id beneath."""
    thumbs = []
    for item in items:
        thumb = item.image.copy()
        thumb.thumbnail((cell, cell))
        thumbs.append(thumb)
    columns = max(1, min(columns, len(items)))
    rows = max(1, math.ceil(len(items) / columns))
    height = max((t.height for t in thumbs), default=cell)
    caption, gap = 18, 8
    sheet = Image.new("RGB", (columns * (cell + gap) + gap, rows * (height + caption + gap) + gap),
                      "white")
    draw = ImageDraw.Draw(sheet)
    label_font = font(12)
    for i, (item, thumb) in enumerate(zip(items, thumbs, strict=True)):
        x = gap + (i % columns) * (cell + gap)
        y = gap + (i // columns) * (height + caption + gap)
        sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (height - thumb.height) // 2))
        label = item.row["id"] if item.failure is None else f"✗ {item.row['id']}"
        draw.text((x, y + height + 2), _clip(label, label_font, cell), fill="#222222",
                  font=label_font)
    return sheet


def _figure(item: Item) -> str:
    row = item.row
    e = html.escape
    objects = len((row.get("objects") or {}).get("category") or [])
    meta = (f'<div class="meta"><code>{e(row["id"])}</code> · {e(row["task"])} · '
            f'{row["width"]}×{row["height"]} · {objects} objects</div>')
    parts = [meta, f'<div class="q"><b>Q</b><pre>{e(row["question"])}</pre></div>']
    failure = item.failure
    if failure is None or failure.expected != row["answer"]:
        parts.append(f'<div class="a"><b>A</b><pre>{e(row["answer"])}</pre></div>')
    others = [a for a in row.get("answers") or [] if a != row["answer"]]
    if others:  # documents: every reference answer counts when scoring
        parts.append(f'<div class="a"><b>also accepted</b><pre>{e(chr(10).join(others))}</pre>'
                     '</div>')
    if failure is not None:
        parts.append(
            '<div class="vs">'
            f'<div class="expected"><b>expected</b><pre>{e(failure.expected)}</pre></div>'
            f'<div class="predicted"><b>predicted</b><pre>{e(failure.predicted)}</pre></div>'
            '</div>')
    image = item.image
    return (f'<figure data-id="{e(row["id"])}"{" class=failure" if item.failure else ""}>'
            f'<img src="data:image/jpeg;base64,{_jpeg_base64(image)}" width="{image.width}" '
            f'height="{image.height}" alt="{e(row["id"])}">'
            f'<figcaption>{"".join(parts)}</figcaption></figure>')


def _draw_boxes(
    image: Image.Image, boxes: list[list[float]], categories: list[str], classes: list[str],
) -> Image.Image:
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # supervision warns when OpenCV is absent; NumPy suffices
        try:
            import supervision as sv
        except ImportError:
            raise DsconvError("dsconv preview needs supervision: pip install supervision") from None
    index = {name: i for i, name in enumerate(classes)}
    for name in categories:
        index.setdefault(name, len(index))
    detections = sv.Detections(
        xyxy=np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], dtype=np.float32),
        class_id=np.array([index[name] for name in categories], dtype=int),
    )
    palette = sv.ColorPalette.from_hex(list(PALETTE))
    image = sv.BoxAnnotator(color=palette, thickness=2).annotate(image, detections)
    return sv.LabelAnnotator(color=palette, text_scale=0.4, text_padding=3,
                              smart_position=True).annotate(
        image, detections, labels=list(categories))


def _side_by_side(panels: list[tuple[Image.Image, str]], gap: int = 8) -> Image.Image:
    """Images in a row, each with its caption above."""
    caption = 18
    width = sum(image.width for image, _ in panels) + gap * (len(panels) - 1)
    height = max(image.height for image, _ in panels) + caption
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    label_font = font(13)
    x = 0
    for image, text in panels:
        draw.text((x + 2, 2), _clip(text, label_font, image.width), fill="#222222",
                  font=label_font)
        sheet.paste(image.convert("RGB"), (x, caption))
        x += image.width + gap
    return sheet


def _jpeg_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _placeholder(text: str, size: int) -> Image.Image:
    image = Image.new("RGB", (size, size * 3 // 4), "#dddddd")
    ImageDraw.Draw(image).text((10, 10), text, fill="#aa0000", font=font(13))
    return image


def _classes(dataset_dir: Path) -> list[str]:
    try:
        return list(read_report(dataset_dir).get("classes") or [])
    except (DsconvError, ValueError):
        return []


def _take(rows: Iterator[dict], n: int) -> list[dict]:
    taken: list[dict] = []
    for row in rows:
        if len(taken) >= n:
            break
        taken.append(row)
    return taken


def _split_label(picked: list[tuple[dict, Failure | None]], split: str | None) -> str:
    if split:
        return split
    return picked[0][0]["id"].split("/", 1)[0] if picked else "the dataset"


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _clip(text: str, label_font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int
          ) -> str:
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    if draw.textlength(text, font=label_font) <= width:
        return text
    while text and draw.textlength(text + "…", font=label_font) > width:
        text = text[:-1]
    return text + "…"


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; background: #f6f6f6; color: #222; }
h1 { font-size: 18px; margin: 0 0 12px; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
figure.failure { border-color: #d33; }
img { max-width: 100%; height: auto; display: block; margin: 0 auto 6px; }
.meta { color: #666; font-size: 12px; margin-bottom: 4px; }
pre { white-space: pre-wrap; word-break: break-word; margin: 2px 0 6px; font-size: 12px;
      background: #f3f3f3; padding: 4px 6px; border-radius: 4px; }
.vs { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; }
.expected pre { background: #e8f6e8; }
.predicted pre { background: #fbe9e9; }
b { font-size: 12px; color: #555; }
"""
