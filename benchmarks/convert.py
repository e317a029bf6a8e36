"""Conversion benchmark: dsconv against a plain-pyarrow limit and the notebook approach.

Every contender runs as its own child process (imports and CLI included), in alternation,
and its peak RSS is that child's own `ru_maxrss`. The same file also holds the children:
`python benchmarks/convert.py limit|notebook|reader …` (internal; the benchmark calls them).

    .venv/bin/python benchmarks/convert.py                 # default: 2,000 images, 3 runs
    .venv/bin/python benchmarks/convert.py --scale         # + 20,000 images, RSS growth
    .venv/bin/python benchmarks/convert.py --coco-scale    # + COCO-2017-train-sized JSON
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from common import (
    HEIGHT,
    NOUN,
    PAYLOADS,
    PROMPT,
    PYTHON,
    SPLIT,
    TMP,
    WIDTH,
    BenchData,
    ChildFailed,
    Job,
    Series,
    alternate,
    ensure_data,
    image_name,
    load,
    log,
    machine,
    markdown_table,
    payloads,
    remove,
    run_measured,
    tree_bytes,
    unique_jpeg,
    warm_cache,
)

THIS = str(Path(__file__).resolve())
ROWS_PER_GROUP = 100  # as dsconv's writer, so both write the same row groups
TASK = "count-json"
COCO_2017_TRAIN = (118_287, 860_001)  # images, annotations in instances_train2017.json
READER_FORMATS = {"coco": "coco-to-vqa", "yolo": "yolo-to-vqa", "voc": "voc-to-vqa"}


# --- children: the limit, the notebook approach, a reader on its own --------------------------


def limit_child(argv: Sequence[str]) -> None:
    """The floor: read the COCO JSON, compute the same rows, stream the bytes with pyarrow.

    `pa.array` imports pandas on first use (0.2 s); with `--no-pandas` that import is blocked,
    which gives the floor without it (dsconv builds its columns without `pa.array`)."""
    if argv[3:] == ["--no-pandas"]:
        sys.meta_path.insert(0, _NoPandas())
    import pyarrow as pa
    import pyarrow.parquet as pq

    annotation_file, images_dir, out = Path(argv[0]), Path(argv[1]), argv[2]
    with annotation_file.open("rb") as handle:
        doc = json.load(handle)
    categories = sorted(doc["categories"], key=lambda c: c["id"])
    classes = [c["name"] for c in categories]
    name_of = {c["id"]: c["name"] for c in categories}
    question = PROMPT.format(noun=categories[0]["supercategory"], classes=", ".join(classes))
    objects: dict[Any, list[tuple[str, list[float]]]] = defaultdict(list)
    for ann in doc["annotations"]:
        objects[ann["image_id"]].append((name_of[ann["category_id"]], ann["bbox"]))
    schema = _row_schema(pa)
    with pq.ParquetWriter(out, schema, compression="snappy", write_statistics=False) as writer:
        images = doc["images"]
        for start in range(0, len(images), ROWS_PER_GROUP):
            batch = images[start:start + ROWS_PER_GROUP]
            writer.write_table(_limit_batch(pa, schema, batch, objects, images_dir, classes,
                                            question))


class _NoPandas:
    """An import finder that refuses pandas, as if it were not installed."""

    def find_spec(self, name: str, *_: Any) -> None:
        if name.partition(".")[0] == "pandas":
            raise ImportError(f"{name} blocked by the benchmark")


def _row_schema(pa: Any) -> Any:
    """The row contract's Arrow types (docs/row-contract.md), spelled out in plain pyarrow."""
    box = pa.list_(pa.list_(pa.float32(), 4))
    return pa.schema([
        ("id", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_id", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
        ("objects", pa.struct([("bbox", box), ("category", pa.list_(pa.string()))])),
        ("task", pa.string()), ("question", pa.string()), ("answer", pa.string()),
        ("answers", pa.list_(pa.string())),
    ])


def _limit_batch(
    pa: Any, schema: Any, images: list[dict[str, Any]],
    objects: dict[Any, list[tuple[str, list[float]]]], images_dir: Path, classes: list[str],
    question: str,
) -> Any:
    """One row group, built column by column."""
    answers = []
    for image in images:
        counts = Counter(name for name, _ in objects[image["id"]])
        answers.append(json.dumps({c: counts[c] for c in classes if counts[c]}, indent=2))
    image_column = pa.StructArray.from_arrays(
        [pa.array([(images_dir / i["file_name"]).read_bytes() for i in images], pa.binary()),
         pa.array([i["file_name"] for i in images], pa.string())],
        fields=list(schema.field("image").type))
    columns = {
        "id": [f"{SPLIT}/{i['id']}/{TASK}/0" for i in images],
        "image": image_column,
        "image_id": [str(i["id"]) for i in images],
        "width": [i["width"] for i in images],
        "height": [i["height"] for i in images],
        "objects": [{"bbox": [b for _, b in objects[i["id"]]],
                     "category": [n for n, _ in objects[i["id"]]]} for i in images],
        "task": [TASK] * len(images),
        "question": [question] * len(images),
        "answer": answers,
        "answers": [[a] for a in answers],
    }
    return pa.Table.from_pydict(columns, schema=schema)


def notebook_child(argv: Sequence[str]) -> None:
    """The usual notebook: supervision loads, a list of PIL images, `datasets` writes Parquet."""
    import supervision as sv
    from datasets import Dataset
    from PIL import Image

    images_dir, annotation_file, out = argv
    ds = sv.DetectionDataset.from_coco(images_directory_path=images_dir,
                                       annotations_path=annotation_file)
    question = PROMPT.format(noun=NOUN, classes=", ".join(ds.classes))
    rows = []
    for _path, image, detections in ds:
        counts = Counter(ds.classes[i] for i in detections.class_id)
        answer = json.dumps({c: counts[c] for c in ds.classes if counts[c]}, indent=2)
        rows.append({"image": Image.fromarray(image[:, :, ::-1]), "question": question,
                     "answer": answer})
    Dataset.from_list(rows).to_parquet(out)


def reader_child(argv: Sequence[str]) -> None:
    """A reader on its own: parse time, peak RSS after parsing, then reading every sample."""
    import resource

    from dsconv.converters.base import Ledger, ReaderOptions
    from dsconv.converters.registry import get_reader

    fmt, src = argv
    started = time.perf_counter()
    reader = get_reader(fmt)(Path(src), Ledger(), ReaderOptions(noun=NOUN))
    parsed = time.perf_counter()
    parse_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    samples = image_bytes = 0
    for split in reader.splits():
        for sample in reader.samples(split):
            samples += 1
            image_bytes += len(sample.image_bytes)
    done = time.perf_counter()
    print(json.dumps({"parse": parsed - started, "iterate": done - parsed,
                      "parse_rss_mb": parse_rss, "samples": samples, "bytes": image_bytes}))


CHILDREN: dict[str, Callable[[Sequence[str]], None]] = {
    "limit": limit_child, "notebook": notebook_child, "reader": reader_child,
}


# --- the benchmark ---------------------------------------------------------------------------

COCO = "dsconv coco-to-vqa"
LIMIT = "limit: pyarrow stream"
LIMIT_NO_PANDAS = "limit without the pandas import"
NOTEBOOK = "notebook: supervision + datasets"


def dsconv_argv(fmt: str, src: Path, out: Path) -> list[str]:
    return [PYTHON, "-m", "dsconv", READER_FORMATS[fmt], str(src), str(out),
            "--noun", NOUN, "--overwrite"]


def limit_argv(data: BenchData, out: Path, *extra: str) -> list[str]:
    return [PYTHON, THIS, "limit", str(data.coco_file), str(data.coco_split), str(out), *extra]


def source_of(data: BenchData, fmt: str) -> Path:
    return {"coco": data.coco, "yolo": data.yolo, "voc": data.voc}[fmt]


def importable(module: str) -> bool:
    """Whether a reader module imports (the YOLO/VOC readers may not exist yet)."""
    try:
        run_measured([PYTHON, "-c", f"import {module}"])
    except ChildFailed:
        return False
    return True


def reader_formats() -> list[str]:
    return ["coco", *(f for f in ("yolo", "voc") if importable(f"dsconv.converters.{f}"))]


@dataclass
class Row:
    """A table row: its measurements and what its ratios compare it with."""

    series: Series
    source_bytes: int
    vs: str = ""
    wall_ratio: float | None = None
    cpu_ratio: float | None = None


def compare(row: Row, other: Row, vs: str, per_image: bool = False) -> None:
    """Set `row`'s ratios to it over `other` (per image when their sizes differ)."""
    a, b = row.series, other.series
    if not (a.ok and b.ok):
        return
    scale = b.images / a.images if per_image else 1.0
    row.vs, row.wall_ratio, row.cpu_ratio = vs, a.median / b.median * scale, a.cpu / b.cpu * scale


def conversion_table(rows: list[Row]) -> str:
    headers = ["row", "images", "wall median s", "wall min s", "CPU s", "images/s", "ms/image",
               "peak RSS MB", "output MB", "output/source", "vs", "wall ratio", "CPU ratio"]
    lines = []
    for row in rows:
        s = row.series
        if not s.ok:
            lines.append([s.name, f"{s.images:,}", *["n/a"] * 10, s.error or "n/a"])
            continue
        lines.append([
            s.name, f"{s.images:,}", f"{s.median:.2f}", f"{s.best:.2f}", f"{s.cpu:.2f}",
            f"{s.images / s.median:,.0f}", f"{1000 * s.per_image:.2f}", f"{s.peak_rss_mb:.0f}",
            f"{s.output_bytes / 1e6:.1f}", f"{s.output_bytes / row.source_bytes:.3f}",
            row.vs or "—", _times(row.wall_ratio), _times(row.cpu_ratio),
        ])
    return markdown_table(headers, lines)


def _times(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.0f}×" if ratio >= 20 else f"{ratio:.2f}×"


def same_rows(dsconv_out: Path, limit_out: Path) -> bool:
    """The limit did the same work: same image ids, bytes, paths, questions and answers.
    Matched by image path, since dsconv may re-split a single-split source."""
    import pyarrow.dataset as pads

    def load(path: Path) -> Any:
        table = pads.dataset(path, format="parquet").to_table(
            columns=["image", "image_id", "question", "answer"]).flatten()
        return table.sort_by("image.path")

    return load(dsconv_out / "data").equals(load(limit_out))


@dataclass(frozen=True)
class Contender:
    """One row of the main table: what runs, on which data, and where its output lands."""

    name: str
    data: BenchData
    argv: list[str]
    output: Path


def contenders(args: argparse.Namespace, out: Path) -> list[Contender]:
    data, small = ensure_data(args.images), ensure_data(args.notebook_images)
    m = args.notebook_images
    found = [Contender(COCO, data, dsconv_argv("coco", data.coco, out / "coco"), out / "coco"),
             Contender(LIMIT, data, limit_argv(data, out / "limit.parquet"),
                       out / "limit.parquet"),
             Contender(LIMIT_NO_PANDAS, data,
                       limit_argv(data, out / "limit-np.parquet", "--no-pandas"),
                       out / "limit-np.parquet")]
    formats = reader_formats()
    for fmt in ("yolo", "voc"):
        name = f"dsconv {READER_FORMATS[fmt]}"
        argv = dsconv_argv(fmt, source_of(data, fmt), out / fmt) if fmt in formats else []
        found.append(Contender(name, data, argv, out / fmt))
    found.append(Contender(f"{COCO} @{m}", small, dsconv_argv("coco", small.coco, out / "small"),
                           out / "small"))
    found.append(Contender(
        f"{NOTEBOOK} @{m}", small,
        [PYTHON, THIS, "notebook", str(small.coco_split), str(small.coco_file),
         str(out / "notebook.parquet")], out / "notebook.parquet"))
    return found


def default_benchmark(args: argparse.Namespace, out: Path) -> dict[str, Row]:
    """The main table: every contender on the same data, alternated, `--runs` times each.
    A reader that does not import yet gets an n/a row."""
    entries = contenders(args, out)
    warm_cache({c.data.root for c in entries})
    series: dict[str, Series] = {}
    for size in sorted({c.data.images for c in entries}, reverse=True):
        # Each size alternates on its own: the notebook's 35 s and 1.3 GB would otherwise
        # slow whichever run comes next (+0.2 s measured for dsconv, the run after it).
        series |= alternate({c.name: (c.data.images, c.argv) for c in entries
                             if c.argv and c.data.images == size}, args.runs)
    rows: dict[str, Row] = {}
    for c in entries:
        result = series.get(c.name) or Series(
            c.name, c.data.images, [], error="n/a: reader not importable")
        result.output_bytes = tree_bytes(c.output) if result.ok else 0
        rows[c.name] = Row(result, c.data.source_bytes())
    compare(rows[COCO], rows[LIMIT], "limit")
    for fmt in ("yolo", "voc"):
        compare(rows[f"dsconv {READER_FORMATS[fmt]}"], rows[COCO], "dsconv coco")
    notebook = f"{NOTEBOOK} @{args.notebook_images}"
    compare(rows[notebook], rows[COCO], f"dsconv @{args.images:,}, per image", per_image=True)
    return rows


def reader_benchmark(data: BenchData, runs: int) -> tuple[str, dict[str, float]]:
    """The readers alone, each in a fresh process: parse, then yield every sample with its
    bytes. Returns the table and each reader's time relative to COCO's."""
    formats = reader_formats()
    timings: dict[str, list[dict[str, float]]] = {f: [] for f in formats}
    for _ in range(runs):
        for fmt in formats:
            child = run_measured([PYTHON, THIS, "reader", fmt, str(source_of(data, fmt))])
            timings[fmt].append(json.loads(child.stdout))
    totals = {f: statistics.median(t["parse"] + t["iterate"] for t in timings[f])
              for f in formats}
    lines = []
    for fmt in ("coco", "yolo", "voc"):
        if fmt not in timings:
            lines.append([fmt, *["n/a"] * 5])
            continue
        parse = statistics.median(t["parse"] for t in timings[fmt])
        iterate = statistics.median(t["iterate"] for t in timings[fmt])
        lines.append([fmt, f"{parse:.3f}", f"{iterate:.3f}", f"{totals[fmt]:.3f}",
                      f"{timings[fmt][0]['samples'] / totals[fmt]:,.0f}",
                      f"{totals[fmt] / totals['coco']:.2f}×"])
    table = markdown_table(["reader", "parse s", "iterate s", "total s", "images/s", "vs coco"],
                           lines)
    return table, {f: totals[f] / totals["coco"] for f in formats}


def scale_benchmark(args: argparse.Namespace, out: Path, bases: dict[str, Series]
                    ) -> tuple[str, float]:
    """dsconv and the limit at 20,000 images: does peak RSS stay flat as the data grows 10×?
    Returns the table and dsconv's RSS growth over its base run."""
    big = ensure_data(args.scale_images)
    warm_cache([big.root])
    jobs: dict[str, Job] = {
        COCO: (big.images, dsconv_argv("coco", big.coco, out / "coco-big")),
        LIMIT: (big.images, limit_argv(big, out / "limit-big.parquet")),
    }
    results = alternate(jobs, args.runs)
    remove_outputs(out, ["coco-big", "limit-big.parquet"])
    lines, growth = [], {}
    for name in (COCO, LIMIT):
        base, grown = bases[name], results[name]
        if not (base.ok and grown.ok):
            lines.append([name, f"{grown.images:,}", *["n/a"] * 4])
            continue
        growth[name] = grown.peak_rss_mb / base.peak_rss_mb - 1
        for series, change in ((base, "—"), (grown, f"{100 * growth[name]:+.1f} %")):
            lines.append([name, f"{series.images:,}", f"{series.median:.2f}",
                          f"{series.images / series.median:,.0f}", f"{series.peak_rss_mb:.0f}",
                          change])
    headers = ["row", "images", "wall median s", "images/s", "peak RSS MB", "RSS growth"]
    return markdown_table(headers, lines), growth.get(COCO, float("nan"))


def remove_outputs(out: Path, names: list[str]) -> None:
    for name in names:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# --- COCO-2017-train scale -------------------------------------------------------------------


def ensure_coco_scale(images: int, annotations: int) -> BenchData:
    """A COCO file the size of instances_train2017.json (polygons included, since they make
    up most of its 448 MB and of the memory json.load needs); images are hard links to a
    few pictures."""
    root = TMP / "bench-data-coco-scale"
    data = BenchData(root, images)
    if root.is_dir():
        return data
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-coco-scale-partial-", dir=TMP))
    started = time.perf_counter()
    partial = BenchData(tmp, images)
    partial.coco_split.mkdir(parents=True)
    pictures = tmp / "pictures"
    pictures.mkdir()
    for i, payload in enumerate(payloads(PAYLOADS)):
        (pictures / f"{i}.jpg").write_bytes(unique_jpeg(payload, i))
    for i in range(images):
        os.link(pictures / f"{i % PAYLOADS}.jpg", partial.coco_split / image_name(i))
    write_coco_scale_json(partial.coco_file, images, annotations)
    tmp.rename(root)
    log(f"generated COCO-scale data in {root} ({time.perf_counter() - started:.0f} s, "
        f"{data.coco_file.stat().st_size / 1e6:.0f} MB JSON)")
    return data


def write_coco_scale_json(path: Path, images: int, annotations: int) -> None:
    """Streamed out in pieces, so generating it does not need the memory parsing it does."""
    rng = random.Random(0)
    ids = sorted(rng.sample(range(1, 91), 80))  # COCO's category ids are sparse in 1–90
    categories = [{"id": c, "name": f"class_{c:02d}", "supercategory": f"group_{c // 8}"}
                  for c in ids]
    polygons = [",".join(f"{rng.uniform(0, WIDTH):.2f}" for _ in range(rng.randint(10, 100)))
                for _ in range(997)]
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"info": {"description": "dsconv COCO-scale benchmark"}, "licenses": [], '
                     f'"categories": {json.dumps(categories)}, "images": [')
        handle.write(",".join(
            f'{{"license": 3, "file_name": "{image_name(i)}", "coco_url": '
            f'"http://images.cocodataset.org/train2017/{image_name(i)}", "height": {HEIGHT}, '
            f'"width": {WIDTH}, "date_captured": "2013-11-14 16:28:13", "flickr_url": '
            f'"http://farm4.staticflickr.com/3153/{i}_9f3d8e5c2b_z.jpg", "id": {i}}}'
            for i in range(images)))
        handle.write('], "annotations": [')
        for start in range(0, annotations, 100_000):
            chunk = range(start, min(start + 100_000, annotations))
            prefix = "," if start else ""
            handle.write(prefix + ",".join(_coco_annotation(rng, k, images, ids, polygons)
                                           for k in chunk))
        handle.write("]}")


