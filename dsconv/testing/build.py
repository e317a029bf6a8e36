"""`dsconv sample model`: one tiny checkpoint of a model family, its tokenizer fitted to a dataset.

The builders live in this package (not in `dsconv.train`) because they make stand-ins, never
something worth training for real: a tiny model has random weights and a vocabulary of a few
hundred tokens. What they prove is that the real loading, training and scoring code runs.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from dsconv.errors import DsconvError
from dsconv.storage.dataset import iter_rows

FAMILIES = ("florence2", "moondream2")
# Moondream2 revisions whose remote-code layout a tiny checkpoint can copy.
MOONDREAM_SHAPES = ("2024-08-26", "2024-04-02")
# Enough text for the tokenizer to learn a dataset's question and answer words.
TEXT_ROWS = 2000


def dataset_texts(dataset: str | Path, limit: int = TEXT_ROWS) -> list[str]:
    """Questions and answers of the first `limit` rows (all splits), for the tokenizer."""
    texts: list[str] = []
    for row in islice(iter_rows(dataset, columns=["question", "answer"]), limit):
        texts += [str(row["question"]), str(row["answer"])]
    return texts


def build_tiny_model(
    family: str,
    out_dir: str | Path,
    texts: list[str] | None = None,
    *,
    revision: str | None = None,
    seed: int = 0,
) -> Path:
    """Write a tiny `family` checkpoint into `out_dir`; `revision` picks a Moondream2 layout."""
    texts = texts or []
    if family not in FAMILIES:
        raise DsconvError(f"unknown model family {family!r} (choose from {', '.join(FAMILIES)})")
    if family == "florence2":
        if revision is not None:
            raise DsconvError("--revision applies to moondream2 only")
        from dsconv.testing.tiny import build_tiny_florence2

        return build_tiny_florence2(out_dir, texts, seed=seed)
    revision = revision or MOONDREAM_SHAPES[0]
    if revision not in MOONDREAM_SHAPES:
        raise DsconvError(f"no tiny moondream2 shaped like revision {revision!r} (choose from "
                          f"{', '.join(MOONDREAM_SHAPES)})")
    if revision == "2024-04-02":
        from dsconv.testing.tiny_moondream_0402 import build_tiny_moondream_0402

        return build_tiny_moondream_0402(out_dir, _moondream_texts(texts), seed=seed)
    from dsconv.testing.tiny_moondream import build_tiny_moondream

    return build_tiny_moondream(out_dir, _moondream_texts(texts), seed=seed)


def _moondream_texts(texts: list[str]) -> list[str]:
    """Moondream sees questions inside its prompt and answers after a space."""
    from dsconv.models.moondream2 import question_text

    return [question_text(t) for t in texts] + [f" {t}" for t in texts]


def sample_model(family: str, out: str | Path, *, dataset: str | Path | None = None,
                 revision: str | None = None, seed: int = 0) -> Path:
    """A tiny random checkpoint of `family` in `out`, made offline in seconds, that loads
    through the same code as the real one; `dataset` (a dsconv dataset) gives its tokenizer
    the questions and answers it will see. It has learnt nothing: for demos and tests.

    Example:
        >>> import dsconv
        >>> dsconv.sample_model("florence2", "runs/tiny-florence2", dataset="out/coins-vqa")
        PosixPath('runs/tiny-florence2')
    """
    texts = dataset_texts(dataset) if dataset is not None else []
    return build_tiny_model(family, out, texts, revision=revision, seed=seed)
