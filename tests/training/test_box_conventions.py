"""Box answers per model family: which syntaxes each family learns, and the coordinates it
learns them in. Qwen2.5-VL reads pixels of the image its processor resized, so its training
targets are rendered in them and its answers are rewritten on the stored 0–1000 grid before
they are written and scored; every other family learns the rows as stored."""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from PIL import Image

from dsconv.errors import DsconvError
from dsconv.eval.predict import score_predictions, write_predictions
from dsconv.models.base import AnswerFormat
from dsconv.models.chat import IGNORE_INDEX, ChatAdapter
from dsconv.models.florence2 import Florence2Adapter
from dsconv.models.moondream2 import Moondream2Adapter
from dsconv.models.paligemma import PaliGemmaAdapter
from dsconv.tasks.base import JSON_BOXES, PALIGEMMA_LOCATIONS, TEXT, BoxConvention
from dsconv.tasks.json_boxes import render_json_boxes
from dsconv.testing.tiny_chat import FAMILIES
from dsconv.training.data import RowDataset, load_split
from dsconv.training.evaluate import generation_metrics
from tests.helpers import run_cli
from tests.training.test_grounding_overfit import write_grounding

SIZE = (96, 72)  # the tiny Qwen2.5-VL's processor makes it 140 x 112 (see test_json_boxes)


def _load(family: str, tiny_chat) -> ChatAdapter:
    cls = PaliGemmaAdapter if family == "paligemma" else ChatAdapter
    return cls.from_pretrained(str(tiny_chat(family)))