def _coco_annotation(
    rng: random.Random, k: int, images: int, categories: list[int], polygons: list[str]
) -> str:
    w, h = rng.uniform(4, 300), rng.uniform(4, 300)
    x, y = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
    crowd = int(rng.random() < 0.01)
    return (f'{{"segmentation": [[{polygons[k % len(polygons)]}]], "area": {w * h:.2f}, '
            f'"iscrowd": {crowd}, "image_id": {rng.randrange(images)}, '
            f'"bbox": [{x:.2f},{y:.2f},{w:.2f},{h:.2f}], '
            f'"category_id": {rng.choice(categories)}, "id": {k}}}')


def coco_scale_benchmark(out: Path) -> tuple[str, float]:
    """Parse time and memory on a COCO-2017-train-sized file; returns the table and the
    conversion's peak RSS in MB."""
    images, annotations = COCO_2017_TRAIN
    data = ensure_coco_scale(images, annotations)
    warm_cache([data.coco_file, *data.coco_split.parent.parent.glob("pictures/*.jpg")])
    reader = run_measured([PYTHON, THIS, "reader", "coco", str(data.coco)])
    stats = json.loads(reader.stdout)
    log(f"reader: parse {stats['parse']:.1f} s, {stats['parse_rss_mb']:.0f} MB")
    full = run_measured(dsconv_argv("coco", data.coco, out / "coco-scale"))
    output = tree_bytes(out / "coco-scale")
    remove_outputs(out, ["coco-scale"])
    lines = [
        ["COCO JSON", f"{data.coco_file.stat().st_size / 1e6:.0f} MB",
         f"{images:,} images, {annotations:,} annotations with polygons", "—"],
        ["CocoReader parse (json.load + index)", f"{stats['parse']:.1f} s",
         "peak RSS when parsing is done", f"{stats['parse_rss_mb']:.0f}"],
        ["CocoReader, then every sample's bytes", f"{stats['iterate']:.1f} s",
         f"{stats['samples']:,} samples", f"{reader.peak_rss_mb:.0f}"],
        [f"{COCO} end to end", f"{full.wall:.1f} s",
         f"{full.cpu:.1f} s CPU, {images / full.wall:,.0f} images/s, "
         f"{output / 1e9:.2f} GB Parquet", f"{full.peak_rss_mb:.0f}"],
    ]
    return markdown_table(["step", "size / time", "detail", "peak RSS MB"], lines), \
        full.peak_rss_mb


