"""Shared helpers for the benchmarks: synthetic data, measured child processes, tables.

Only the standard library is imported at module level: the child processes that the
benchmarks time import this module too, and must not pay for numpy or Pillow.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
PROJECT = Path(__file__).resolve().parent.parent
TMP = Path(os.environ.get("DSCONV_BENCH_TMP", "/tmp"))  # data and outputs: TMP/bench-*
WIDTH, HEIGHT = 640, 480
CLASSES = ("dime", "nickel", "penny", "quarter", "fifty", "five", "hundred", "one", "ten",
           "twenty")
NOUN = "money"
PAYLOADS = 16  # distinct JPEG pictures; every file is made unique by a comment segment
JPEG_QUALITY = 87  # with the noise below, ~60 KB a picture, like a 640×480 photo
MAX_OBJECTS = 12
SPLIT = "train"
PROMPT = (
    "How many of each type of the {noun} ({classes}) are there? Respond in JSON format with "
    "the {noun} type as the key and a integer count as the value."
)
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "PYTHONPYCACHEPREFIX": str(TMP / "bench-pycache")}


def child_env() -> dict[str, str]:
    """The children's environment. Bytecode is cached (out of the tree) even where
    PYTHONDONTWRITEBYTECODE is set, as an installed package has its .pyc files: otherwise every
    run would compile dsconv from source (~0.07 s) and measure that."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **CHILD_ENV}


def warm_bytecode() -> None:
    """Compile dsconv and the benchmarks into the children's bytecode cache before timing."""
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(PROJECT / "dsconv"),
                    str(PROJECT / "benchmarks")], env=child_env(), check=True,
                   capture_output=True)


# --- synthetic data -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchData:
    """One synthetic dataset on disk, the same images in COCO, YOLO and VOC layouts."""

    root: Path
    images: int

    @property
    def coco(self) -> Path:
        """Roboflow layout: `coco/train/_annotations.coco.json` beside the images."""
        return self.root / "coco"

    @property
    def coco_split(self) -> Path:
        return self.coco / SPLIT

    @property
    def coco_file(self) -> Path:
        return self.coco_split / "_annotations.coco.json"

    @property
    def yolo(self) -> Path:
        return self.root / "yolo"

    @property
    def voc(self) -> Path:
        return self.root / "voc"

    def image_files(self) -> list[Path]:
        return sorted(self.coco_split.glob("*.jpg"))

    def source_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.image_files())


def image_name(index: int) -> str:
    return f"img_{index:06d}.jpg"


def ensure_data(images: int, label: str | None = None) -> BenchData:
    """The dataset of `images` images, generated once into /tmp/bench-data-<label>.

    Generated in a temporary sibling and renamed into place, so an interrupted generation
    is never mistaken for a finished one.
    """
    root = TMP / f"bench-data-{label or images}"
    if root.is_dir():
        return BenchData(root, images)
    tmp = Path(tempfile.mkdtemp(prefix=f"{root.name}-partial-", dir=TMP))
    started = time.perf_counter()
    data = BenchData(tmp, images)
    boxes = write_coco(data, payloads(PAYLOADS), images)
    write_yolo(data, boxes)
    write_voc(data, boxes)
    tmp.rename(root)
    log(f"generated {images} images in {root} ({time.perf_counter() - started:.1f} s)")
    return BenchData(root, images)


def payloads(count: int, seed: int = 0) -> list[bytes]:
    """`count` distinct 640×480 JPEGs: smooth colour fields, blotches and fine noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    out = []
    for _ in range(count):
        phase = rng.uniform(0, 2 * np.pi, 3)
        base = np.stack([128 + 60 * np.sin(xs / 40 + p) + 40 * np.cos(ys / 55 + 2 * p)
                         for p in phase], -1)
        low = np.clip(128 + 60 * rng.normal(0, 1, (30, 40, 3)), 0, 255).astype(np.uint8)
        blotches = np.asarray(Image.fromarray(low).resize((WIDTH, HEIGHT), Image.BICUBIC),
                              np.float32) - 128
        pixels = base + blotches + rng.normal(0, 4, (HEIGHT, WIDTH, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            buffer, "JPEG", quality=JPEG_QUALITY)
        out.append(buffer.getvalue())
    return out


def unique_jpeg(payload: bytes, index: int) -> bytes:
    """The payload with a COM segment naming the index: a distinct file, the same picture."""
    text = f"dsconv benchmark image {index}".encode()
    return payload[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + payload[2:]


Boxes = list[list[tuple[int, int, int, int, int]]]  # per image: (class index, x, y, w, h)


def random_boxes(images: int, seed: int = 0) -> Boxes:
    """0–12 integer boxes an image, wholly inside it, so every reader keeps every box."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: Boxes = []
    for _ in range(images):
        n = int(rng.integers(0, MAX_OBJECTS + 1))
        w = rng.integers(16, 160, n)
        h = rng.integers(16, 160, n)
        x = (rng.random(n) * (WIDTH - w)).astype(int)
        y = (rng.random(n) * (HEIGHT - h)).astype(int)
        cls = rng.integers(0, len(CLASSES), n)
        out.append([(int(c), int(a), int(b), int(d), int(e))
                    for c, a, b, d, e in zip(cls, x, y, w, h, strict=True)])
    return out


