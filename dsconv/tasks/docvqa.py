"""The `docvqa` task: a document question with its task token, answered by the first reference.

Florence-2's DocVQA recipe puts the task token straight before the question (`<DocVQA>What
is …`, no space), trains on the first reference answer and scores against all of them, so
the row keeps every reference in `answers`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from dsconv.errors import DsconvError
from dsconv.metrics.text import anls, levenshtein_similarity
from dsconv.schemas.samples import DocumentSample, Vocabulary
from dsconv.tasks.base import QA, TaskContext, TaskScore, mean, references, register
from dsconv.tasks.rows import row_id

TASK = "docvqa"
DEFAULT_PREFIX = "<DocVQA>"
_TASK_TOKEN = re.compile(r"^<[A-Za-z_][A-Za-z0-9_]*>")


def prefix_of(ctx: TaskContext) -> str:
    """The task token the run asked for (`--prefix`), `<DocVQA>` unless told otherwise."""
    return str(ctx.options.get("prefix", DEFAULT_PREFIX))


def check(row: dict[str, Any], vocabulary: Vocabulary | None) -> str | None:
    """A question beyond its task token, at least one non-empty reference, answer among them,
    and no objects (documents have none)."""
    if not _TASK_TOKEN.sub("", row["question"], count=1).strip():
        return "question is empty"
    answers = row["answers"]
    if not answers:
        return "no reference answers"
    if any(not a.strip() for a in answers):
        return "a reference answer is empty"
    if row["answer"] not in answers:
        return "answer is not among the reference answers"
    if row["objects"]["bbox"] or row["objects"]["category"]:
        return "a document row has objects"
    return None


def score(rows: list[dict[str, Any]], preds: list[str | None]) -> TaskScore:
    """ANLS (a row's score) and Levenshtein similarity against every reference."""
    refs = [references(row) for row in rows]
    anls_scores = [anls(p, r) for p, r in zip(preds, refs, strict=True)]
    similarity = [levenshtein_similarity(p, r) for p, r in zip(preds, refs, strict=True)]
    return TaskScore(
        {"anls": mean(anls_scores), "levenshtein_similarity": mean(similarity)}, anls_scores
    )


@register(TASK, "Document question with a task token (<DocVQA> by default); first reference "
          "as the answer, all references kept.", check, kind="document", score=score,
          validation_metric="anls")
def docvqa(sample: DocumentSample, ctx: TaskContext) -> Iterator[QA]:
    if not isinstance(sample, DocumentSample):
        raise DsconvError("the docvqa task needs document samples: use `dsconv docvqa-to-vqa`")
    yield QA(prefix_of(ctx) + sample.question, sample.answers[0], tuple(sample.answers))


def document_rows(sample: DocumentSample, ctx: TaskContext) -> Iterator[dict[str, Any]]:
    """The sample's rows in the row contract; the reader chose `question_id` (digits) so that
    row ids are unique and stable."""
    for qa in docvqa(sample, ctx):
        yield {
            "id": row_id(sample.split, sample.image_id, TASK, int(sample.question_id)),
            "image": {"bytes": sample.image_bytes, "path": sample.file_name},
            "image_id": sample.image_id,
            "width": sample.width,
            "height": sample.height,
            "objects": {"bbox": [], "category": []},
            "task": TASK,
            "question": qa.question,
            "answer": qa.answer,
            "answers": list(qa.answers),
        }
