"""`dsconv preview`: a self-contained page with one figure a row, and what a browser shows."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from dsconv.inspect.preview import annotated_thumbnail
from dsconv.samples.coins import CoinsSummary
from dsconv.storage.dataset import iter_rows
from tests.helpers import run_cli

CHROMIUM = Path("/usr/bin/chromium")
FIGURE_RE = re.compile(r"<figure\b.*?</figure>", re.DOTALL)


def _figures(page: str) -> list[str]:
    return FIGURE_RE.findall(page)


def test_one_figure_per_row_with_its_question_and_answer(
    two_task_sample: tuple[CoinsSummary, Path], tmp_path: Path,
) -> None:
    _, folder = two_task_sample
    out, png = tmp_path / "preview.html", tmp_path / "sheet.png"
    result = run_cli("preview", folder, "--split", "train", "--max-items", "5", "--out", out,
                     "--png", png)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    rows = list(iter_rows(folder, "train"))[:5]
    figures = _figures(page)
    assert len(figures) == 5
    for figure, row in zip(figures, rows, strict=True):
        assert f'data-id="{html.escape(row["id"])}"' in figure
        assert html.escape(row["question"]) in figure
        assert html.escape(row["answer"]) in figure
        (data,) = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', figure)
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "JPEG" and max(image.size) <= 384
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    with Image.open(png) as sheet:
        assert sheet.format == "PNG" and sheet.width > 5 * 100


def test_failures_show_expected_and_predicted(
    two_task_sample: tuple[CoinsSummary, Path], tmp_path: Path,
) -> None:
    _, folder = two_task_sample
    rows = list(iter_rows(folder, "test"))
    failures = tmp_path / "failures.jsonl"
    lines = [{"id": rows[0]["id"], "expected": rows[0]["answer"], "predicted": "<b>7 dimes</b>"},
             {"id": "test/nope/count-json/0", "expected": "1", "predicted": "2"},
             {"id": rows[-1]["id"], "expected": rows[-1]["answer"], "predicted": {"dime": 3}}]
    failures.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "failures.html"
    result = run_cli("preview", folder, "--failures-file", failures, "--out", out)
    assert result.exit_code == 0, result.output
    assert "test/nope/count-json/0" in result.output  # said to be missing
    figures = _figures(out.read_text(encoding="utf-8"))
    assert len(figures) == 2
    assert "&lt;b&gt;7 dimes&lt;/b&gt;" in figures[0] and "<b>7 dimes" not in figures[0]
    assert html.escape(rows[0]["answer"]) in figures[0]
    assert html.escape('{"dime": 3}') in figures[1]
    assert all('class=failure' in f for f in figures)


def test_bad_failures_line_is_located(two_task_sample: tuple[CoinsSummary, Path],
                                      tmp_path: Path) -> None:
    _, folder = two_task_sample
    failures = tmp_path / "failures.jsonl"
    failures.write_text('{"id": "a", "expected": "1", "predicted": "2"}\nnot json\n')
    result = run_cli("preview", folder, "--failures-file", failures, "--out", tmp_path / "x.html")
    assert f"{failures}:line 2:" in str(result.exception)


def test_boxes_are_drawn_where_the_objects_are(two_task_sample: tuple[CoinsSummary, Path]) -> None:
    _, folder = two_task_sample
    row = next(r for r in iter_rows(folder, "train") if r["objects"]["bbox"])
    plain = annotated_thumbnail({**row, "objects": {"bbox": [], "category": []}}, [])
    drawn = annotated_thumbnail(row, [])
    assert plain.size == drawn.size
    x, y, _, h = row["objects"]["bbox"][0]
    scale = plain.width / row["width"]
    edge = (round(x * scale), round((y + h / 2) * scale))  # the left edge of the first box
    assert plain.getpixel(edge) != drawn.getpixel(edge)


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_page_renders_in_headless_chromium(
    two_task_sample: tuple[CoinsSummary, Path], tmp_path: Path,
) -> None:
    _, folder = two_task_sample
    page = tmp_path / "preview.html"
    assert run_cli("preview", folder, "--max-items", "6", "--out", page).exit_code == 0
    shot = tmp_path / "shot.png"
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    try:
        subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,900", page.resolve().as_uri()],
            check=True, capture_output=True, timeout=60,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        rgb = image.convert("RGB")
        assert max(ImageStat.Stat(rgb).var) > 500  # not blank: thumbnails and text show
        colours = rgb.resize((300, 225)).getcolors(maxcolors=300 * 225)
        assert colours is not None and len(colours) > 1000
