"""Training-data benchmark: images/s the training DataLoader delivers, and what it costs the
training process.

dsconv decodes each image from its Parquet bytes and runs the Florence-2 processor (resize to
768², normalise, tokenise) inside DataLoader workers, with 0, 1 and 2 workers. The reference
notebooks read the dataset with `datasets` (images decoded to PIL) and call the processor on
each batch in the training process. Both produce the same batches from the same Parquet split;
runs alternate between contenders and the table reports the median.

    .venv/bin/python benchmarks/train_data.py                 # 128 images 640×480, 3 runs
    .venv/bin/python benchmarks/train_data.py --rows 512 --runs 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

import datasets
from common import load, log, machine, markdown_table
from transformers import AutoProcessor

from dsconv.models.florence2 import Florence2Collator
from dsconv.storage.dataset import shard_paths
from dsconv.testing.tiny import build_tiny_florence2, write_tiny_vqa
from dsconv.training.data import RowDataset, load_split, make_loader

IMAGE_SIZE = 768  # Florence-2's processor input
SOURCE_SIZE = (640, 480)


def notebook_epoch(data_dir: Path, processor, batch_size: int, cache: str) -> Callable[[], int]:
    """The notebooks' way: PIL images from `datasets`, processor per batch in this process."""
    files = [str(p) for p in shard_paths(data_dir, "train")["train"]]
    rows = datasets.load_dataset("parquet", data_files={"train": files}, split="train",
                                 cache_dir=cache)

    def run() -> int:
        seen = 0
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            images = [image.convert("RGB") for image in batch["image"]]
            processor(text=batch["question"], images=images, return_tensors="pt", padding=True)
            processor.tokenizer(batch["answer"], return_tensors="pt", padding=True)
            seen += len(images)
        return seen

    return run


def dsconv_epoch(data_dir: Path, processor, batch_size: int, workers: int,
                 cache: str) -> Callable[[], int]:
    """dsconv's training DataLoader: lazy decode and the collator in `workers` processes."""
    dataset = RowDataset(load_split(str(data_dir), "train", cache))
    loader = make_loader(dataset, Florence2Collator(processor, max_answer_tokens=1024),
                         batch_size, workers, seed=0, shuffle=True)

    def run() -> int:
        return sum(batch["pixel_values"].shape[0] for batch in loader)

    return run


def measure(run: Callable[[], int]) -> tuple[float, float]:
    """(images/s, training-process CPU ms per image) for one epoch."""
    wall, cpu = time.perf_counter(), time.process_time()
    images = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return images / wall, 1000 * cpu / images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="train-bench-", dir="/tmp"))
    try:
        log(f"writing {args.rows} rows of {SOURCE_SIZE[0]}×{SOURCE_SIZE[1]} JPEGs to {work}")
        data_dir = write_tiny_vqa(work / "data", rows=args.rows, size=SOURCE_SIZE)
        model_dir = build_tiny_florence2(work / "model", image_size=IMAGE_SIZE)
        processor = AutoProcessor.from_pretrained(model_dir)
        cache = str(work / "hf-cache")
        contenders = {
            ("notebook: PIL from datasets, processor in the training process", "-"):
                notebook_epoch(data_dir, processor, args.batch_size, cache),
            **{(f"dsconv DataLoader, {n} worker{'s' if n != 1 else ''}", str(n)):
               dsconv_epoch(data_dir, processor, args.batch_size, n, cache) for n in (0, 1, 2)},
        }
        results: dict[tuple[str, str], list[tuple[float, float]]] = {k: [] for k in contenders}
        for run_index in range(args.runs):
            for key, run in contenders.items():
                results[key].append(measure(run))
                log(f"run {run_index + 1}/{args.runs} {key[0]}: {results[key][-1][0]:.1f} images/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    reference = statistics.median(r[0] for r in next(iter(results.values())))
    rows = []
    for (name, workers), values in results.items():
        speed = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        rows.append([name, workers, f"{speed:.1f}", f"{speed / reference:.2f}×", f"{cpu:.1f}"])
    print()
    print(f"Training data: {args.rows} images {SOURCE_SIZE[0]}×{SOURCE_SIZE[1]} → "
          f"Florence-2 processor {IMAGE_SIZE}², batch {args.batch_size}, median of {args.runs} "
          f"epochs; {machine()}, load {load()}")
    print()
    print(markdown_table(
        ["approach", "workers", "images/s", "vs notebook", "training-process CPU ms/image"],
        rows,
    ))


if __name__ == "__main__":
    main()
