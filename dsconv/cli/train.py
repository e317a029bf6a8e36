"""`dsconv train`: fine-tune a VLM on a dsconv dataset (argument parsing only).

Every hyper-parameter defaults to "not given" so the model family's reference settings fill
it in, and a `--resume` can tell an override from a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsconv.cli.app import MODEL, app, console
from dsconv.training import train_extra

MODEL_DEFAULT = "(default: the model's)"


def _opt(help_text: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help_text)


@app.command("train", rich_help_panel=MODEL)
def train_command(
    dataset: Annotated[str | None, typer.Argument(
        help="A dataset directory written by dsconv, or a Hub dataset id (optional with --resume)."
    )] = None,
    model: Annotated[str | None, _opt(
        "florence2 | moondream2 | paligemma | chat. (default: read from --base's config)",
        "--model", "-m")] = None,
    output: Annotated[Path | None, _opt("The run directory to create.", "--out", "-o")] = None,
    base: Annotated[str | None, _opt(
        "Checkpoint to start from: a Hub id (owner/name) or a local model folder (./DIR), "
        f"e.g. one from `dsconv sample model`. {MODEL_DEFAULT}")] = None,
    revision: Annotated[str | None, _opt(
        "Revision of a Hub --base (branch, tag or commit); moondream2: 2024-08-26 (default) "
        "or 2024-04-02.")] = None,
    epochs: Annotated[int | None, _opt(MODEL_DEFAULT)] = None,
    lr: Annotated[float | None, _opt(f"Peak learning rate. {MODEL_DEFAULT}")] = None,
    batch_size: Annotated[int | None, _opt(f"Per process. {MODEL_DEFAULT}")] = None,
    grad_accum: Annotated[int | None, _opt(f"Gradient accumulation steps. {MODEL_DEFAULT}")]
    = None,
    schedule: Annotated[str | None, _opt(f"linear | cosine-warmup | constant. {MODEL_DEFAULT}")]
    = None,
    warmup: Annotated[float | None, _opt(f"Warm-up, a fraction of all steps. {MODEL_DEFAULT}")]
    = None,
    freeze_vision: Annotated[bool | None, _opt(
        MODEL_DEFAULT, "--freeze-vision/--no-freeze-vision")] = None,
    lora: Annotated[int | None, _opt(f"LoRA rank; 0 trains every weight. {MODEL_DEFAULT}")]
    = None,
    lora_alpha: Annotated[int | None, _opt(
        "LoRA alpha. (default: the model's for its rank, else twice the rank)")] = None,
    gradient_checkpointing: Annotated[bool | None, _opt(
        "(default: off)", "--gradient-checkpointing/--no-gradient-checkpointing")] = None,
    max_train_items: Annotated[int | None, _opt("Train on the first N rows only.")] = None,
    max_val_items: Annotated[int | None, _opt(
        "Validation rows scored each epoch; 0 skips validation. (default: 200)")] = None,
    seed: Annotated[int | None, _opt("(default: 0)")] = None,
    workers: Annotated[int | None, _opt("DataLoader worker processes. (default: 2)")] = None,
    device: Annotated[str | None, _opt("auto | cpu | cuda. (default: auto)")] = None,
    train_split: Annotated[str | None, _opt("(default: train)")] = None,
    val_split: Annotated[str | None, _opt("(default: validation, else test)")] = None,
    log_every: Annotated[int | None, _opt("Log every N optimizer steps. (default: 10)")] = None,
    save_every: Annotated[int | None, _opt(
        "Also checkpoint every N optimizer steps. (default: 0, after each epoch only)")] = None,
    max_new_tokens: Annotated[int | None, _opt("Answer length when scoring. (default: 128)")]
    = None,
    min_pixels: Annotated[int | None, _opt(
        f"Qwen-VL: fewest pixels an image is resized to. {MODEL_DEFAULT}")] = None,
    max_pixels: Annotated[int | None, _opt(
        f"Qwen-VL: most pixels an image is resized to. {MODEL_DEFAULT}")] = None,
    image_splitting: Annotated[bool | None, _opt(
        f"Idefics3/SmolVLM: split large images into tiles. {MODEL_DEFAULT}",
        "--image-splitting/--no-image-splitting")] = None,
    longest_edge: Annotated[int | None, _opt(
        f"Idefics3/SmolVLM: resize the longest image edge to this. {MODEL_DEFAULT}")] = None,
    load_in_4bit: Annotated[bool | None, _opt(
        "QLoRA: load the weights in 4 bits (CUDA and bitsandbytes; needs --lora).",
        "--load-in-4bit/--no-load-in-4bit")] = None,
    resume: Annotated[Path | None, _opt(
        "Continue the run in this directory from its last checkpoint.")] = None,
    push_to_hub: Annotated[str | None, _opt("Upload RUN_DIR/final to this Hub model repo.")]
    = None,
) -> None:
    """Fine-tune a model on a VQA dataset: RUN_DIR/final and best, checkpoints, metrics.jsonl.

    Example: [bold]dsconv train out/coins-vqa --model moondream2 --out runs/coins[/]
    """
    with train_extra("train"):
        _train(dict(locals()))


def _train(args: dict) -> None:
    """The command's work, given its arguments by name (TrainConfig's fields and --resume)."""
    from accelerate import PartialState

    from dsconv.training.config import TrainConfig
    from dsconv.training.loop import train

    resume = args.pop("resume")
    output = args.pop("output")
    config = TrainConfig(**args, output=str(output) if output else None)
    result = train(config, resume=resume)
    if PartialState().is_main_process:
        console.print(f"[green]trained[/] {result.final_dir}", highlight=False)
        if result.best_dir:
            console.print(f"best by validation: {result.best_dir}", highlight=False)
        if result.hub_url:
            console.print(f"pushed to {result.hub_url}", highlight=False)