def write_coco(data: BenchData, pictures: list[bytes], images: int) -> Boxes:
    """Images and `_annotations.coco.json`; returns the boxes for the other layouts."""
    data.coco_split.mkdir(parents=True)
    boxes = random_boxes(images)
    annotations = []
    for index, objects in enumerate(boxes):
        path = data.coco_split / image_name(index)
        path.write_bytes(unique_jpeg(pictures[index % len(pictures)], index))
        for cls, x, y, w, h in objects:
            annotations.append({"id": len(annotations), "image_id": index,
                                "category_id": cls + 1, "bbox": [x, y, w, h],
                                "area": w * h, "segmentation": [], "iscrowd": 0})
    doc = {
        "info": {"description": "dsconv benchmark"},
        "categories": [{"id": i + 1, "name": name, "supercategory": NOUN}
                       for i, name in enumerate(CLASSES)],
        "images": [{"id": i, "file_name": image_name(i), "width": WIDTH, "height": HEIGHT}
                   for i in range(images)],
        "annotations": annotations,
    }
    data.coco_file.write_text(json.dumps(doc), encoding="utf-8")
    return boxes


def write_yolo(data: BenchData, boxes: Boxes) -> None:
    """Ultralytics layout with hard links to the COCO images (same inodes, same page cache)."""
    images, labels = data.yolo / SPLIT / "images", data.yolo / SPLIT / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    names = ", ".join(f"'{n}'" for n in CLASSES)
    (data.yolo / "data.yaml").write_text(
        f"path: .\ntrain: {SPLIT}/images\n\nnc: {len(CLASSES)}\nnames: [{names}]\n",
        encoding="utf-8")
    for index, objects in enumerate(boxes):
        name = image_name(index)
        os.link(data.coco_split / name, images / name)
        lines = [f"{c} {(x + w / 2) / WIDTH:.6f} {(y + h / 2) / HEIGHT:.6f} "
                 f"{w / WIDTH:.6f} {h / HEIGHT:.6f}\n" for c, x, y, w, h in objects]
        (labels / name).with_suffix(".txt").write_text("".join(lines), encoding="utf-8")


def write_voc(data: BenchData, boxes: Boxes) -> None:
    """Pascal VOC layout (1-based integer corners) with hard links to the COCO images."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (data.voc / sub).mkdir(parents=True)
    stems = []
    for index, objects in enumerate(boxes):
        name = image_name(index)
        stem = Path(name).stem
        stems.append(stem)
        os.link(data.coco_split / name, data.voc / "JPEGImages" / name)
        (data.voc / "Annotations" / f"{stem}.xml").write_text(
            voc_xml(name, objects), encoding="utf-8")
    (data.voc / "ImageSets" / "Main" / f"{SPLIT}.txt").write_text(
        "".join(f"{s}\n" for s in stems), encoding="utf-8")


def voc_xml(name: str, objects: Sequence[tuple[int, int, int, int, int]]) -> str:
    parts = [f"<annotation>\n  <folder>JPEGImages</folder>\n  <filename>{name}</filename>\n"
             f"  <size><width>{WIDTH}</width><height>{HEIGHT}</height><depth>3</depth></size>\n"]
    for c, x, y, w, h in objects:
        parts.append(
            f"  <object><name>{CLASSES[c]}</name><difficult>0</difficult><bndbox>"
            f"<xmin>{x + 1}</xmin><ymin>{y + 1}</ymin><xmax>{x + w}</xmax><ymax>{y + h}</ymax>"
            "</bndbox></object>\n")
    parts.append("</annotation>\n")
    return "".join(parts)


def warm_cache(paths: Iterable[Path]) -> None:
    """Read every file once, so timed runs measure work rather than the disk (and compile the
    code the children run, so they do not measure that either)."""
    warm_bytecode()
    for path in paths:
        for file in (path.rglob("*") if path.is_dir() else [path]):
            if file.is_file():
                file.read_bytes()


# --- measured child processes ---------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    wall: float  # seconds, from spawn to exit
    cpu: float  # user + system seconds: steadier than wall time on a shared machine
    peak_rss_mb: float  # the child's own peak resident set (ru_maxrss from wait4)
    stdout: str


class ChildFailed(RuntimeError):
    pass


# A fresh, tiny Python runs each child and reports its rusage. Measuring from this
# long-lived process would be wrong: Linux folds the RSS high-water mark of the process that
# forks and execs into the child's ru_maxrss, so every child would report at least our peak.
_WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as handle:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "maxrss_kb": usage.ru_maxrss}, handle)
sys.exit(code)
"""


