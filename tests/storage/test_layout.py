"""The hand-written layout must say exactly what `datasets` would."""

from __future__ import annotations

from datasets import Features, Image, List, Value

from dsconv.storage.layout import ARROW_SCHEMA, FEATURES_YAML

ROW_CONTRACT = Features({
    "id": Value("string"),
    "image": Image(),
    "image_id": Value("string"),
    "width": Value("int32"),
    "height": Value("int32"),
    "objects": {
        "bbox": List(List(Value("float32"), length=4)),
        "category": List(Value("string")),
    },
    "task": Value("string"),
    "question": Value("string"),
    "answer": Value("string"),
    "answers": List(Value("string")),
})


def test_arrow_schema_and_metadata_equal_datasets() -> None:
    expected = ROW_CONTRACT.arrow_schema
    assert ARROW_SCHEMA.equals(expected, check_metadata=True)
    assert Features.from_arrow_schema(ARROW_SCHEMA) == ROW_CONTRACT


def test_card_features_equal_datasets_yaml() -> None:
    assert ROW_CONTRACT._to_yaml_list() == FEATURES_YAML
