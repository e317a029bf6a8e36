import json

from hypothesis import given
from hypothesis import strategies as st

from dsconv.tasks.count_json import answer

counts = st.dictionaries(st.text(), st.integers(min_value=0, max_value=10**6), max_size=8)


@given(counts, st.booleans())
def test_answer_is_json_dumps_with_indent_2(values: dict[str, int], include_zero: bool) -> None:
    """The seed answer format is `json.dumps(counts, indent=2)`; the hand-built one must match
    it character for character, escapes and empty objects included."""
    kept = {k: v for k, v in values.items() if v or include_zero}
    assert answer(values, include_zero) == json.dumps(kept, indent=2)


def test_answer_keeps_class_order_and_leaves_out_zeros() -> None:
    assert answer({"penny": 0, "dime": 2, "nickel": 1}) == '{\n  "dime": 2,\n  "nickel": 1\n}'
    assert answer({"penny": 0}) == "{}"
