"""`dsconv train`: fine-tune a VLM on a dsconv dataset (argument parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer

from dsconv.cli.app import app, console

SCHEDULE_HELP = "linear | cosine-warmup | constant  [default: the model's]"


@app.command()
def train(
    dataset: str | None = typer.Argument(
        None, help="A dataset directory written by dsconv, or a Hub dataset id. "
        "Optional with --resume."),
    model: str | None = typer.Option(None, "--model", "-m", help="florence2 | moondream2"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Run directory to create."),
    base: str | None = typer.Option(None, help="Checkpoint to start from  [default: the model's]"),
    revision: str | None = typer.Option(None, help="Revision of --base on the Hub."),
    epochs: int | None = typer.Option(None, help="[default: the model's]"),
    lr: float | None = typer.Option(None, help="Peak learning rate  [default: the model's]"),
    batch_size: int | None = typer.Option(None, help="Per process  [default: the model's]"),
    grad_accum: int | None = typer.Option(None, help="Gradient accumulation steps  [default: 1]"),
    schedule: str | None = typer.Option(None, help=SCHEDULE_HELP),
    warmup: float | None = typer.Option(None, help="Warm-up as a fraction of all steps."),
    freeze_vision: bool | None = typer.Option(
        None, "--freeze-vision/--no-freeze-vision", help="[default: the model's]"),
    lora: int | None = typer.Option(None, help="LoRA rank; 0 trains every weight  [default: 0]"),
    gradient_checkpointing: bool | None = typer.Option(
        None, "--gradient-checkpointing/--no-gradient-checkpointing", help="[default: off]"),
    max_train_items: int | None = typer.Option(None, help="Train on the first N rows only."),
    max_val_items: int | None = typer.Option(
        None, help="Validation rows scored each epoch; 0 skips validation  [default: 200]"),
    seed: int | None = typer.Option(None, help="[default: 0]"),
    workers: int | None = typer.Option(None, help="DataLoader worker processes  [default: 2]"),
    device: str | None = typer.Option(None, help="auto | cpu | cuda  [default: auto]"),
    train_split: str | None = typer.Option(None, help="[default: train]"),
    val_split: str | None = typer.Option(None, help="[default: validation, else test]"),
    log_every: int | None = typer.Option(None, help="Log every N optimizer steps  [default: 10]"),
    save_every: int | None = typer.Option(
        None, help="Also checkpoint every N optimizer steps; 0: only after each epoch."),
    max_new_tokens: int | None = typer.Option(None, help="Generation length  [default: 128]"),
    resume: Path | None = typer.Option(
        None, help="Continue the run in this directory from its last checkpoint."),
    push_to_hub: str | None = typer.Option(
        None, help="Upload RUN_DIR/final to this Hub model repo."),
) -> None:
    """Fine-tune a model on a VQA dataset; writes RUN_DIR/final, best, checkpoints, metrics.jsonl."""
    from dsconv.train.config import TrainConfig
    from dsconv.train.loop import train as run_training

    config = TrainConfig(
        dataset=dataset, model=model, output=str(output) if output else None, base=base,
        revision=revision, epochs=epochs, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
        schedule=schedule, warmup=warmup, freeze_vision=freeze_vision, lora=lora,
        gradient_checkpointing=gradient_checkpointing, max_train_items=max_train_items,
        max_val_items=max_val_items, seed=seed, workers=workers, device=device,
        train_split=train_split, val_split=val_split, log_every=log_every, save_every=save_every,
        max_new_tokens=max_new_tokens, push_to_hub=push_to_hub,
    )
    result = run_training(config, resume=resume)
    from accelerate import PartialState

    if PartialState().is_main_process:
        console.print(f"[green]trained[/] {result.final_dir}", highlight=False)
        if result.best_dir:
            console.print(f"best checkpoint: {result.best_dir}", highlight=False)
