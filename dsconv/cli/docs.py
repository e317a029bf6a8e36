"""`dsconv docvqa-to-vqa`: DocVQA-style document questions → VQA Parquet datasets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dsconv.cli.app import CONVERT, app, progress
from dsconv.cli.convert import AllowEmpty, AllowOutside, print_footer, summary_table
from dsconv.cli.scale import MaxImageBytes, MaxImageSize, WorkersOpt
from dsconv.schemas.report import ConversionReport
from dsconv.storage.files import MAX_IMAGE_BYTES
from dsconv.tasks.docvqa import DEFAULT_PREFIX


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
        "--max-items", min=1, help="Read at most this many questions per split (a quick look "
        "at a large Hub dataset).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace OUT if it exists.")] = False,
    allow_outside_root: AllowOutside = False,
    max_image_size: MaxImageSize = None, workers: WorkersOpt = None,
    allow_empty: AllowEmpty = False,
    max_image_bytes: MaxImageBytes = MAX_IMAGE_BYTES,
) -> None:
    """Convert document questions (image, question, reference answers) to a VQA dataset.

    Reads the Hub in streaming mode, so a large split never sits in memory; local files are
    streamed too, without touching the network. Image bytes are copied untouched unless
    --max-image-size shrinks them. Image paths in a local table must stay inside SRC's folder
    (the file's folder when SRC is a file): others are dropped as unsafe_path unless
    --allow-outside-root. Rows whose question is empty, whose
    answers are missing or whose image does not decode are left out and listed in
    conversion_report.json. (No --num-shards here: a part must skip the others' images, which
    needs a source indexed up front, as the detection commands' are; a stream is not.)

    Example: [bold]dsconv docvqa-to-vqa HuggingFaceM4/DocumentVQA out/docvqa --split validation[/]
    """
    from dsconv.pipeline.documents import convert_documents

    report = convert_documents(
        src, out, prefix=prefix, image_col=image_col, question_col=question_col,
        answers_col=answers_col, id_col=id_col, doc_id_col=doc_id_col, splits=split or (),
        limit=limit, allow_outside_root=allow_outside_root, overwrite=overwrite,
        max_image_size=max_image_size, workers=workers, progress=progress,
        command=shlex.join(["dsconv", *sys.argv[1:]]), allow_empty=allow_empty,
        max_image_bytes=max_image_bytes,
    )
    print_document_summary(report, out)


def print_document_summary(report: ConversionReport, out: Path) -> None:
    table = summary_table(report, out, ("split", "images", "questions", "rows", "dropped"))
    for name, split in report.splits.items():
        dropped = ", ".join(f"{k}: {v}" for k, v in (split.questions_dropped or {}).items())
        table.add_row(escape(name), str(split.images), str(split.questions or 0),
                      str(split.rows), escape(dropped or "-"))
    print_footer(report, out, table)
