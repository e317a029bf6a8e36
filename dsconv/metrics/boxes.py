"""Box answers scored with supervision's mAP, and a per-row match rate to rank failures.

supervision is imported lazily, so scoring a dataset without detection rows stays fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Box = tuple[str, tuple[float, float, float, float]]  # (label, pixel xyxy)


def coco_to_boxes(
    bboxes: Sequence[Sequence[float]], categories: Sequence[str],
    label: Callable[[str], str] = str,
) -> list[Box]:
    """Row `objects` (COCO [x, y, w, h] pixels) as (label, xyxy) pairs; `label` spells each
    class as the task's answers do (florence-od: `us-dime` → `us dime`)."""
    return [(label(c), (x, y, x + w, y + h))
            for (x, y, w, h), c in zip(bboxes, categories, strict=True)]


def _supervision() -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*opencv.*", category=UserWarning)
        import supervision

    return supervision


def match_rate(predicted: list[Box] | None, reference: list[Box], iou: float = 0.5) -> float:
    """Share of boxes matched one-to-one (same label, IoU ≥ iou) over the larger of the two sets.

    A per-row score for ranking failures; dataset-level numbers come from `mean_average_precision`.
    """
    if predicted is None:
        return 0.0
    if not predicted and not reference:
        return 1.0
    if not predicted or not reference:
        return 0.0
    ious = _supervision().box_iou_batch(
        np.array([b for _, b in predicted]), np.array([b for _, b in reference])
    )
    free = [True] * len(reference)
    matched = 0
    for i, (label, _) in enumerate(predicted):
        candidates = [
            j for j, (ref_label, _) in enumerate(reference) if free[j] and ref_label == label
        ]
        best = max(candidates, key=lambda j: ious[i, j], default=None)
        if best is not None and ious[i, best] >= iou:
            free[best] = False
            matched += 1
    return matched / max(len(predicted), len(reference))


def mean_average_precision(
    predicted: Sequence[list[Box] | None], reference: Sequence[list[Box]]
) -> dict[str, Any]:
    """COCO mAP@0.5 and mAP@0.5:0.95 over all rows, plus AP per reference class.

    Answers carry no confidence, so every box scores 1.0; unparseable answers predict nothing.
    Predicted labels outside the references get their own ids, which COCO evaluation ignores
    (no ground truth), as it would any class absent from the test set.
    """
    sv = _supervision()
    classes = sorted({label for boxes in reference for label, _ in boxes})
    ids = {c: i for i, c in enumerate(classes)}

    def detections(boxes: list[Box], confident: bool) -> Any:
        if not boxes:
            return sv.Detections.empty()
        for label, _ in boxes:
            ids.setdefault(label, len(ids))
        return sv.Detections(
            xyxy=np.array([b for _, b in boxes], dtype=np.float64),
            class_id=np.array([ids[label] for label, _ in boxes], dtype=int),
            confidence=np.ones(len(boxes)) if confident else None,
        )

    targets = [detections(boxes, False) for boxes in reference]
    preds = [detections(boxes or [], True) for boxes in predicted]
    result = sv.metrics.MeanAveragePrecision().update(preds, targets).compute()
    if not classes:
        return {}
    per_class = {
        classes[int(cls)]: {"ap50": float(ap[0]), "ap50_95": float(np.mean(ap))}
        for cls, ap in zip(result.matched_classes, result.ap_per_class, strict=True)
        if int(cls) < len(classes)
    }
    return {"map50": result.map50, "map50_95": result.map50_95, "per_class": per_class}
