"""A rich progress bar over optimizer steps showing loss, learning rate and samples/s."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    """Shown by the main process only; the others get a silent one."""

    def __init__(self, total: int, completed: int, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[speed]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task(
            "train", total=total, completed=completed, epoch="-", loss="-", lr="-", speed="-"
        )
        self.progress.start()

    def update(
        self, advance: int, epoch: float, loss: float | None, lr: float, samples_per_s: float
    ) -> None:
        if not self.enabled:
            return
        self.progress.update(
            self.task,
            advance=advance,
            epoch=f"{epoch:.2f}",
            loss="-" if loss is None else f"{loss:.4f}",
            lr=f"{lr:.2e}",
            speed=f"{samples_per_s:.1f} samples/s",
        )

    def print(self, message: str) -> None:
        if self.enabled:
            self.progress.console.print(message, highlight=False)

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()
