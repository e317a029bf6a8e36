"""`--max-image-size`: aspect kept, boxes scaled, small images untouched, any worker count."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dsconv.pipeline.resize import fitted_size, resize_image, scale_boxes
from dsconv.schemas.samples import DetectionObject
from dsconv.storage.dataset import iter_rows, read_report
from dsconv.validation import validate_dataset
from tests.helpers import run_cli
from tests.scale_data import MAX_SIDE, sideways_jpeg, write_messy_coco

TASKS = ("-t", "count-json", "-t", "presence")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_messy_coco(tmp_path_factory.mktemp("messy"))


def convert(src: Path, out: Path, *options: str) -> Path:
    result = run_cli("coco-to-vqa", src, out, *TASKS, *options)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def outputs(messy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The messy data converted as it is, and resized with one and with two workers."""
    root = tmp_path_factory.mktemp("resized")
    size = str(MAX_SIDE)
    return {
        "plain": convert(messy, root / "plain"),
        "w1": convert(messy, root / "w1", "--max-image-size", size, "--workers", "1"),
        "w2": convert(messy, root / "w2", "--max-image-size", size, "--workers", "2"),
    }


def first_rows(dataset: Path) -> dict[str, dict]:
    """The first row of each image, by source file name."""
    rows: dict[str, dict] = {}
    for row in iter_rows(dataset):
        rows.setdefault(row["image"]["path"], row)
    return rows


def test_fitted_size_keeps_aspect_and_leaves_small_images() -> None:
    assert fitted_size(300, 200, 128) == (128, 85)
    assert fitted_size(90, 400, 128) == (29, 128)
    assert fitted_size(128, 20, 128) is None
    assert fitted_size(100, 80, 128) is None


def test_boxes_scale_and_clip_to_the_new_size() -> None:
    boxes = [DetectionObject("dime", (30.0, 20.0, 60.0, 40.0)),
             DetectionObject("penny", (250.0, 150.0, 50.0, 50.0))]
    scaled = scale_boxes(boxes, 0.5, 0.5, 150, 100)
    assert scaled[0].bbox == (15.0, 10.0, 30.0, 20.0)
    assert scaled[1].bbox == (125.0, 75.0, 25.0, 25.0)
    assert scale_boxes([DetectionObject("x", (0.0, 0.0, 301.0, 10.0))], 0.5, 1.0, 150, 10)[
        0].bbox == (0.0, 0.0, 150.0, 10.0)


def test_resize_applies_exif_orientation() -> None:
    data = resize_image(sideways_jpeg(1), 85, 128)
    assert isinstance(data, bytes)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (85, 128)
        assert image.getexif().get(0x0112) in (None, 1)


def test_images_over_the_limit_shrink_with_aspect_and_format(outputs: dict[str, Path]) -> None:
    rows = first_rows(outputs["w1"])
    expected = {"big_0.jpg": (128, 85, "JPEG"), "alpha_2.png": (128, 89, "PNG"),
                "side_3.jpg": (85, 128, "JPEG"), "tall_7.jpg": (29, 128, "JPEG"),
                "v_3.jpg": (128, 74, "JPEG"), "t_1.jpg": (74, 128, "JPEG")}
    for name, (width, height, fmt) in expected.items():
        row = rows[name]
        assert (row["width"], row["height"]) == (width, height), name
        with Image.open(io.BytesIO(row["image"]["bytes"])) as image:
            assert (image.format, image.size) == (fmt, (width, height)), name
    with Image.open(io.BytesIO(rows["alpha_2.png"]["image"]["bytes"])) as image:
        assert image.mode == "RGBA"
    with Image.open(io.BytesIO(rows["big_0.jpg"]["image"]["bytes"])) as image:
        assert image.quantization[0][0] == 3  # the libjpeg luminance table at quality 90
    assert all(max(r["width"], r["height"]) <= MAX_SIDE for r in rows.values())


def test_images_within_the_limit_keep_their_bytes(messy: Path,
                                                  outputs: dict[str, Path]) -> None:
    rows = first_rows(outputs["w1"])
    assert rows["small_1.jpg"]["image"]["bytes"] == (messy / "train" / "small_1.jpg").read_bytes()
    assert rows["v_small.png"]["image"]["bytes"] == (messy / "valid" / "v_small.png").read_bytes()


def test_boxes_follow_the_image(outputs: dict[str, Path]) -> None:
    before, after = first_rows(outputs["plain"]), first_rows(outputs["w1"])
    # pixels that do not decode are found only when resizing: see the next test but one
    assert before.keys() - after.keys() == {"scan_8.jpg", "broken_5.png"}
    for name, row in after.items():
        old = before[name]
        sx, sy = row["width"] / old["width"], row["height"] / old["height"]
        assert row["objects"]["category"] == old["objects"]["category"]
        for box, was in zip(row["objects"]["bbox"], old["objects"]["bbox"], strict=True):
            want = [was[0] * sx, was[1] * sy, was[2] * sx, was[3] * sy]
            assert box == pytest.approx(want, abs=1e-3), name
    assert after["big_0.jpg"]["answer"] == before["big_0.jpg"]["answer"]


def test_resized_dataset_validates_deeply(outputs: dict[str, Path]) -> None:
    result = validate_dataset(outputs["w1"], deep=True)
    assert result.ok, result.problems


