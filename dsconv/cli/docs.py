"""`dsconv docvqa-to-vqa`: DocVQA-style document questions → VQA Parquet datasets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from dsconv.cli.app import CONVERT, app, progress
from dsconv.cli.convert import print_footer, summary_table
from dsconv.cli.scale import MaxImageSize, Scale, WorkersOpt
from dsconv.schemas.report import ConversionReport
from dsconv.tasks.docvqa import DEFAULT_PREFIX

if TYPE_CHECKING:
    from dsconv.converters.docvqa import DocReaderOptions


@app.command("docvqa-to-vqa", rich_help_panel=CONVERT)
def docvqa_to_vqa(
    src: Annotated[str, typer.Argument(
        help="A Hub dataset id (e.g. HuggingFaceM4/DocumentVQA), or a local Parquet, JSON Lines "
             "or CSV file, or a folder of them.")],
    out: Annotated[Path, typer.Argument(help="The output folder for the VQA dataset.")],
    prefix: Annotated[str, typer.Option(
        help="Task token put before every question, without a space: '<DocVQA>' (Florence-2), "
             "'<VQA>', or '' for none.")] = DEFAULT_PREFIX,
    image_col: Annotated[str, typer.Option(
        help="Column with the image: an Image struct, bytes, or a path relative to the file's "
             "folder.")] = "image",
    question_col: Annotated[str, typer.Option(help="Column with the question.")] = "question",
    answers_col: Annotated[str, typer.Option(
        help="Column with the reference answers: a list or one string (in CSV also a JSON "
             "list).")] = "answers",
    id_col: Annotated[str | None, typer.Option(
        help="Column with an integer question id, the row id's last part (default: "
             "questionId when present, else the question's index for its image).")] = None,
    doc_id_col: Annotated[str | None, typer.Option(
        help="Column with the document id, the row's image_id (default: docId when present, "
             "else a hash of the image bytes).")] = None,
    split: Annotated[list[str] | None, typer.Option(
        "--split", help="Convert only this split (val and validation are the same); repeat "
                        "for several.")] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Read at most this many questions per split (a quick look at a large "
                    "Hub dataset).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
    max_image_size: MaxImageSize = None, workers: WorkersOpt = None,
) -> None:
    """Convert document questions (image, question, reference answers) to a VQA dataset.

    Reads the Hub in streaming mode, so a large split never sits in memory; image bytes are
    copied untouched unless --max-image-size shrinks them. Rows whose question is empty, whose
    answers are missing or whose image does not decode are left out and listed in
    conversion_report.json. (No --num-shards here: a part must skip the others' images, which
    needs a source indexed up front, as the detection commands' are; a stream is not.)

    Example: [bold]dsconv docvqa-to-vqa HuggingFaceM4/DocumentVQA out/docvqa --split validation[/]
    """
    from dsconv.converters.docvqa import Columns, DocReaderOptions

    options = DocReaderOptions(
        columns=Columns(image=image_col, question=question_col, answers=answers_col,
                        id=id_col, doc_id=doc_id_col),
        splits=tuple(split or ()), limit=limit,
    )
    report = run_documents(src, out, options, prefix=prefix, overwrite=overwrite,
                           scale=Scale.parse(workers, max_image_size))
    print_document_summary(report, out)


def run_documents(
    src: str, out: Path, options: DocReaderOptions, *, prefix: str, overwrite: bool,
    scale: Scale | None = None,
) -> ConversionReport:
    """Reader, the docvqa task and the shared pipeline, wired as `run_conversion` does it."""
    from dsconv.convert import ConvertOptions, convert_dataset
    from dsconv.converters.base import Vocabulary
    from dsconv.converters.docvqa import DocumentLedger, DocVQAReader
    from dsconv.tasks.base import TaskContext, get_task
    from dsconv.tasks.docvqa import document_rows

    scale = scale or Scale()
    ledger = DocumentLedger()
    reader = DocVQAReader(src, ledger, options)
    context = TaskContext(Vocabulary([]), options={"prefix": prefix})
    token = f"the task token `{prefix}` (no space after it)" if prefix else "no task token"
    convert_options = ConvertOptions(
        out=out, tasks=[get_task("docvqa")], context=context, overwrite=overwrite, source=src,
        command=shlex.join(["dsconv", *sys.argv[1:]]),
        notes=(f"Questions start with {token}. `answer` is the first reference answer, the "
               "training target; `answers` keeps every reference for scoring (ANLS, "
               "Levenshtein similarity). Documents have no objects.",),
        max_image_size=scale.max_image_size, workers=scale.workers,
        inputs=(Path(src),) if Path(src).exists() else (),  # else a Hub id
    )
    return convert_dataset(reader, ledger, convert_options,
                           lambda sample: document_rows(sample, context), progress)


def print_document_summary(report: ConversionReport, out: Path) -> None:
    table = summary_table(report, out, ("split", "images", "questions", "rows", "dropped"))
    for name, split in report.splits.items():
        dropped = ", ".join(f"{k}: {v}" for k, v in (split.questions_dropped or {}).items())
        table.add_row(escape(name), str(split.images), str(split.questions or 0),
                      str(split.rows), escape(dropped or "-"))
    print_footer(report, out, table)
