"""Charts drawn with Pillow alone, so the card's histogram needs no plotting library."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

# One colour per class index, shared with the preview's boxes so a class looks the same everywhere.
PALETTE = (
    "#A351FB", "#FF4040", "#FFA1A0", "#FF7633", "#FFB633", "#D1D435", "#4CFB12",
    "#94CF1A", "#40DE8A", "#1BE7FF", "#00BBFF", "#3378FF", "#6600FF", "#B700FF",
    "#FF00E6", "#FF3399",
)
_WIDTH = 720
_ROW = 26
_PAD = 16
MAX_BARS = 50  # then one bar for the rest: the picture (and its memory) stays bounded
MAX_LABEL = 40  # characters of a class name shown


def class_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _one_line(name: str) -> str:
    """Class names come from strangers' files; a newline in one would break text layout, and
    a long one would push the bars off the picture."""
    name = " ".join(name.split()) or repr(name)
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "…"


def capped(counts: Mapping[str, int], limit: int = MAX_BARS) -> list[tuple[str, int]]:
    """The counts as given when there are at most `limit`; else the `limit` largest (largest
    first, ties in the order given) and one entry adding up the others."""
    if len(counts) <= limit:
        return list(counts.items())
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    rest = ranked[limit:]
    return [*ranked[:limit], (f"{len(rest):,} other classes", sum(n for _, n in rest))]


def histogram_png(counts: Mapping[str, int], title: str) -> bytes:
    """A horizontal bar per class, in the order given, with its count; deterministic bytes.
    Past `MAX_BARS` classes, the largest ones and a bar for the others (`capped`)."""
    labelled: dict[str, int] = {}
    for name, count in capped(counts):
        label = _one_line(name)
        while label in labelled:  # two names alike once shortened
            label += " "
        labelled[label] = count
    counts = labelled
    label_font, title_font = font(14), font(16)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max((probe.textlength(name, font=label_font) for name in counts), default=0)
    left = _PAD + int(label_width) + 10
    count_room = int(probe.textlength(str(max(counts.values(), default=0)), font=label_font)) + 14
    bar_room = max(_WIDTH - left - count_room - _PAD, 50)
    height = _PAD * 2 + 30 + _ROW * max(len(counts), 1)
    image = Image.new("RGB", (_WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((_PAD, _PAD), title, fill="#222222", font=title_font)
    peak = max(counts.values(), default=0) or 1
    for i, (name, count) in enumerate(counts.items()):
        top = _PAD + 30 + i * _ROW
        middle = top + _ROW // 2
        draw.text((left - 10, middle), name, fill="#222222", font=label_font, anchor="rm")
        length = round(bar_room * count / peak)
        if length:
            draw.rectangle((left, top + 4, left + length, top + _ROW - 4), fill=class_color(i))
        draw.text((left + length + 6, middle), str(count), fill="#444444", font=label_font,
                  anchor="lm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
