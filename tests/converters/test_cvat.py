"""CVAT for images 1.1: boxes, polygons and polylines as boxes; the XML parsed safely."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dsconv.converters.base import Ledger, ReaderOptions
from dsconv.converters.cvat import CvatReader, detect, rotated_box
from dsconv.errors import InputError, NoAnnotationsError
from dsconv.samples.coins import write_coins
from tests.helpers import convert_coins, read_all, write_image, write_text

META = """<meta><task><labels>
  <label><name>zebra</name><type>rectangle</type></label>
  <label><name>coin</name><type>any</type></label>
  <label><name>body</name><type>skeleton</type></label>
  <label><name>knee</name><type>points</type><parent>body</parent></label>
</labels></task></meta>"""


def cvat(root: Path, images: str, meta: str = META) -> Path:
    return write_text(root / "annotations.xml",
                      f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
                      f"<version>1.1</version>\n{meta}\n{images}\n</annotations>\n")


def test_coins_sample_converts_with_every_object(tmp_path: Path) -> None:
    convert_coins(tmp_path, "cvat")


def test_shapes_become_boxes_and_the_rest_is_reported(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg", (40, 30))
    cvat(tmp_path, """<image id="0" name="a.jpg" width="40" height="30">
      <box label="coin" occluded="1" xtl="1.5" ytl="2" xbr="11.5" ybr="12" z_order="0"/>
      <polygon label="coin" points="5,5;15,2;12,25" occluded="0"/>
      <polyline label="zebra" points="1,1;3,4" occluded="0"/>
      <polygon label="coin" points="5,5;15,2" occluded="0"/>
      <points label="coin" points="5,5" occluded="0"/>
      <box label="coin" xtl="x" ytl="2" xbr="11" ybr="12"/>
      <box label="" xtl="1" ytl="2" xbr="11" ybr="12"/>
      <tag label="daylight"/>
    </image>""")
    reader, ledger, samples, reports = read_all(CvatReader, tmp_path)
    (sample,) = samples["train"]
    assert [(o.category, o.bbox) for o in sample.objects] == [
        ("coin", (1.5, 2, 10, 10)), ("coin", (5, 2, 10, 23)), ("zebra", (1, 1, 2, 3))]
    assert reports["train"].objects_total == 7  # the tag is not an object
    assert reports["train"].objects_dropped == {
        "invalid_box": 1, "no_name": 1, "shape_points": 1, "too_few_points": 1}
    assert reader.vocabulary().classes == ["zebra", "coin", "body"]  # meta order, no knee
    assert any("1 <tag>s" in w for w in ledger.warnings)
    assert any("1 objects are marked occluded" in w for w in ledger.warnings)
    assert all(d.file == "annotations.xml" and d.annotation for d in ledger.drops)


def test_rotated_box_is_the_box_around_it() -> None:
    assert rotated_box((0, 0, 4, 2), 90) == pytest.approx((1, -1, 2, 4))
    assert rotated_box((10, 10, 4, 4), 45) == pytest.approx(
        (12 - 8 ** 0.5, 12 - 8 ** 0.5, 2 * 8 ** 0.5, 2 * 8 ** 0.5))


def test_subsets_are_splits_and_images_are_found_by_subset(tmp_path: Path) -> None:
    write_coins(tmp_path, images=6, seed=2, fmt="cvat")
    reader, ledger, samples, _ = read_all(CvatReader, tmp_path)
    assert set(reader.splits()) == {"train", "validation", "test"}
    assert sum(len(s) for s in samples.values()) == 6 and not ledger.drops
    write_image(tmp_path / "flat" / "images" / "b.jpg")
    cvat(tmp_path / "flat", '<image id="1" name="b.jpg" subset="Test" width="100" height="50"/>')
    reader, ledger, samples, _ = read_all(CvatReader, tmp_path / "flat")
    assert [s.file_name for s in samples["test"]] == ["b.jpg"] and not ledger.drops


def test_image_names_leaving_the_folder_are_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "secret.jpg")
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "images" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    box = '<box label="coin" xtl="1" ytl="1" xbr="5" ybr="5"/>'
    cvat(root, f'<image id="0" name="../secret.jpg">{box}</image>'
               f'<image id="1" name="{tmp_path / "secret.jpg"}">{box}</image>'
               f'<image id="2" name="link.jpg">{box}</image>'
               f'<image id="3" name="gone.jpg">{box}</image>')
    _, _, samples, reports = read_all(CvatReader, root)
    assert samples["train"] == []
    assert reports["train"].images_dropped == {"missing_image": 1, "unsafe_path": 3}
    assert reports["train"].objects_dropped == {"missing_image": 1, "unsafe_path": 3}


def test_an_entity_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lols = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    write_text(tmp_path / "annotations.xml",
               f'<?xml version="1.0"?>\n<!DOCTYPE annotations [<!ENTITY l0 "lol">{lols}]>\n'
               '<annotations><image id="0" name="a.jpg"><box label="&l9;" xtl="1" ytl="1" '
               'xbr="2" ybr="2"/></image></annotations>')
    start = time.monotonic()
    with pytest.raises(InputError, match="DOCTYPE"):
        CvatReader(tmp_path, Ledger())
    assert time.monotonic() - start < 1


def test_external_entity_is_refused(tmp_path: Path) -> None:
    write_text(tmp_path / "secret.txt", "password")
    write_text(tmp_path / "annotations.xml",
               f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{tmp_path}/secret.txt">]>'
               '<annotations><image id="0" name="a.jpg"><box label="&x;" xtl="1" ytl="1" '
               'xbr="2" ybr="2"/></image></annotations>')
    with pytest.raises(InputError, match="DOCTYPE"):
        CvatReader(tmp_path, Ledger())


def test_broken_xml_names_file_and_line(tmp_path: Path) -> None:
    cvat(tmp_path, '<image id="0" name="a.jpg">\n<box label="coin" xtl="1"\n</image>')
    with pytest.raises(InputError) as caught:
        CvatReader(tmp_path, Ledger())
    assert caught.value.file.endswith("annotations.xml")
    assert caught.value.where is not None and caught.value.where.split(":")[0].isdigit()


def test_video_export_and_other_roots_are_refused(tmp_path: Path) -> None:
    cvat(tmp_path, '<track id="0" label="coin"><box frame="0" xtl="1" ytl="1" xbr="2" '
                   'ybr="2"/></track>')
    with pytest.raises(InputError, match="CVAT for video"):
        CvatReader(tmp_path, Ledger())
    write_text(tmp_path / "annotations.xml", "<annotation><object/></annotation>")
    with pytest.raises(InputError, match="not <annotations>"):
        CvatReader(tmp_path, Ledger())


def test_fifo_annotation_file_is_not_a_hang(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "annotations.xml")
    with pytest.raises(InputError, match="FIFO"):
        CvatReader(tmp_path, Ledger())


def test_folder_without_annotations_xml_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg")
    with pytest.raises(NoAnnotationsError, match="cvat"):
        CvatReader(tmp_path, Ledger())


def test_classes_option_orders_the_vocabulary(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.jpg", (40, 30))
    cvat(tmp_path, '<image id="0" name="a.jpg"><box label="coin" xtl="1" ytl="1" xbr="5" '
                   'ybr="5"/><box label="zebra" xtl="1" ytl="1" xbr="5" ybr="5"/></image>')
    reader, _, _, reports = read_all(CvatReader, tmp_path, ReaderOptions(classes=("coin",)))
    assert reader.vocabulary().classes == ["coin"]
    assert reports["train"].objects_dropped == {"unknown_class": 1}


def test_detect(tmp_path: Path) -> None:
    write_coins(tmp_path / "cvat", images=3, seed=1, fmt="cvat")
    found = detect(tmp_path / "cvat")
    assert found is not None and found[0] >= 0.9 and "annotations.xml" in found[1]
    write_coins(tmp_path / "voc", images=3, seed=1, fmt="voc")
    assert detect(tmp_path / "voc") is None


def test_annotation_file_linked_from_outside_is_refused(tmp_path: Path) -> None:
    cvat(tmp_path / "elsewhere", '<image id="0" name="a.jpg"/>')
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "annotations.xml").symlink_to(tmp_path / "elsewhere" / "annotations.xml")
    with pytest.raises(InputError, match="outside"):
        CvatReader(tmp_path / "ds", Ledger())
