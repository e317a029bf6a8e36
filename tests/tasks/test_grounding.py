"""What every box task shares: the round trip objects → answer → parser → boxes, the row check,
the scorer's numbers, and which model families may learn each task."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsconv.eval.score import score_rows
from dsconv.schemas.samples import Vocabulary
from dsconv.tasks.base import get_task
from dsconv.tasks.florence_od import florence_name
from dsconv.tasks.grounding import label_key, unique_names
from dsconv.tasks.paligemma_detect import paligemma_name
from tests.tasks.detection_samples import context, make_sample, rows

BOX_TASKS = ["florence-od", "florence-grounding", "florence-ovd", "paligemma-detect",
             "json-boxes"]
SAMPLE = make_sample(("penny", (10, 20, 100, 50)), ("us-dime", (540, 5, 100, 475)),
                     ("penny", (300, 300, 20, 20)))
CLASSES = ["penny", "us-dime", "nickel"]

# Names with spaces and punctuation; kept apart once each task has cleaned them, since a
# scorer without the report cannot tell two classes that clean to the same name.
NAMES = st.text(alphabet="ab Z-_.,;:()&/é<>", min_size=1, max_size=8).filter(
    lambda n: florence_name(n) != "")


def _distinct(names: list[str]) -> bool:
    return all(len({label_key(clean(n)) for n in names}) == len(names)
               for clean in (florence_name, paligemma_name, str))


@st.composite
def scenes(draw: st.DrawFn) -> tuple[list[str], int, int, list[tuple[str, tuple]]]:
    classes = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True).filter(_distinct))
    width, height = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
    objects = []
    for _ in range(draw(st.integers(0, 4))):
        fx, fy, fw, fh = (draw(st.floats(0, 1)) for _ in range(4))
        x, y = fx * width * 0.99, fy * height * 0.99
        w, h = max(fw * (width - x), 1e-3), max(fh * (height - y), 1e-3)
        objects.append((draw(st.sampled_from(classes)), (x, y, w, h)))
    return classes, width, height, objects


@pytest.mark.parametrize("task", BOX_TASKS)
@settings(max_examples=60, deadline=None)
@given(scene=scenes())
def test_round_trip_within_one_bin(task: str, scene: tuple) -> None:
    """objects → answer → parser gives the objects back, each corner within one bin (the
    coarsest grid here is Florence-2's 1000 bins), and the row check accepts the answer."""
    classes, width, height, objects = scene
    descriptor = get_task(task)
    sample = make_sample(*objects, width=width, height=height)
    made = rows(task, sample, context(classes, include_zero=True))
    assert made
    for row in made:
        assert descriptor.check(row, Vocabulary(classes)) is None
        parsed = descriptor.parse_boxes(row["answer"], row)
        reference = descriptor.reference_boxes(row)
        assert parsed is not None and len(parsed) == len(reference)
        free = list(reference)
        for label, box in parsed:
            hit = next(i for i, (name, ref) in enumerate(free)
                       if label_key(name) == label_key(label) and all(
                           abs(a - b) <= bin_ + 1e-9 for a, b, bin_ in
                           zip(box, ref, (width / 1000, height / 1000) * 2, strict=True)))
            free.pop(hit)


@pytest.mark.parametrize("task", BOX_TASKS)
def test_right_answers_score_one_and_a_missing_box_less(task: str) -> None:
    made = rows(task, SAMPLE, context(CLASSES, include_zero=True))
    perfect = score_rows(made, {r["id"]: r["answer"] for r in made}).metrics["per_task"][task]
    assert perfect["parse_rate"] == perfect["map50"] == perfect["count_accuracy"] == 1.0
    assert perfect["map50_95"] > 0.9 and perfect["count_mae"] == 0.0

    silent = score_rows(made, {r["id"]: "" for r in made}).metrics["per_task"][task]
    assert silent["map50"] == 0.0 and silent["count_accuracy"] < 1.0


def test_labels_match_whatever_their_case() -> None:
    (row,) = rows("json-boxes", SAMPLE, context(CLASSES))
    shouted = row["answer"].replace('"penny"', '"PENNY"').replace('"us-dime"', '"Us-Dime"')
    metrics = score_rows([row], {row["id"]: shouted}).metrics
    assert metrics["map50"] == 1.0 and metrics["count_accuracy"] == 1.0
    assert set(metrics["per_class"]) == {"penny", "us-dime"}


def test_a_false_box_in_other_case_counts_against_its_class() -> None:
    made = rows("json-boxes", SAMPLE, context(CLASSES))
    empty = rows("json-boxes", make_sample(image_id="2"), context(CLASSES))
    false = '[{"bbox_2d": [10, 10, 200, 200], "label": "PENNY"}]'
    preds = {made[0]["id"]: made[0]["answer"], empty[0]["id"]: false}
    metrics = score_rows(empty + made, preds).metrics  # the false box ranks first
    assert metrics["per_class"]["penny"]["ap50"] < 1.0
    assert metrics["count_accuracy"] == 0.5


def test_counts_come_from_the_boxes() -> None:
    (row,) = rows("paligemma-detect", SAMPLE, context(CLASSES))
    one_penny_less = row["answer"].rsplit(" ; ", 1)[0]
    metrics = score_rows([row], {row["id"]: one_penny_less}).metrics
    assert metrics["count_accuracy"] == 0.0
    assert metrics["count_mae"] == pytest.approx(0.5)  # penny off by one, us-dime right
    assert metrics["parse_rate"] == 1.0 and metrics["unparsed_items"] == 0.0


def test_unparsed_items_are_counted_and_the_rest_still_scores() -> None:
    (row,) = rows("paligemma-detect", SAMPLE, context(CLASSES))
    cut = row["answer"] + " ; <loc0001><loc0002>"
    metrics = score_rows([row], {row["id"]: cut}).metrics
    assert metrics["parse_rate"] == 0.0 and metrics["unparsed_items"] == 1.0
    assert metrics["map50"] == 1.0


def test_unique_names_number_collisions_case_blind() -> None:
    assert unique_names(["a b", "A  B", "", "c"], lambda n: " ".join(n.split())) == {
        "a b": "a b", "A  B": "A B 2", "": "class 2", "c": "c"}


def test_families_learn_only_their_own_box_syntax() -> None:
    from dsconv.models.florence2 import Florence2Adapter
    from dsconv.models.moondream2 import Moondream2Adapter

    assert Florence2Adapter.unsupported_reason("florence-grounding") is None
    assert Florence2Adapter.unsupported_reason("florence-ovd") is None
    assert "json-boxes" in (Florence2Adapter.unsupported_reason("json-boxes") or "")
    assert "paligemma-locations" in (Florence2Adapter.unsupported_reason("paligemma-detect")
                                     or "")
    assert "paligemma-locations" in (Moondream2Adapter.unsupported_reason("paligemma-detect")
                                     or "")
    assert "florence-locations" in (Moondream2Adapter.unsupported_reason("florence-grounding")
                                    or "")
