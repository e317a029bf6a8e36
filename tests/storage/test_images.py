"""Image sizes and pixels from untrusted bytes: decompression bombs are refused, never raised."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from PIL import Image

from dsconv.storage.files import FileTooLargeError, NotRegularFileError
from dsconv.storage.images import (
    ImageTooLargeError,
    check_image,
    decode_image,
    image_problem,
    image_size,
    max_image_pixels,
)
from tests.image_bombs import jpeg_bomb, png_bomb

BOMBS = {
    "png-error": png_bomb(60000, 60000),  # over twice Pillow's limit: Pillow raises
    "png-warning": png_bomb(10000, 10000),  # between once and twice: Pillow only warns
    "jpeg": jpeg_bomb(60000, 60000),  # read from the markers, Pillow never sees it
    "jpeg-warning": jpeg_bomb(10000, 10000),
}


def test_the_bound_is_pillows_default() -> None:
    assert max_image_pixels() == 89_478_485
    assert max_image_pixels() <= (Image.MAX_IMAGE_PIXELS or max_image_pixels())


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_sizes_are_refused_from_the_header(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        with pytest.raises(ImageTooLargeError, match="pixels"):
            image_size(BOMBS[name])


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_fail_check_and_decode_without_a_bomb_exception(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        problem = check_image(BOMBS[name], 60000, 60000, deep=True)
        assert problem is not None and "pixel" in problem
        assert "DecompressionBomb" not in problem
        with pytest.raises(ImageTooLargeError):
            decode_image(BOMBS[name])


def test_an_image_at_the_bound_is_not_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "PNG")
    assert image_size(buffer.getvalue()) == (64, 48)


@pytest.mark.parametrize(("error", "reason"), [
    (FileNotFoundError("x"), "missing_image"), (ImageTooLargeError("x"), "image_too_large"),
    (FileTooLargeError("x"), "image_too_large"), (NotRegularFileError("x"), "unreadable_image"),
    (ValueError("x"), "unreadable_image"), (PermissionError("x"), "unreadable_image")])
def test_image_problem_names_the_drop_reason(error: Exception, reason: str) -> None:
    assert image_problem(error) == reason


@pytest.mark.parametrize("name", ["png-error", "png-warning", "jpeg"])
def test_validate_and_preview_report_a_bomb_row_quietly(
    coins_vqa: Path, tmp_path: Path, name: str
) -> None:
    """A dataset made elsewhere may hold a bomb: `validate` names the row, `preview` draws a
    placeholder, and neither raises nor prints Pillow's bomb error or warning."""
    from dsconv.inspect.preview import annotated_thumbnail
    from dsconv.validation import validate_dataset
    from tests.test_validation import tamper

    broken = tamper(coins_vqa, tmp_path / "d",
                    lambda row: row["image"].update(bytes=BOMBS[name]), row=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for deep in (False, True):
            result = validate_dataset(broken, deep=deep)
            (problem,) = result.problems
            assert problem.row == 1 and "pixels" in problem.reason
            assert "DecompressionBomb" not in problem.reason
        thumbnail = annotated_thumbnail({"image": {"bytes": BOMBS[name]}}, [])
    assert thumbnail.size[0] > 0
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
