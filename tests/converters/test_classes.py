from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsconv.converters.base import DetectionSample, Ledger, Vocabulary
from dsconv.converters.classes import REASON, ClassFilter, ClassMap
from dsconv.errors import DsconvError, InputError
from dsconv.storage.dataset import iter_rows, read_report
from dsconv.validation import validate_dataset
from tests.helpers import run_cli
from tests.tasks.detection_samples import COINS, boxes, make_sample

SPLIT_FOLDERS = {"train": "train", "validation": "valid", "test": "test"}


@pytest.mark.parametrize(("spec", "mapping"), [
    ("dime,penny", {"dime": "dime", "penny": "penny"}),
    ("dime=10c, penny = 1c", {"dime": "10c", "penny": "1c"}),
    ("quarter,dime=coin,penny=coin", {"quarter": "quarter", "dime": "coin", "penny": "coin"}),
])
def test_inline_forms(spec: str, mapping: dict[str, str]) -> None:
    assert ClassMap.parse(spec).mapping == mapping


@pytest.mark.parametrize(("spec", "message"), [
    ("dime,,penny", "is not name or old=new"),
    ("dime=", "is not name or old=new"),
    ("dime,dime=10c", "given twice"),
])
def test_inline_errors(spec: str, message: str) -> None:
    with pytest.raises(DsconvError, match=message):
        ClassMap.parse(spec)


def test_yaml_mapping_and_list(tmp_path: Path) -> None:
    mapping = tmp_path / "classes.yaml"
    mapping.write_text("dime: 10c\npenny:\none: 1\n")
    assert ClassMap.parse(str(mapping)).mapping == {"dime": "10c", "penny": "penny", "one": "1"}
    listing = tmp_path / "keep.yml"
    listing.write_text("- twenty\n- dime\n")
    assert ClassMap.parse(str(listing)).mapping == {"twenty": "twenty", "dime": "dime"}


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dime: [10c\n")
    with pytest.raises(InputError, match=r"bad\.yaml:\d+:\d+: invalid YAML"):
        ClassMap.parse(str(bad))
    with pytest.raises(InputError, match="no such file"):
        ClassMap.parse(str(tmp_path / "missing.yaml"))
    bad.write_text("just text\n")
    with pytest.raises(InputError, match="expected a mapping"):
        ClassMap.parse(str(bad))


def test_vocabulary_is_the_kept_classes_in_the_given_order() -> None:
    source = Vocabulary(COINS, "currency")
    assert ClassMap.parse("twenty,dime=coin,penny=coin").vocabulary(source) == Vocabulary(
        ["twenty", "coin"], "currency")
    with pytest.raises(DsconvError, match="'dimes' not in the source's classes"):
        ClassMap.parse("dimes").vocabulary(source)


class ListReader:
    name = "list"
    description = "samples from a list"
    has_splits = True

    def __init__(self, samples: list[DetectionSample], ledger: Ledger) -> None:
        self._samples = samples
        for sample in samples:
            ledger.seen_objects(sample.split, len(sample.objects))

    def vocabulary(self) -> Vocabulary:
        return Vocabulary(COINS, "currency")

    def splits(self) -> list[str]:
        return ["train"]

    def count(self, split: str) -> int:
        return len(self._samples)

    def samples(self, split: str) -> Iterator[DetectionSample]:
        yield from self._samples


def test_filter_renames_drops_and_accounts() -> None:
    ledger = Ledger()
    reader = ListReader([make_sample(*boxes("dime", "nickel", "penny", "dime")),
                         make_sample(*boxes("nickel"), image_id="2")], ledger)
    wrapped = ClassFilter(reader, ledger, ClassMap.parse("penny=1c,dime=10c"))
    assert wrapped.vocabulary().classes == ["1c", "10c"]
    assert wrapped.has_splits is True
    samples = list(wrapped.samples("train"))
    assert [o.category for o in samples[0].objects] == ["10c", "1c", "10c"]
    assert samples[1].objects == []
    for sample in samples:
        ledger.kept(sample, 1)
    (report,) = ledger.split_reports(wrapped.vocabulary().classes).values()
    assert report.objects_dropped == {REASON: 2}
    assert report.objects_kept + 2 == report.objects_total == 5
    assert [d.detail for d in ledger.drops] == ["class 'nickel'", "class 'nickel'"]


def source_objects(coins_dir: Path) -> dict[str, Counter[str]]:
    out = {}
    for split, folder in SPLIT_FOLDERS.items():
        data = json.loads((coins_dir / folder / "_annotations.coco.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        out[split] = Counter(names[a["category_id"]] for a in data["annotations"])
    return out


def test_cli_classes_keep_rename_and_account_for_every_object(
    coins_dir: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "kept"
    result = run_cli("coco-to-vqa", coins_dir, out, "--classes", "dime=10c,penny=1c",
                     "-t", "count-json", "-t", "list-objects", "-t", "florence-od")
    assert result.exit_code == 0, result.output
    report = read_report(out)
    assert report["classes"] == ["10c", "1c"]
    for split, counts in source_objects(coins_dir).items():
        s = report["splits"][split]
        dropped = sum(counts.values()) - counts["dime"] - counts["penny"]
        assert s["objects_total"] == sum(counts.values())
        assert s["objects_kept"] + sum(s["objects_dropped"].values()) == s["objects_total"]
        assert s["objects_dropped"] == ({REASON: dropped} if dropped else {})
        assert s["per_class"] == {k: v for k, v in
                                  (("10c", counts["dime"]), ("1c", counts["penny"])) if v}
    assert sum(d["reason"] == REASON for d in report["drops"]) == sum(
        sum(c.values()) - c["dime"] - c["penny"] for c in source_objects(coins_dir).values())
    answers = Counter()
    for row in iter_rows(out, columns=["objects", "task", "answer"]):
        assert set(row["objects"]["category"]) <= {"10c", "1c"}
        answers[(row["task"], row["answer"])] += not row["objects"]["category"]
    assert answers[("list-objects", "none")] == answers[("florence-od", "")] > 0
    assert validate_dataset(out).ok
