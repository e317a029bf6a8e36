"""VOC reader: devkit and flat layouts, difficult and part handling, hostile and broken XML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger, ReaderOptions
from dsconv.converters.voc import VocOptions, VocReader
from dsconv.errors import NoAnnotationsError
from dsconv.schemas.report import SplitReport
from tests.helpers import convert_coins, read_all, write_image

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>bomb.jpg</filename><object><name>&lol9;</name></object></annotation>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><filename>ext.jpg</filename><object><name>&secret;</name></object></annotation>
"""


def image(path: Path, size: tuple[int, int] = (100, 80)) -> Path:
    return write_image(path, size, color=(200, 180, 40))


def obj(name: str, box: tuple[float, float, float, float], extra: str = "") -> str:
    xmin, ymin, xmax, ymax = box
    return (f"<object><name>{name}</name>{extra}<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")


def xml(path: Path, filename: str, *objects: str, size: tuple[int, int] | None = (100, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    size_xml = (f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
                if size else "")
    path.write_text(f"<annotation><filename>{filename}</filename>{size_xml}"
                    f"{''.join(objects)}</annotation>\n", encoding="utf-8")
    return path


def devkit(root: Path, stem: str, *objects: str, size: tuple[int, int] | None = (100, 80)) -> None:
    image(root / "JPEGImages" / f"{stem}.jpg")
    xml(root / "Annotations" / f"{stem}.xml", f"{stem}.jpg", *objects, size=size)


def read(
    src: Path, options: ReaderOptions | None = None
) -> tuple[VocReader, Ledger, dict[str, list[DetectionSample]], dict[str, SplitReport]]:
    return read_all(VocReader, src, options)


def test_coins_sample_converts_and_validates(tmp_path: Path) -> None:
    _, report = convert_coins(tmp_path, "voc")
    assert report["classes"] == sorted(report["classes"])


def test_one_based_corners_become_coco_boxes(tmp_path: Path) -> None:
    devkit(tmp_path, "a", obj("cat", (11, 21, 40, 60)))
    _, _, samples, _ = read(tmp_path)
    assert samples["train"][0].objects[0].bbox == (10, 20, 30, 40)


def test_difficult_excluded_by_default_and_kept_on_request(tmp_path: Path) -> None:
    devkit(tmp_path, "a", obj("cat", (1, 1, 10, 10)),
           obj("dog", (20, 20, 30, 30), "<difficult>1</difficult>"))
    _, ledger, samples, reports = read(tmp_path)
    assert [o.category for o in samples["train"][0].objects] == ["cat"]
    assert reports["train"].objects_dropped == {"difficult": 1}
    assert ledger.drops[0].file == "Annotations/a.xml"
    assert ledger.drops[0].annotation == "object 2 (dog)"

    _, _, samples, reports = read(tmp_path, VocOptions(keep_difficult=True))
    assert [o.category for o in samples["train"][0].objects] == ["cat", "dog"]
    assert reports["train"].objects_dropped == {}


def test_parts_are_not_objects(tmp_path: Path) -> None:
    person = obj("person", (10, 10, 50, 70),
                 "<part><name>head</name><bndbox><xmin>20</xmin><ymin>10</ymin>"
                 "<xmax>30</xmax><ymax>20</ymax></bndbox></part>")
    devkit(tmp_path, "a", person)
    reader, _, samples, reports = read(tmp_path)
    assert [o.category for o in samples["train"][0].objects] == ["person"]
    assert reader.vocabulary().classes == ["person"]
    assert reports["train"].objects_total == 1


def test_missing_size_float_coords_and_any_child_order(tmp_path: Path) -> None:
    shuffled = ("<object><name>cat</name><bndbox><ymax>40.5</ymax><xmin>10.5</xmin>"
                "<ymin>20.5</ymin><xmax>30.5</xmax></bndbox></object>")
    devkit(tmp_path, "a", shuffled, size=None)
    _, _, samples, _ = read(tmp_path)
    (sample,) = samples["train"]
    assert (sample.width, sample.height) == (100, 80)
    assert sample.objects[0].bbox == pytest.approx((9.5, 19.5, 21, 21))


def test_size_disagreeing_with_the_image_warns(tmp_path: Path) -> None:
    devkit(tmp_path, "a", obj("cat", (1, 1, 10, 10)), size=(640, 480))
    _, ledger, samples, _ = read(tmp_path)
    assert (samples["train"][0].width, samples["train"][0].height) == (100, 80)
    assert any("640x480" in w for w in ledger.warnings)


def test_broken_xml_drops_only_its_image(tmp_path: Path) -> None:
    devkit(tmp_path, "good", obj("cat", (1, 1, 10, 10)))
    image(tmp_path / "JPEGImages" / "bad.jpg")
    (tmp_path / "Annotations" / "bad.xml").write_text(
        "<annotation>\n  <object><name>cat</object>\n</annotation>\n")
    _, ledger, samples, reports = read(tmp_path)
    assert [s.image_id for s in samples["train"]] == ["good"]
    assert reports["train"].images_dropped == {"bad_annotation": 1}
    (drop,) = ledger.drops
    assert drop.file == "Annotations/bad.xml"
    assert drop.detail is not None and drop.detail.startswith("2:")
    assert "mismatched tag" in drop.detail


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["bomb", "external"])
def test_hostile_xml_is_refused_fast(tmp_path: Path, content: str) -> None:
    devkit(tmp_path, "good", obj("cat", (1, 1, 10, 10)))
    image(tmp_path / "JPEGImages" / "evil.jpg")
    (tmp_path / "Annotations" / "evil.xml").write_text(content)
    start = time.perf_counter()
    reader, ledger, samples, reports = read(tmp_path)
    assert time.perf_counter() - start < 0.5
    assert [s.image_id for s in samples["train"]] == ["good"]
    assert reports["train"].images_dropped == {"bad_annotation": 1}
    assert "refused" in (ledger.drops[0].detail or "")
    assert reader.vocabulary().classes == ["cat"]


@pytest.mark.parametrize("content", [
    "<?xml version='1.0'?>\n<!-- exported -->\n<?tool x?>\n<!DOCTYPE annotation>\n"
    "<annotation><filename>evil.jpg</filename></annotation>",
    '<!DOCTYPE annotation SYSTEM "http://example.com/voc.dtd"><annotation/>',
    '<!DOCTYPE annotation [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><annotation/>',
], ids=["after-prolog", "external-dtd", "parameter-entity"])
def test_any_doctype_is_refused(tmp_path: Path, content: str) -> None:
    """Only the prolog is read with DOCTYPEs refused; the tree comes from the C parser, which
    has no such guard, so no DOCTYPE of any kind may get past the prolog check."""
    devkit(tmp_path, "good", obj("cat", (1, 1, 10, 10)))
    image(tmp_path / "JPEGImages" / "evil.jpg")
    (tmp_path / "Annotations" / "evil.xml").write_text(content)
    _, ledger, samples, reports = read(tmp_path)
    assert [s.image_id for s in samples["train"]] == ["good"]
    assert reports["train"].images_dropped == {"bad_annotation": 1}
    assert (ledger.drops[0].detail or "").startswith("refused: <!DOCTYPE annotation>")


def test_encodings_are_the_declared_ones(tmp_path: Path) -> None:
    body = ("<annotation><filename>{stem}.jpg</filename>"
            f"{obj('café', (1, 1, 10, 10))}</annotation>")
    for stem, encoding in (("utf16", "utf-16"), ("latin", "iso-8859-1")):
        image(tmp_path / "JPEGImages" / f"{stem}.jpg")
        (tmp_path / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "Annotations" / f"{stem}.xml").write_bytes(
            (f"<?xml version='1.0' encoding='{encoding}'?>" + body.format(stem=stem))
            .encode(encoding))
    image(tmp_path / "JPEGImages" / "evil.jpg")
    (tmp_path / "Annotations" / "evil.xml").write_bytes(
        "<?xml version='1.0' encoding='utf-16'?><!DOCTYPE a [<!ENTITY e 'x'>]><annotation/>"
        .encode("utf-16"))
    reader, ledger, samples, _ = read(tmp_path)
    assert reader.vocabulary().classes == ["café"]
    assert sorted(s.image_id for s in samples["train"]) == ["latin", "utf16"]
    assert (ledger.drops[0].detail or "").startswith("refused: <!DOCTYPE a>")


def test_large_files_are_streamed_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above `STREAM_ABOVE` a file is parsed as a stream; DOCTYPEs and broken XML are reported
    there as they are for a file read whole."""
    devkit(tmp_path, "good", obj("cat", (11, 21, 40, 60)),
           obj("dog", (1, 1, 5, 5), "<difficult>1</difficult>"))
    image(tmp_path / "JPEGImages" / "evil.jpg")
    (tmp_path / "Annotations" / "evil.xml").write_text(BILLION_LAUGHS)
    image(tmp_path / "JPEGImages" / "bad.jpg")
    (tmp_path / "Annotations" / "bad.xml").write_text(
        "<annotation>\n  <object><name>cat</object>\n</annotation>\n")
    whole = read(tmp_path)
    monkeypatch.setattr("dsconv.converters.voc_xml.STREAM_ABOVE", 0)
    start = time.perf_counter()
    streamed = read(tmp_path)
    assert time.perf_counter() - start < 0.5
    _, ledger, samples, reports = streamed
    assert [s.objects for s in samples["train"]] == [s.objects for s in whole[2]["train"]]
    assert reports == whole[3]
    assert [d.detail for d in ledger.drops] == [d.detail for d in whole[1].drops]
    assert {d.file: (d.detail or "")[:9] for d in ledger.drops if d.annotation is None} == {
        "Annotations/bad.xml": "2:21: mis", "Annotations/evil.xml": "refused: "}


def test_image_sets_define_splits(tmp_path: Path) -> None:
    for stem in ("a", "b", "c"):
        devkit(tmp_path, stem, obj("cat", (1, 1, 10, 10)))
    image(tmp_path / "JPEGImages" / "noxml.jpg")
    xml(tmp_path / "Annotations" / "noimage.xml", "noimage.jpg", obj("dog", (1, 1, 5, 5)))
    sets = tmp_path / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("# training images\na\n\nnoxml\nnoimage\n")
    (sets / "val.txt").write_text("b\n")
    (sets / "cat_train.txt").write_text("a  1\nnoxml -1\n")
    reader, ledger, samples, reports = read(tmp_path)

    assert reader.splits() == ["train", "validation"]
    assert [(s.image_id, len(s.objects)) for s in samples["train"]] == [("a", 1)]
    assert [s.image_id for s in samples["validation"]] == ["b"]
    # noxml.jpg has no XML: not an image without objects, an image without its annotation
    assert reports["train"].images_dropped == {"missing_image": 1, "missing_annotation": 1}
    assert reports["train"].objects_dropped == {"missing_image": 1}
    assert any("1 XML files are in no ImageSets" in w for w in ledger.warnings)


def test_without_image_sets_everything_is_train(tmp_path: Path) -> None:
    devkit(tmp_path, "a", obj("cat", (1, 1, 10, 10)))
    image(tmp_path / "JPEGImages" / "b.jpg")
    xml(tmp_path / "Annotations" / "c.xml", "c.jpg", obj("cat", (1, 1, 10, 10)))
    reader, ledger, samples, reports = read(tmp_path)
    assert reader.splits() == ["train"]
    assert sorted(s.image_id for s in samples["train"]) == ["a"]
    assert reports["train"].images_dropped == {"missing_image": 1, "missing_annotation": 1}
    assert [d.file for d in ledger.drops if d.annotation is None] == ["Annotations/c.xml", "b.jpg"]


def test_flat_split_folders_and_nested_devkit(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    image(flat / "train" / "a.jpg")
    xml(flat / "train" / "a.xml", "a.jpg", obj("cat", (1, 1, 10, 10)))
    image(flat / "valid" / "b.jpg")
    xml(flat / "valid" / "b.xml", "b.jpg", obj("dog", (1, 1, 10, 10)))
    reader, _, samples, _ = read(flat)
    assert reader.splits() == ["train", "validation"]
    assert samples["validation"][0].file_name == "b.jpg"

    nested = tmp_path / "VOCdevkit" / "VOC2012"
    devkit(nested, "a", obj("cat", (1, 1, 10, 10)))
    _, _, samples, _ = read(tmp_path / "VOCdevkit")
    assert samples["train"][0].file_name == "a.jpg"


def test_classes_option_orders_and_filters(tmp_path: Path) -> None:
    devkit(tmp_path, "a", obj("zebra", (1, 1, 10, 10)), obj("ant", (1, 1, 10, 10)),
           obj("cow", (1, 1, 10, 10)))
    reader, _, samples, reports = read(tmp_path, ReaderOptions(classes=("zebra", "ant")))
    assert reader.vocabulary().classes == ["zebra", "ant"]
    assert [o.category for o in samples["train"][0].objects] == ["zebra", "ant"]
    assert reports["train"].objects_dropped == {"unknown_class": 1}

    reader, _, _, _ = read(tmp_path)
    assert reader.vocabulary().classes == ["ant", "cow", "zebra"]


def test_bad_boxes_are_reported(tmp_path: Path) -> None:
    devkit(tmp_path, "a",
           "<object><name>cat</name></object>",
           "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>x</xmax>"
           "<ymax>5</ymax></bndbox></object>",
           "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin></bndbox></object>",
           obj("cat", (300, 300, 310, 310)),
           obj("cat", (0, 0, 200, 10)))
    _, _, samples, reports = read(tmp_path)
    assert samples["train"][0].objects[0].bbox == (0, 0, 100, 10)
    assert reports["train"].objects_dropped == {"box_outside_image": 1, "invalid_box": 2,
                                                "no_bbox": 1}
    assert reports["train"].objects_clipped == 1


def test_no_annotations_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoAnnotationsError, match="no VOC annotations"):
        VocReader(tmp_path / "empty", Ledger())
