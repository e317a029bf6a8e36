"""Resize benchmark: `--max-image-size 768` with one worker process against two (and more).

Every row is the CLI in a fresh process (imports included), run in alternation; the outputs
of the different worker counts are then compared byte for byte.

    .venv/bin/python benchmarks/resize.py                  # 300 photos of 1920×1440, 3 runs
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from common import (
    CLASSES,
    NOUN,
    PYTHON,
    TMP,
    Job,
    Series,
    alternate,
    load,
    log,
    machine,
    markdown_table,
    remove,
    unique_jpeg,
    warm_cache,
)

PHOTO = (1920, 1440)  # a phone photo's aspect; ~450 KB as JPEG
MAX_SIDE = 768
PICTURES = 8  # distinct pictures; every file is made unique by a JPEG comment segment
TARGET_SPEEDUP = 1.7


def ensure_photos(images: int) -> Path:
    """A COCO (Roboflow layout) dataset of `images` large JPEGs, made once under TMP."""
    root = TMP / f"bench-data-resize-{images}"
    if root.is_dir():
        return root
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f"{root.name}-partial-", dir=TMP))
    split = tmp / "train"
    split.mkdir()
    pictures = _pictures(PICTURES)
    doc = _coco(images)
    for entry in doc["images"]:
        index = entry["id"]
        (split / entry["file_name"]).write_bytes(unique_jpeg(pictures[index % PICTURES], index))
    (split / "_annotations.coco.json").write_text(json.dumps(doc), encoding="utf-8")
    tmp.rename(root)
    log(f"generated {images} photos in {root} ({time.perf_counter() - started:.1f} s)")
    return root


def _pictures(count: int) -> list[bytes]:
    import numpy as np
    from PIL import Image

    width, height = PHOTO
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for _ in range(count):
        phase = rng.uniform(0, 2 * np.pi, 3)
        base = np.stack([128 + 60 * np.sin(xs / 90 + p) + 40 * np.cos(ys / 120 + 2 * p)
                         for p in phase], -1)
        low = np.clip(128 + 60 * rng.normal(0, 1, (45, 60, 3)), 0, 255).astype(np.uint8)
        blotches = np.asarray(Image.fromarray(low).resize(PHOTO, Image.BICUBIC),
                              np.float32) - 128
        pixels = np.clip(base + blotches + rng.normal(0, 4, (height, width, 3)), 0, 255)
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=87)
        out.append(buffer.getvalue())
    return out


def _coco(images: int) -> dict:
    import numpy as np

    width, height = PHOTO
    rng = np.random.default_rng(1)
    annotations = []
    for index in range(images):
        for _ in range(int(rng.integers(0, 13))):
            w, h = (int(v) for v in rng.integers(48, 480, 2))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            annotations.append({"id": len(annotations), "image_id": index,
                                "category_id": int(rng.integers(1, len(CLASSES) + 1)),
                                "bbox": [x, y, w, h], "area": w * h, "segmentation": [],
                                "iscrowd": 0})
    return {
        "categories": [{"id": i + 1, "name": name, "supercategory": NOUN}
                       for i, name in enumerate(CLASSES)],
        "images": [{"id": i, "file_name": f"photo_{i:06d}.jpg", "width": width,
                    "height": height} for i in range(images)],
        "annotations": annotations,
    }


def jobs_for(src: Path, out: Path, images: int, workers: Sequence[int]) -> dict[str, Job]:
    def argv(name: str, *extra: str) -> list[str]:
        return [PYTHON, "-m", "dsconv", "coco-to-vqa", str(src), str(out / name), "--noun",
                NOUN, "--overwrite", *extra]

    jobs = {"no resize (bytes copied)": (images, argv("copy", "--workers", "1"))}
    for n in workers:
        jobs[f"resize, workers={n}"] = (images, argv(f"w{n}", "--max-image-size",
                                                     str(MAX_SIDE), "--workers", str(n)))
    return jobs


def same_output(a: Path, b: Path) -> bool:
    """Shards and report byte for byte equal (the card records the command, so it differs)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*")
                   if p.is_file() and (p.suffix == ".parquet" or p.name.endswith(".json")))
    theirs = sorted(p.relative_to(b) for p in b.rglob("*")
                    if p.is_file() and (p.suffix == ".parquet" or p.name.endswith(".json")))
    return files == theirs and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def table(results: dict[str, Series], baseline: str) -> str:
    headers = ["run", "images", "wall median s", "wall min s", "CPU s", "images/s",
               "speed-up vs workers=1", "peak RSS MB"]
    base = results[baseline]
    lines = []
    for name, series in results.items():
        if not series.ok:
            lines.append([name, *["n/a"] * 7])
            continue
        speedup = (f"{base.median / series.median:.2f}×" if base.ok and name.startswith("resize")
                   else "")
        lines.append([name, f"{series.images:,}", f"{series.median:.2f}", f"{series.best:.2f}",
                      f"{series.cpu:.2f}", f"{series.images / series.median:,.1f}", speedup,
                      f"{series.peak_rss_mb:.0f}"])
    return markdown_table(headers, lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="photos of 1920×1440")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each row")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to compare (the first is the baseline)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    src = ensure_photos(args.images)
    warm_cache([src])
    out = Path(tempfile.mkdtemp(prefix="bench-out-resize-", dir=TMP))
    try:
        print(f"## Resize: {PHOTO[0]}×{PHOTO[1]} JPEG → --max-image-size {MAX_SIDE}\n\n"
              f"{machine()}; {args.runs} runs each, alternated; warm page cache; "
              f"load average {load()} at the start.\n")
        results = alternate(jobs_for(src, out, args.images, args.workers), args.runs)
        baseline = f"resize, workers={args.workers[0]}"
        print(table(results, baseline))
        print()
        first = out / f"w{args.workers[0]}"
        for n in args.workers[1:]:
            same = same_output(first, out / f"w{n}")
            print(f"- workers={n} output equals workers={args.workers[0]}'s byte for byte "
                  f"(shards, report): {'yes' if same else 'NO'}")
        if 2 in args.workers and results[baseline].ok and results["resize, workers=2"].ok:
            speedup = results[baseline].median / results["resize, workers=2"].median
            verdict = "pass" if speedup >= TARGET_SPEEDUP else "FAIL"
            print(f"- {verdict} speed-up ≥ {TARGET_SPEEDUP}× with 2 workers: {speedup:.2f}×")
        print(f"\nLoad average {load()} at the end.")
    finally:
        remove(out)


if __name__ == "__main__":
    main(sys.argv[1:])