@pytest.fixture(scope="module")
def boxes_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 json-boxes rows of 96 x 72 scenes in `train` and in `test`."""
    return write_grounding(tmp_path_factory.mktemp("data") / "boxes", repeats=1,
                           task="json-boxes", size=SIZE)


def test_families_declare_the_box_syntaxes_they_learn() -> None:
    assert ChatAdapter.answer_syntaxes == {TEXT, JSON_BOXES}
    assert PaliGemmaAdapter.answer_syntaxes == {TEXT, PALIGEMMA_LOCATIONS}
    for cls, task in [(ChatAdapter, "json-boxes"), (ChatAdapter, "json-points"),
                      (ChatAdapter, "count-json"), (PaliGemmaAdapter, "paligemma-detect"),
                      (PaliGemmaAdapter, "count-json")]:
        assert cls.unsupported_reason(task) is None, (cls.family, task)
    for cls, task in [(ChatAdapter, "paligemma-detect"), (ChatAdapter, "florence-grounding"),
                      (ChatAdapter, "florence-od"), (PaliGemmaAdapter, "json-boxes"),
                      (PaliGemmaAdapter, "json-points"), (PaliGemmaAdapter, "florence-ovd"),
                      (Moondream2Adapter, "paligemma-detect"), (Florence2Adapter, "json-boxes")]:
        reason = cls.unsupported_reason(task)
        assert reason is not None and "\n" not in reason, (cls.family, task)
        assert f"model family {cls.family!r} cannot learn task {task!r}" in reason


@pytest.mark.parametrize(("family", "task"), [("paligemma", "json-boxes"),
                                              ("qwen2_5_vl", "paligemma-detect"),
                                              ("qwen3_vl", "florence-grounding")])
def test_a_chat_family_asked_for_a_syntax_it_lacks_stops_before_loading(
    family: str, task: str, tiny_chat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_grounding(tmp_path / "data", repeats=1, task=task)
    base = tiny_chat(family)

    def never(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded")

    monkeypatch.setattr(ChatAdapter, "from_pretrained", never)
    monkeypatch.setattr(PaliGemmaAdapter, "from_pretrained", never)
    result = run_cli("train", data, "--base", base, "--out", tmp_path / "run", "--device", "cpu")
    assert isinstance(result.exception, DsconvError), result.output
    message = str(result.exception)
    assert f"cannot learn task {task!r}" in message and "\n" not in message
    assert not (tmp_path / "run").exists()


def test_tiny_paligemma_has_the_1024_location_tokens_of_the_real_one(tiny_chat) -> None:
    adapter = _load("paligemma", tiny_chat)
    tokenizer = adapter.processor.tokenizer
    locations = sorted(t for t in tokenizer.get_vocab() if re.fullmatch(r"<loc\d{4}>", t))
    assert locations == [f"<loc{i:04d}>" for i in range(1024)]
    answer = ("<loc0000><loc0512><loc1023><loc0007> dime ; "
              "<loc0001><loc0002><loc0003><loc0004> penny")
    ids = tokenizer(answer, add_special_tokens=False).input_ids
    assert ids[:4] == tokenizer.convert_tokens_to_ids(
        ["<loc0000>", "<loc0512>", "<loc1023>", "<loc0007>"])  # one token each
    # Generated answers keep them (they are not special tokens that decoding drops).
    assert adapter.decode(torch.tensor([[*ids, tokenizer.eos_token_id]])) == [answer]


@pytest.mark.parametrize("size", [(96, 96), SIZE, (640, 480), (300, 50)])
def test_qwen2_5_vl_boxes_are_pixels_of_the_image_its_processor_makes(
    size: tuple[int, int], tiny_chat
) -> None:
    adapter = _load("qwen2_5_vl", tiny_chat)
    image_processor = adapter.processor.image_processor
    for options in ({}, {"min_pixels": 784, "max_pixels": 3136}):
        adapter.set_image_options(options)
        grid = image_processor(images=[Image.new("RGB", size)])["image_grid_thw"][0].tolist()
        made = (grid[2] * image_processor.patch_size, grid[1] * image_processor.patch_size)
        row = {"task": "json-boxes", "width": size[0], "height": size[1]}
        convention = adapter.answer_format().convention(row)
        assert convention == BoxConvention("resized-pixels", made)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "qwen2_5_vl"])
def test_every_other_family_learns_the_stored_grid(family: str, tiny_chat,
                                                   boxes_data: Path) -> None:
    adapter = _load(family, tiny_chat)
    assert adapter.answer_format() == AnswerFormat()
    row = dict(load_split(str(boxes_data), "train")[0])
    assert adapter.answer_format().target(row) == row["answer"]
    assert adapter.answer_format().restore("[{\"bbox_2d\": [1, 2, 3, 4]}]", row) == (
        "[{\"bbox_2d\": [1, 2, 3, 4]}]")


def test_qwen2_5_vl_learns_its_own_coordinates_and_nothing_else_changes(
    tiny_chat, boxes_data: Path, tmp_path: Path
) -> None:
    adapter = _load("qwen2_5_vl", tiny_chat)
    target = pickle.loads(pickle.dumps(adapter.answer_format().target))  # as workers get it
    rows = load_split(str(boxes_data), "train")
    row = RowDataset(rows, target)[0]
    pixels = render_json_boxes(row["objects"], *SIZE, "resized-pixels", resized=(140, 112))
    assert row["answer"] == pixels != rows[0]["answer"]
    # The collator learns exactly that answer and the end of turn.
    batch = adapter.collator()([row])
    learnt = batch["input_ids"][0][batch["labels"][0] != IGNORE_INDEX]
    assert adapter.processor.tokenizer.decode(learnt) == pixels + "<|im_end|>"
    # Other tasks keep their answers, with or without an image size.
    count = {"task": "count-json", "answer": '{"dime": 1}'}
    assert adapter.answer_format().target(count) == count["answer"]
    # A box row that cannot be rendered is an error, not a silent answer on the wrong grid.
    with pytest.raises(DsconvError, match="needs the row's width and height"):
        adapter.answer_format().target({**rows[0], "width": None})


def _perfect(adapter: ChatAdapter, rows: list[dict]) -> Iterator[str]:
    """What a model that learnt `rows` perfectly answers, in its own coordinates, in order."""
    return iter([adapter.answer_format().target(row) for row in rows])


def test_validation_compares_answers_with_what_the_model_learnt(
    tiny_chat, boxes_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = _load("qwen2_5_vl", tiny_chat)
    rows = load_split(str(boxes_data), "test")
    answers = _perfect(adapter, list(rows))
    monkeypatch.setattr(adapter, "generate",
                        lambda images, questions, **_: [next(answers) for _ in images])
    metrics = generation_metrics(Accelerator(cpu=True), adapter, rows, batch_size=3, workers=0,
                                 max_new_tokens=8, seed=0)
    assert metrics["exact_match"] == 1.0


def test_eval_writes_answers_on_the_stored_grid(tiny_chat, boxes_data: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = _load("qwen2_5_vl", tiny_chat)
    rows = list(load_split(str(boxes_data), "test"))
    answers = _perfect(adapter, rows)
    monkeypatch.setattr(adapter, "generate",
                        lambda images, questions, **_: [next(answers) for _ in images])
    out = tmp_path / "predictions.jsonl"
    assert write_predictions(adapter, boxes_data, "test", out, batch_size=3) == 8
    predictions = [json.loads(line)["prediction"] for line in out.open()]
    for prediction, row in zip(predictions, rows, strict=True):
        stated = [(item["label"], item["bbox_2d"]) for item in json.loads(prediction)]
        stored = [(item["label"], item["bbox_2d"]) for item in json.loads(row["answer"])]
        assert [label for label, _ in stated] == [label for label, _ in stored]
        # Pixels of a 140 x 112 input are coarser than the grid: within one pixel's worth.
        assert all(abs(p - q) <= 1000 / 112 for (_, a), (_, b) in zip(stated, stored, strict=True)
                   for p, q in zip(a, b, strict=True))
    metrics = score_predictions(out, boxes_data, "test").metrics
    assert metrics["parse_rate"] == 1.0 and metrics["map50"] == 1.0
