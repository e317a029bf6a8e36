"""The scale-out options the conversion commands share: workers, resizing, parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from dsconv.pipeline.shard import Share, parse_share
from dsconv.storage.files import MAX_IMAGE_BYTES
from dsconv.storage.parallel import resolve_workers

WorkersOpt = Annotated[int | None, typer.Option(
    min=1, show_default="all cores",
    help="Processes for the image work (resizing); the output is the same for any number.")]
MaxImageSize = Annotated[int | None, typer.Option(
    min=1, metavar="PIXELS",
    help="Shrink images whose longer side is over PIXELS to PIXELS, aspect kept and boxes "
    "scaled (JPEG re-encoded at quality 90, PNG stays PNG, EXIF orientation applied); "
    "other images keep their bytes.")]
MaxImageBytes = Annotated[int, typer.Option(
    min=1, metavar="BYTES", show_default=f"{MAX_IMAGE_BYTES:,} (256 MiB)",
    help="Drop image files larger than BYTES without reading them (reported in "
    "conversion_report.json): a multi-GB junk file named like an image is never read whole.")]
NumShards = Annotated[int | None, typer.Option(
    min=1, metavar="N", help="Convert only one of N parts of the source (with --shard-index), "
    "e.g. one per machine; join the part folders with `dsconv merge`.")]
ShardIndex = Annotated[int | None, typer.Option(
    min=0, metavar="I", help="Which part this run converts: 0 … N-1 "
    "(e.g. $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX).")]


@dataclass(frozen=True)
class Scale:
    """The parsed scale-out options of one run."""

    workers: int = 1
    max_image_size: int | None = None
    share: Share | None = None

    @classmethod
    def parse(cls, workers: int | None = None, max_image_size: int | None = None,
              num_shards: int | None = None, shard_index: int | None = None) -> Scale:
        return cls(resolve_workers(workers), max_image_size, parse_share(num_shards, shard_index))