# --- targets and entry point -----------------------------------------------------------------


def targets(rows: dict[str, Row], readers: dict[str, float], notebook: str) -> list[str]:
    """Issue 9's targets next to what was measured."""
    coco, limit = rows[COCO], rows[LIMIT].series
    checks = []
    if coco.series.ok and limit.ok:
        checks.append(_check(f"wall ≤ 1.3× limit: {coco.wall_ratio:.2f}× "
                             f"(CPU {coco.cpu_ratio:.2f}×)", coco.wall_ratio <= 1.3))
        checks.append(_check(f"peak RSS ≤ 350 MB: {coco.series.peak_rss_mb:.0f} MB",
                             coco.series.peak_rss_mb <= 350))
        bare = rows[LIMIT_NO_PANDAS].series
        if bare.ok:
            checks.append(f"- info dsconv over the limit without its pandas import: "
                          f"{coco.series.median / bare.median:.2f}× "
                          f"(CPU {coco.series.cpu / bare.cpu:.2f}×): a stricter floor, no target")
        size = coco.series.output_bytes / coco.source_bytes - 1
        checks.append(_check(f"output within 3 % of the source images: {100 * size:+.1f} %",
                             abs(size) <= 0.03))
    nb = rows[notebook]
    if nb.wall_ratio is not None:
        checks.append(_check(f"≥ 100× faster than the notebook per image: "
                             f"{nb.wall_ratio:.0f}× (CPU {nb.cpu_ratio:.0f}×)",
                             nb.wall_ratio >= 100))
    for fmt in ("yolo", "voc"):
        row = rows[f"dsconv {READER_FORMATS[fmt]}"]
        if row.wall_ratio is None or fmt not in readers:
            checks.append(f"- n/a  {fmt} within 1.5× of coco: reader not available")
            continue
        checks.append(_check(f"{fmt} within 1.5× of coco: reader alone {readers[fmt]:.2f}×, "
                             f"end to end {row.wall_ratio:.2f}×",
                             max(readers[fmt], row.wall_ratio) <= 1.5))
    return checks