def test_an_image_that_fails_to_decode_is_dropped_where_it_was_read(
        outputs: dict[str, Path]) -> None:
    report = read_report(outputs["w1"])
    files = [(d["file"], d["reason"]) for d in report["drops"]]
    assert ("scan_8.jpg", "unreadable_image") in files
    assert "scan_8.jpg" not in first_rows(outputs["w1"])
    assert "scan_8.jpg" in first_rows(outputs["plain"])  # only decoding finds it
    assert files.index(("scan_8.jpg", "unreadable_image")) > files.index(
        ("gone_6.jpg", "missing_image"))


def test_two_workers_write_the_same_bytes_as_one(outputs: dict[str, Path]) -> None:
    one, two = outputs["w1"], outputs["w2"]
    files = sorted(p.relative_to(one) for p in one.rglob("*")
                   if p.suffix in (".parquet", ".json"))
    assert files == sorted(p.relative_to(two) for p in two.rglob("*")
                           if p.suffix in (".parquet", ".json"))
    for file in files:
        assert (one / file).read_bytes() == (two / file).read_bytes(), file


def test_documents_resize_the_same_with_two_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dsconv.samples.docs import write_docs

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_docs(tmp_path / "docs", documents=4, seed=3)
    outs = {}
    for workers in ("1", "2"):
        out = outs[workers] = tmp_path / f"w{workers}"
        result = run_cli("docvqa-to-vqa", tmp_path / "docs", out, "--max-image-size", "200",
                         "--workers", workers)
        assert result.exit_code == 0, (result.output, result.exception)
    rows = list(iter_rows(outs["2"]))
    assert rows and all(max(r["width"], r["height"]) == 200 for r in rows)
    assert validate_dataset(outs["2"], deep=True).ok
    assert read_report(outs["1"]) == read_report(outs["2"])
    for path in sorted((outs["1"] / "data").glob("*.parquet")):
        assert path.read_bytes() == (outs["2"] / "data" / path.name).read_bytes()


# --- memory: decoded pixels in flight are bounded, whatever the worker count --------------------


def encoded(size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(buffer, fmt)
    return buffer.getvalue()


def test_decode_cost_counts_the_reduced_jpeg_decode() -> None:
    from dsconv.pipeline.resize import BYTES_PER_PIXEL, decode_cost

    jpeg, png = encoded((64, 48), "JPEG"), encoded((64, 48), "PNG")
    # 4000x3000 to 768x576: libjpeg decodes at 1/4 (1000x750), a PNG decodes whole
    assert decode_cost(jpeg, 4000, 3000, (768, 576)) == 1000 * 750 * BYTES_PER_PIXEL
    assert decode_cost(png, 4000, 3000, (768, 576)) == 4000 * 3000 * BYTES_PER_PIXEL
    assert decode_cost(jpeg, 1000, 800, (768, 614)) == 1000 * 800 * BYTES_PER_PIXEL


def test_a_decompression_bomb_is_not_resized() -> None:
    import warnings

    from tests.image_bombs import png_bomb

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for bomb in (png_bomb(), png_bomb(10000, 10000)):
            problem = resize_image(bomb, 100, 100)
            assert isinstance(problem, str) and "pixels" in problem
            assert "DecompressionBomb" not in problem


class ThreadWorkers:
    """`Workers` stand-in running jobs on 4 threads, recording at each submit the decoding
    cost of the jobs submitted and not finished (what the real workers may hold at once)."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from dsconv.storage.parallel import Workers

        self.pool = ThreadPoolExecutor(4)
        self.window = 32
        self.in_order = Workers(4).in_order
        self.pending: list[tuple[object, int]] = []
        self.most = 0

    def submit(self, fn: Callable[..., Any], data: bytes, width: int, height: int) -> Future:
        from dsconv.pipeline.resize import decode_cost

        sample_size = Image.open(io.BytesIO(data)).size
        cost = decode_cost(data, *sample_size, (width, height))
        self.pending = [(f, c) for f, c in self.pending if not f.done()]
        self.most = max(self.most, cost + sum(c for _, c in self.pending))
        future = self.pool.submit(fn, data, width, height)
        self.pending.append((future, cost))
        return future


def test_decoding_in_flight_stays_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from dsconv.converters.base import DetectionSample, Ledger
    from dsconv.pipeline.resize import BYTES_PER_PIXEL, Resizer

    one = 1200 * 1200 * BYTES_PER_PIXEL
    monkeypatch.setattr("dsconv.pipeline.resize.RESIZE_MEMORY_BUDGET", 2 * one)
    data = encoded((1200, 1200), "PNG")
    samples = [DetectionSample("train", str(i), f"{i}.png", data, 1200, 1200, [])
               for i in range(10)]
    workers = ThreadWorkers()
    ledger = Ledger()
    ledger.split("train")
    resizer = Resizer(100, workers, ledger)  # type: ignore[arg-type]
    items = [((0, i), sample, f"digest{i}") for i, sample in enumerate(samples)]
    out = list(resizer.run(items))
    workers.pool.shutdown()
    assert [s.width for _, s, _ in out] == [100] * 10
    assert one < workers.most <= 2 * one