def run_measured(argv: Sequence[str], cwd: Path = PROJECT) -> Measurement:
    """Run one child under the wrapper; its wall time, CPU time, peak RSS and stdout."""
    with tempfile.NamedTemporaryFile(prefix="bench-rusage-", dir=TMP) as report:
        proc = subprocess.run([PYTHON, "-S", "-c", _WRAPPER, report.name, *argv], cwd=cwd,
                              env=child_env(), capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise ChildFailed(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
        usage = json.loads(Path(report.name).read_text())
    return Measurement(usage["wall"], usage["cpu"], usage["maxrss_kb"] / 1024, proc.stdout)


@dataclass
class Series:
    """Repeated measurements of one benchmark row; `error` set if it could not run."""

    name: str
    images: int
    runs: list[Measurement]
    output_bytes: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(m.wall for m in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(m.cpu for m in self.runs)

    @property
    def best(self) -> float:
        return min(m.wall for m in self.runs)

    @property
    def per_image(self) -> float:
        return self.median / self.images

    @property
    def peak_rss_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)


Job = tuple[int, list[str]]  # images, argv


def alternate(jobs: dict[str, Job], runs: int, warmup: int = 1) -> dict[str, Series]:
    """Run every job `runs` times in turn (a, b, c, a, b, c…), so drift and the load of other
    processes hit all alike, after `warmup` untimed rounds (first runs pay for files and
    libraries the system has not cached yet). A job that fails is reported, not retried."""
    series = {name: Series(name, images, []) for name, (images, _) in jobs.items()}
    for _ in range(warmup):
        for _images, argv in jobs.values():
            with contextlib.suppress(ChildFailed):  # a failing job fails again when timed
                run_measured(argv)
    for run in range(runs):
        for name, (_, argv) in jobs.items():
            if series[name].error:
                continue
            try:
                measurement = run_measured(argv)
            except ChildFailed as exc:
                series[name].error = str(exc).strip().splitlines()[-1]
                log(f"{name}: failed, shown as n/a\n{exc}")
                continue
            series[name].runs.append(measurement)
            log(f"run {run + 1}/{runs} {name}: {measurement.wall:.2f} s wall, "
                f"{measurement.cpu:.2f} s CPU, {measurement.peak_rss_mb:.0f} MB")
    return series


def tree_bytes(path: Path, pattern: str = "*.parquet") -> int:
    """Bytes of the Parquet files in a dataset folder, or of one Parquet file."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file())


def remove(path: Path) -> None:
    """Delete a benchmark temp path; refuses anything outside TMP/bench-*."""
    if not path.name.startswith("bench-") or path.parent != TMP:
        raise ValueError(f"refusing to delete {path}: not a {TMP}/bench-* path")
    shutil.rmtree(path, ignore_errors=True)


# --- output ---------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table, numbers right-aligned, ready to paste into a README."""
    rows = [list(r) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    right = [i > 0 for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [str(c).rjust(w) if r else str(c).ljust(w)
                  for c, w, r in zip(cells, widths, right, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2))
                          for w, r in zip(widths, right, strict=True)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def machine() -> str:
    """One line naming what the numbers were measured on."""
    import platform

    return (f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()}")


def load() -> str:
    """The 1-minute load average: above the core count, other processes shared the CPU."""
    return f"{os.getloadavg()[0]:.1f}"
