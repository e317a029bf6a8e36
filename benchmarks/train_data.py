"""Training-data benchmark: images/s the training DataLoader delivers, and what it costs the
training process.

dsconv decodes each image from its Parquet bytes and runs the Florence-2 processor (resize to
768², normalise, tokenise) inside DataLoader workers, with 0, 1 and 2 workers. The reference
notebooks read the dataset with `datasets` (images decoded to PIL) and call the processor on
each batch in the training process. Both produce the same batches from the same Parquet split;
runs alternate between contenders and the table reports the median.

    .venv/bin/python benchmarks/train_data.py                 # 128 images 640×480, 3 runs
    .venv/bin/python benchmarks/train_data.py --rows 512 --runs 5
    .venv/bin/python benchmarks/train_data.py --families      # + one row per chat family

With `--families`, each chat family's processor and collator (chat template, image tokens,
labels) build the same batches at the public checkpoint's image settings (`PUBLIC_IMAGES`), on a
tiny checkpoint of that family (the model itself never runs).
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

from dsconv.models.chat import ChatCollator
from dsconv.models.florence2 import Florence2Collator
from dsconv.models.paligemma import PaliGemmaCollator
from dsconv.models.processors import load_processor
from dsconv.storage.dataset import shard_paths
from dsconv.testing.tiny import build_tiny_florence2, write_tiny_vqa
from dsconv.testing.tiny_chat import FAMILIES, PUBLIC_CHECKPOINTS, build_tiny_chat
from dsconv.training.data import RowDataset, load_split, make_loader

IMAGE_SIZE = 768  # Florence-2's processor input
SOURCE_SIZE = (640, 480)
# The public checkpoints' image settings (their preprocessor configs, as far as known here:
# none was downloaded) and the image tokens each image then takes.
PUBLIC_IMAGES: dict[str, tuple[dict, dict]] = {
    "qwen2_5_vl": ({"size": {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}}, {}),
    "qwen3_vl": ({"size": {"shortest_edge": 65536, "longest_edge": 16777216}}, {}),
    "idefics3": ({"size": {"longest_edge": 2048}, "max_image_size": {"longest_edge": 512},
                  "do_image_splitting": True}, {"image_seq_len": 64}),
    "gemma3": ({"size": {"height": 896, "width": 896}}, {"image_seq_length": 256}),
    "paligemma": ({"size": {"height": 224, "width": 224}}, {"image_seq_length": 256}),
    "internvl": ({"size": {"height": 448, "width": 448}}, {"image_seq_length": 256}),
}


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


def family_collator(family: str, work: Path):
    """The family's collator on a tiny checkpoint, its processor set to the public settings."""
    processor = load_processor(str(build_tiny_chat(family, work / family)))
    image_settings, processor_settings = PUBLIC_IMAGES[family]
    for name, value in image_settings.items():
        setattr(processor.image_processor, name, value)
    for name, value in processor_settings.items():
        setattr(processor, name, value)
    if family == "paligemma":
        processor.image_processor.image_seq_length = processor_settings["image_seq_length"]
        return PaliGemmaCollator(processor)
    return ChatCollator(processor)


def family_epoch(data_dir: Path, collate, batch_size: int, workers: int,
                 cache: str) -> Callable[[], int]:
    dataset = RowDataset(load_split(str(data_dir), "train", cache))
    loader = make_loader(dataset, collate, batch_size, workers, seed=0, shuffle=True)

    def run() -> int:
        return sum(batch["input_ids"].shape[0] for batch in loader)

    return run


def family_rows(data_dir: Path, work: Path, batch_size: int, runs: int) -> list[list[str]]:
    """Per family: CPU ms an image to build a batch (0 workers), images/s at 0 and 2 workers."""
    cache = str(work / "hf-cache")
    rows = []
    for family in FAMILIES:
        collate = family_collator(family, work)
        found: dict[int, list[tuple[float, float]]] = {0: [], 2: []}
        for _ in range(runs):
            for workers in found:
                found[workers].append(
                    measure(family_epoch(data_dir, collate, batch_size, workers, cache)))
        cpu = statistics.median(v[1] for v in found[0])
        speeds = [statistics.median(v[0] for v in found[n]) for n in (0, 2)]
        log(f"{family}: {cpu:.1f} CPU ms/image, {speeds[0]:.1f} / {speeds[1]:.1f} images/s")
        rows.append([family, PUBLIC_CHECKPOINTS[family], f"{cpu:.1f}", f"{speeds[0]:.1f}",
                     f"{speeds[1]:.1f}"])
    return rows


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
    parser.add_argument("--families", action="store_true",
                        help="also one row per chat family (processor + collator)")
    args = parser.parse_args()
    chat_rows: list[list[str]] = []

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
        if args.families:
            chat_rows = family_rows(data_dir, work, args.batch_size, args.runs)
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
    if chat_rows:
        print()
        print(f"Chat families, same images, each at its public checkpoint's image settings, "
              f"batch {args.batch_size}, median of {args.runs} epochs:")
        print()
        print(markdown_table(
            ["family", "settings of", "CPU ms/image (0 workers)", "images/s, 0 workers",
             "images/s, 2 workers"], chat_rows,
        ))


if __name__ == "__main__":
    main()
