from __future__ import annotations

import pytest

from dsconv.errors import DsconvError
from dsconv.tasks import count_json, list_objects
from dsconv.tasks.base import get_task
from dsconv.tasks.per_class import placeholders
from tests.tasks.detection_samples import boxes, context, make_sample, qa_pairs

SAMPLES = [make_sample(*boxes("dime", "penny"), image_id=str(i)) for i in range(40)]
TASKS = ["count-json", "count-class", "presence", "list-objects"]


def questions(task: str, seed: int, paraphrases: int) -> list[str]:
    ctx = context(seed=seed, paraphrases=paraphrases)
    return [q for sample in SAMPLES for q, _ in qa_pairs(task, sample, ctx)]


@pytest.mark.parametrize("task", TASKS)
def test_one_phrasing_is_the_default_prompt(task: str) -> None:
    vocabulary = context().vocabulary
    defaults = {get_task(task).prompts[0].format(**placeholders(c, vocabulary.classes, "currency"))
                for c in vocabulary.classes}
    assert set(questions(task, 0, 1)) | set(questions(task, 1, 1)) <= defaults


@pytest.mark.parametrize("task", TASKS)
def test_paraphrases_are_deterministic_for_a_seed_and_vary_across_seeds(task: str) -> None:
    first = questions(task, 0, 3)
    assert first == questions(task, 0, 3)
    assert first != questions(task, 1, 3)
    assert first != questions(task, 0, 1)


def test_draws_stay_among_the_first_n_phrasings() -> None:
    allowed = {t.format(noun="currency", classes="") for t in list_objects.PROMPTS[:2]}
    assert set(questions("list-objects", 0, 2)) == allowed


def test_count_json_default_prompt_is_unchanged() -> None:
    assert count_json.PROMPTS[0] == count_json.PROMPT
    assert questions("count-json", 0, 1)[0].startswith("How many of each type of the currency")


def test_prompt_overrides_paraphrases_and_bad_placeholders_are_named() -> None:
    ctx = context(prompt="Count the {noun}.", paraphrases=5)
    assert qa_pairs("list-objects", SAMPLES[0], ctx)[0][0] == "Count the currency."
    with pytest.raises(DsconvError, match=r"unknown placeholder \{colour\}"):
        qa_pairs("count-class", SAMPLES[0], context(prompt="How many {colour} coins?"))
