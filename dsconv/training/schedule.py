"""Learning-rate schedules of the reference results, as picklable LambdaLR factors.

The factor is a callable object rather than a closure so that the scheduler's state (saved by
accelerate with every checkpoint) round-trips through `--resume`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("linear", "cosine-warmup", "constant")


@dataclass
class LrFactor:
    """lr multiplier at optimizer step `step` (0-based).

    linear: warm-up from 0 over `warmup_steps` (Florence-2's reference has none), then linear
    decay to 0 at `total_steps`.
    cosine-warmup: linear warm-up from `floor`·lr to lr, then cosine decay back to `floor`·lr
    (Moondream2's reference, floor 0.1).
    constant: lr throughout.
    """

    kind: str
    total_steps: int
    warmup_steps: int
    floor: float = 0.1

    def __call__(self, step: int) -> float:
        after_warmup = max(1, self.total_steps - self.warmup_steps)
        if self.kind == "constant":
            return 1.0
        if self.kind == "linear":
            if step < self.warmup_steps:
                return step / self.warmup_steps
            return max(0.0, (self.total_steps - step) / after_warmup)
        if self.kind == "cosine-warmup":
            if step < self.warmup_steps:
                return self.floor + (1 - self.floor) * step / self.warmup_steps
            progress = min(1.0, (step - self.warmup_steps) / after_warmup)
            return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))
        raise ValueError(f"unknown schedule {self.kind!r} (choose from: {', '.join(SCHEDULES)})")


def build_scheduler(optimizer: Optimizer, kind: str, total_steps: int, warmup: float) -> LambdaLR:
    """A scheduler stepped once per optimizer step; `warmup` is a fraction of `total_steps`."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r} (choose from: {', '.join(SCHEDULES)})")
    factor = LrFactor(kind, total_steps, round(warmup * total_steps))
    return LambdaLR(optimizer, factor)
