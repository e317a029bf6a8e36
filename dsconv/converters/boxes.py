"""Check a box against its image: keep, clip, or drop with a reason."""

from __future__ import annotations

import math
from typing import Literal

Box = tuple[float, float, float, float]
BoxPolicy = Literal["clip", "drop", "error"]
OUTSIDE_REASONS = frozenset({"box_outside_image", "box_partly_outside"})


def check_box(
    box: Box, width: int, height: int, policy: BoxPolicy = "clip"
) -> tuple[Box | None, str | None]:
    """Return (kept box, None), (clipped box, "clipped") or (None, drop reason).

    By default boxes partly outside the image are clipped: exporters round corners outward
    by a pixel often enough that dropping them would lose real objects. With "drop" or
    "error" they are dropped as `box_partly_outside` (the ledger raises for "error").
    """
    x, y, w, h = box
    isfinite = math.isfinite
    if not (isfinite(x) and isfinite(y) and isfinite(w) and isfinite(h)):
        return None, "invalid_box"
    if w <= 0 or h <= 0:
        return None, "degenerate_box"
    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)
    if x2 <= x1 or y2 <= y1:
        return None, "box_outside_image"
    if (x1, y1, x2, y2) == (x, y, x + w, y + h):
        return box, None
    if policy != "clip":
        return None, "box_partly_outside"
    return (x1, y1, x2 - x1, y2 - y1), "clipped"