def same_size_note(notebook: Series, ours: Series) -> str:
    """The notebook against dsconv on the same images, each paying its start-up once."""
    if not (notebook.ok and ours.ok):
        return ""
    return (f"\nOn the same {ours.images:,} images (start-up included in both): the notebook "
            f"takes {notebook.median / ours.median:.0f}× dsconv's wall time, "
            f"{notebook.cpu / ours.cpu:.0f}× its CPU time.")


def _check(text: str, ok: bool) -> str:
    return f"- {'pass' if ok else 'FAIL'} {text}"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images for the main rows")
    parser.add_argument("--notebook-images", type=int, default=300,
                        help="images for the notebook row (it holds every image in memory)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each row")
    parser.add_argument("--scale", action="store_true",
                        help="add the 20,000-image RSS-growth rows")
    parser.add_argument("--scale-images", type=int, default=20_000,
                        help="images for --scale (default 20,000)")
    parser.add_argument("--coco-scale", action="store_true",
                        help="add a COCO-2017-train-sized annotation file (slow; ~8 GB output)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, out: Path) -> None:
    print(f"## Conversion, COCO → count-json\n\n{machine()}; {args.runs} runs each, "
          f"alternated; warm page cache; load average {load()} at the start.\n")
    rows = default_benchmark(args, out)
    print(conversion_table(list(rows.values())))
    notebook = f"{NOTEBOOK} @{args.notebook_images}"
    print(same_size_note(rows[notebook].series, rows[f"{COCO} @{args.notebook_images}"].series))
    if rows[COCO].series.ok and rows[LIMIT].series.ok:
        same = same_rows(out / "coco", out / "limit.parquet")
        print(f"The limit's rows equal dsconv's (image bytes and paths, image ids, questions, "
              f"answers): {'yes' if same else 'NO'}.")
    print(f"\n## Readers alone ({args.images:,} images, median of {args.runs})\n")
    table, readers = reader_benchmark(ensure_data(args.images), args.runs)
    print(table)
    checks = targets(rows, readers, notebook)
    if args.scale:
        print(f"\n## Memory growth, {args.images:,} → {args.scale_images:,} images\n")
        table, growth = scale_benchmark(
            args, out, {n: rows[n].series for n in (COCO, LIMIT)})
        print(table)
        checks.append(_check(f"peak RSS grows ≤ 10 % from {args.images:,} to "
                             f"{args.scale_images:,} images: {100 * growth:+.1f} %",
                             growth <= 0.10))
    if args.coco_scale:
        print("\n## COCO-2017-train-sized annotation file (one run)\n")
        table, peak = coco_scale_benchmark(out)
        print(table)
        checks.append(_check(f"COCO-scale peak RSS ≤ 2.5 GB: {peak / 1024:.2f} GB",
                             peak <= 2.5 * 1024))
    print("\n## Targets (issue 9)\n\n" + "\n".join(checks))
    print(f"\nLoad average {load()} at the end.")


def main(argv: Sequence[str]) -> None:
    if argv and argv[0] in CHILDREN:
        CHILDREN[argv[0]](argv[1:])
        return
    args = parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-out-", dir=TMP))
    try:
        run(args, out)
    finally:
        remove(out)


if __name__ == "__main__":
    main(sys.argv[1:])
