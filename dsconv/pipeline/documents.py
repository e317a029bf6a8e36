"""`dsconv.convert_documents`: document questions (image, question, reference answers) from
the Hub or local files → a VQA dataset, through the same pipeline as detections."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dsconv.pipeline.convert import ConvertOptions, convert_dataset
from dsconv.progress import Progress, no_progress
from dsconv.schemas.report import ConversionReport
from dsconv.storage.files import MAX_IMAGE_BYTES
from dsconv.tasks.docvqa import DEFAULT_PREFIX


def convert_documents(
    source: str | Path, out: str | Path, *, prefix: str = DEFAULT_PREFIX,
    image_col: str = "image", question_col: str = "question", answers_col: str = "answers",
    id_col: str | None = None, doc_id_col: str | None = None, splits: Sequence[str] = (),
    limit: int | None = None, allow_outside_root: bool = False, overwrite: bool = False,
    allow_empty: bool = False, max_image_bytes: int = MAX_IMAGE_BYTES,
    max_image_size: int | None = None, workers: int | None = None,
    progress: Progress | None = None, command: str = "",
) -> ConversionReport:
    """Convert a DocVQA-style table — a Hub id such as `HuggingFaceM4/DocumentVQA` (streamed),
    or a local Parquet / JSON Lines / CSV file or folder (read offline, image paths kept
    inside its folder unless `allow_outside_root`) — into rows whose question is `prefix` +
    the question (no space) and whose answers are the references.

    Example:
        >>> import dsconv
        >>> report = dsconv.convert_documents("data/docs", "out/docs-vqa")
        >>> report.splits["train"].rows
        24
    """
    from dsconv.converters.docvqa import Columns, DocReaderOptions, DocumentLedger, DocVQAReader
    from dsconv.schemas.samples import Vocabulary
    from dsconv.storage.parallel import resolve_workers
    from dsconv.tasks.base import TaskContext, get_task
    from dsconv.tasks.docvqa import document_rows

    options = DocReaderOptions(
        columns=Columns(image=image_col, question=question_col, answers=answers_col,
                        id=id_col, doc_id=doc_id_col),
        splits=tuple(splits), limit=limit, allow_outside_root=allow_outside_root,
        max_image_bytes=max_image_bytes,
    )
    ledger = DocumentLedger()
    reader = DocVQAReader(str(source), ledger, options)
    context = TaskContext(Vocabulary([]), options={"prefix": prefix})
    token = f"the task token `{prefix}` (no space after it)" if prefix else "no task token"
    convert_options = ConvertOptions(
        out=Path(out), tasks=[get_task("docvqa")], context=context, overwrite=overwrite,
        source=str(source),
        command=command or f"dsconv.convert_documents({str(source)!r}, {str(out)!r})",
        notes=(f"Questions start with {token}. `answer` is the first reference answer, the "
               "training target; `answers` keeps every reference for scoring (ANLS, "
               "Levenshtein similarity). Documents have no objects.",),
        max_image_size=max_image_size,
        workers=resolve_workers(workers) if max_image_size else 1, allow_empty=allow_empty,
        inputs=(Path(source),) if Path(source).exists() else (),  # else a Hub id
    )
    return convert_dataset(reader, ledger, convert_options,
                           lambda sample: document_rows(sample, context),
                           progress or no_progress)
