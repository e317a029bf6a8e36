"""Memory of one huge annotation file: a 100 MB Pascal VOC XML and a 100 MB COCO JSON.

    .venv/bin/python benchmarks/large_annotations.py              # 100 MB each, ~1 min
    .venv/bin/python benchmarks/large_annotations.py --mb 300 --work /tmp/bench-large

Each file is converted by `python -m dsconv {voc,coco}-to-vqa` in a fresh process (imports
included) under the wrapper of benchmarks/common.py, and its peak RSS is compared with the same
command on a 10 kB file of the same layout (the start-up footprint): growth = (peak − start-up
peak) / file size. The VOC file is one 640×480 image with ~400,000 objects, written the way
Roboflow and LabelImg indent it; the COCO file has 1,000 images (hard links to one JPEG) and
~740,000 box-only annotations: no polygons, so the most annotations per byte (the worst case
for json.load). Every box is inside its image, so every object is kept and written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from common import PYTHON, TMP, load, log, machine, markdown_table, run_measured

WIDTH, HEIGHT = 640, 480
COCO_IMAGES = 1000
TINY = 10_000  # bytes: the start-up run's annotation file
TARGET_GROWTH = 10  # the bound: no more than ~10× the file above start-up


def jpeg(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 150)).save(path, "JPEG")


def write_voc(root: Path, size: int) -> int:
    """One image whose XML grows to `size` bytes; returns the number of objects."""
    jpeg(root / "JPEGImages" / "big.jpg")
    (root / "Annotations").mkdir(parents=True)
    n = 0
    with (root / "Annotations" / "big.xml").open("w", encoding="utf-8") as handle:
        handle.write(f"<annotation>\n\t<folder>JPEGImages</folder>\n\t<filename>big.jpg"
                     f"</filename>\n\t<size>\n\t\t<width>{WIDTH}</width>\n\t\t<height>{HEIGHT}"
                     "</height>\n\t\t<depth>3</depth>\n\t</size>\n")
        while handle.tell() < size:
            x, y = n % 500 + 1, n % 400 + 1
            handle.write(
                f"\t<object>\n\t\t<name>class{n % 10}</name>\n\t\t<pose>Unspecified</pose>\n"
                "\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n"
                "\t\t<occluded>0</occluded>\n\t\t<bndbox>\n"
                f"\t\t\t<xmin>{x}</xmin>\n\t\t\t<xmax>{x + 30}</xmax>\n"
                f"\t\t\t<ymin>{y}</ymin>\n\t\t\t<ymax>{y + 40}</ymax>\n\t\t</bndbox>\n"
                "\t</object>\n")
            n += 1
        handle.write("</annotation>\n")
    return n


def write_coco(root: Path, size: int) -> int:
    """`annotations.json` grown to `size` bytes beside 1,000 hard-linked images."""
    jpeg(root / "img_00000.jpg")
    for i in range(1, COCO_IMAGES):
        os.link(root / "img_00000.jpg", root / f"img_{i:05d}.jpg")
    categories = [{"id": k + 1, "name": f"class{k}", "supercategory": "thing"}
                  for k in range(10)]
    images = [{"id": i, "file_name": f"img_{i:05d}.jpg", "width": WIDTH, "height": HEIGHT}
              for i in range(COCO_IMAGES)]
    n = 0
    with (root / "annotations.json").open("w", encoding="utf-8") as handle:
        handle.write(f'{{"categories": {json.dumps(categories)}, "images": {json.dumps(images)}'
                     ', "annotations": [')
        while handle.tell() < size:
            handle.write(("," if n else "") + json.dumps({
                "id": n, "image_id": n % COCO_IMAGES, "category_id": n % 10 + 1,
                "bbox": [float(n % 500), float(n % 400), 33.0, 41.0], "area": 1353.0,
                "segmentation": [], "iscrowd": 0}))
            n += 1
        handle.write("]}")
    return n


WRITERS: dict[str, Callable[[Path, int], int]] = {"voc": write_voc, "coco": write_coco}
FILES = {"voc": "Annotations/big.xml", "coco": "annotations.json"}


def measure(fmt: str, size: int, work: Path) -> list[str]:
    """One table row: the big file's conversion against the tiny one's."""
    big, tiny = work / f"{fmt}-big", work / f"{fmt}-tiny"
    objects = WRITERS[fmt](big, size)
    WRITERS[fmt](tiny, TINY)
    megabytes = (big / FILES[fmt]).stat().st_size / 1e6
    runs = {}
    for name, src in (("tiny", tiny), ("big", big)):
        out = work / f"{fmt}-{name}-out"
        runs[name] = run_measured([PYTHON, "-m", "dsconv", f"{fmt}-to-vqa", str(src), str(out),
                                   "--split-ratios", "1,0,0"])
        shutil.rmtree(out)
    shutil.rmtree(big)
    shutil.rmtree(tiny)
    peak, start = runs["big"].peak_rss_mb, runs["tiny"].peak_rss_mb
    log(f"{fmt}: {megabytes:.0f} MB, {runs['big'].wall:.1f} s, {peak:.0f} MB peak "
        f"({start:.0f} MB for the tiny file)")
    return [fmt.upper(), f"{megabytes:.0f}", f"{objects:,}", f"{runs['big'].wall:.1f}",
            f"{peak:.0f}", f"{start:.0f}", f"{(peak - start) / megabytes:.1f}×",
            f"{peak / megabytes:.1f}×"]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100, help="annotation file size in MB")
    parser.add_argument("--formats", default="voc,coco", help="comma-separated: voc, coco")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the generated files (default: a new /tmp/bench-large-*)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-large-", dir=TMP))
    work.mkdir(parents=True, exist_ok=True)
    log(f"{machine()}; load {load()}")
    try:
        rows = [measure(fmt, int(args.mb * 1e6), work) for fmt in args.formats.split(",")]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown_table(
        ["format", "file MB", "objects", "wall s", "peak RSS MB", "start-up MB",
         "growth / file", "peak / file"], rows))
    worst = max(float(row[6].rstrip("×")) for row in rows)
    verdict = "ok" if worst <= TARGET_GROWTH else "over"
    print(f"\nGrowth above start-up at most {worst:.1f}× the file "
          f"(target ≤ {TARGET_GROWTH}×: {verdict}); load {load()} at the end.")
    return 0 if worst <= TARGET_GROWTH else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
