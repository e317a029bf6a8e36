"""The one training loop every model family shares, on accelerate.

CPU (fp32), one GPU (bf16 where supported) or several GPUs through `accelerate launch` (DDP):
the loop is the same. The adapter supplies inputs, loss and generation; everything else —
data, schedule, evaluation, checkpoints, export — lives here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed
from torch.utils.data import DataLoader

from dsconv.errors import DsconvError
from dsconv.train import data
from dsconv.train.adapters.base import ModelAdapter
from dsconv.train.card import write_card
from dsconv.train.checkpoint import (
    TrainState,
    export_model,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    using_model,
)
from dsconv.train.config import RUN_FILE, TrainConfig, merge_resume, resolve, save_run
from dsconv.train.hub import push_model
from dsconv.train.metrics import score
from dsconv.train.progress import TrainProgress
from dsconv.train.registry import get_adapter
from dsconv.train.runlog import MetricsLog
from dsconv.train.schedule import build_scheduler

FINAL = "final"
BEST = "best"


@dataclass
class TrainResult:
    run_dir: Path
    final_dir: Path
    best_dir: Path | None
    metrics: dict[str, Any]
    hub_url: str | None


def train(config: TrainConfig, resume: str | Path | None = None) -> TrainResult:
    """Train, evaluate every epoch, checkpoint, export `final` (and `best`), optionally push."""
    run_dir, config = _run_dir(config, resume)
    adapter_cls = get_adapter(config.model)
    cfg = resolve(config, adapter_cls)
    mixed_precision = _mixed_precision(cfg.device)
    checkpoint = latest_checkpoint(run_dir) if resume is not None else None
    if resume is not None and checkpoint is None:
        raise DsconvError(f"{run_dir}: no checkpoint to resume from")

    accelerator = Accelerator(
        cpu=cfg.device == "cpu",
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
    )
    set_seed(cfg.seed)
    with accelerator.main_process_first():
        train_rows, val_rows = _load_data(cfg, adapter_cls)
        adapter = _load_adapter(adapter_cls, cfg)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume is None:
            save_run(cfg, run_dir)
    accelerator.wait_for_everyone()

    frozen = _prepare_model(adapter, cfg)
    raw_optimizer = torch.optim.AdamW(
        [p for p in adapter.model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0
    )
    collate = adapter.collator()
    train_loader = data.make_loader(
        data.RowDataset(train_rows), collate, cfg.batch_size, cfg.workers, cfg.seed, shuffle=True
    )
    model, optimizer, train_loader = accelerator.prepare(adapter.model, raw_optimizer, train_loader)
    val_loader = None
    if val_rows is not None:
        val_loader = accelerator.prepare(data.make_loader(
            data.RowDataset(val_rows), collate, cfg.batch_size, cfg.workers, cfg.seed, shuffle=False
        ))
    adapter.model = model

    steps_per_epoch = math.ceil(len(train_loader) / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = build_scheduler(raw_optimizer, cfg.schedule, total_steps, cfg.warmup)
    state = TrainState()
    accelerator.register_for_checkpointing(scheduler, state)
    log = MetricsLog(run_dir, enabled=accelerator.is_main_process)
    if checkpoint is not None:
        load_checkpoint(accelerator, checkpoint)
        factor = scheduler.lr_lambdas[0]
        factor.total_steps, factor.warmup_steps = total_steps, round(cfg.warmup * total_steps)
        log.truncate_after(state.global_step)

    progress = TrainProgress(total_steps, state.global_step, enabled=accelerator.is_main_process)
    try:
        for epoch in range(state.epoch, cfg.epochs):
            _train_epoch(accelerator, adapter, model, optimizer, scheduler, train_loader, frozen,
                         cfg, state, epoch, steps_per_epoch, log, progress, run_dir)
            state.epoch, state.batch_in_epoch = epoch + 1, 0
            if val_loader is not None:
                _evaluate_epoch(accelerator, adapter, model, val_loader, val_rows, cfg, state,
                                log, progress, run_dir)
            save_checkpoint(accelerator, run_dir, state.global_step)
    finally:
        progress.close()

    final_dir = run_dir / FINAL
    if accelerator.is_main_process:
        export_model(adapter, accelerator.unwrap_model(model), final_dir)
        write_card(final_dir, cfg, state.last_eval, accelerator.num_processes)
    accelerator.wait_for_everyone()
    hub_url = None
    if cfg.push_to_hub and accelerator.is_main_process:
        hub_url = push_model(final_dir, cfg.push_to_hub)
        progress.print(f"pushed {final_dir} to {hub_url}")
    best_dir = run_dir / BEST
    return TrainResult(run_dir, final_dir, best_dir if best_dir.is_dir() else None,
                       dict(state.last_eval), hub_url)


def _run_dir(config: TrainConfig, resume: str | Path | None) -> tuple[Path, TrainConfig]:
    if resume is not None:
        run_dir = Path(resume)
        if config.output and Path(config.output).resolve() != run_dir.resolve():
            raise DsconvError("--output and --resume name different run directories")
        return run_dir, merge_resume(config, run_dir)
    missing = [f"--{name}" for name in ("dataset", "model", "output") if not getattr(config, name)]
    if missing:
        raise DsconvError(f"missing {', '.join(missing)}")
    run_dir = Path(config.output)
    if (run_dir / RUN_FILE).exists():
        raise DsconvError(f"{run_dir} already holds a run: continue it with --resume {run_dir} "
                          "or choose another --output")
    return run_dir, config


def _mixed_precision(device: str) -> str:
    """bf16 on a GPU that supports it, fp32 otherwise; a GPU asked for must exist."""
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise DsconvError("--device cuda: no CUDA GPU is visible to torch")
    on_gpu = has_cuda and device != "cpu"
    return "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"


def _load_data(cfg: TrainConfig, adapter_cls: type[ModelAdapter]) -> tuple[Any, Any]:
    """Both splits, checked against the model family before any model is loaded."""
    splits = data.split_names(cfg.dataset)
    if cfg.train_split not in splits:
        raise DsconvError(f"{cfg.dataset}: no split {cfg.train_split!r} (has {', '.join(splits)})")
    val_split = cfg.val_split or next((s for s in data.VALIDATION_SPLITS if s in splits), None)
    if cfg.val_split and cfg.val_split not in splits:
        raise DsconvError(f"{cfg.dataset}: no split {cfg.val_split!r} (has {', '.join(splits)})")
    train_rows = data.load_split(cfg.dataset, cfg.train_split, cfg.cache_dir)
    for task in data.tasks_of(train_rows):
        reason = adapter_cls.unsupported_reason(task)
        if reason:
            raise DsconvError(f"{cfg.dataset}: {reason}")
    if len(train_rows) == 0:
        raise DsconvError(f"{cfg.dataset}: split {cfg.train_split!r} is empty")
    if cfg.max_train_items:
        train_rows = train_rows.select(range(min(cfg.max_train_items, len(train_rows))))
    val_rows = None
    if val_split is not None and cfg.max_val_items:
        val_rows = data.load_split(cfg.dataset, val_split, cfg.cache_dir)
        val_rows = val_rows.select(range(min(cfg.max_val_items, len(val_rows))))
        if len(val_rows) == 0:
            val_rows = None
    return train_rows, val_rows


def _load_adapter(adapter_cls: type[ModelAdapter], cfg: TrainConfig) -> ModelAdapter:
    try:
        return adapter_cls.from_pretrained(cfg.base, cfg.revision, dtype=torch.float32)
    except DsconvError:
        raise
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DsconvError(f"{cfg.base}: cannot load a {cfg.model} checkpoint ({reason})") from exc


def _prepare_model(adapter: ModelAdapter, cfg: TrainConfig) -> list[torch.nn.Module]:
    """Freeze the vision tower, add LoRA, enable checkpointing; returns the frozen modules."""
    frozen = adapter.vision_modules() if cfg.freeze_vision else []
    for module in frozen:
        module.requires_grad_(False)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora, lora_alpha=2 * cfg.lora, lora_dropout=0.05,
                          target_modules=adapter.lora_target_modules())
        adapter.model = get_peft_model(adapter.model, lora)
    if cfg.gradient_checkpointing:
        adapter.model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    return frozen


def _train_mode(model: torch.nn.Module, frozen: list[torch.nn.Module]) -> None:
    """Frozen modules stay in eval mode: a fixed feature extractor, no dropout or drop-path."""
    model.train()
    for module in frozen:
        module.eval()


def _train_epoch(
    accelerator: Accelerator, adapter: ModelAdapter, model: Any, optimizer: Any, scheduler: Any,
    train_loader: Any, frozen: list[torch.nn.Module], cfg: TrainConfig, state: TrainState,
    epoch: int, steps_per_epoch: int, log: MetricsLog, progress: TrainProgress, run_dir: Path,
) -> None:
    train_loader.set_epoch(epoch)
    loader = train_loader
    if state.batch_in_epoch:
        loader = accelerator.skip_first_batches(train_loader, state.batch_in_epoch)
        loader.set_epoch(epoch)
    _train_mode(model, frozen)
    losses: list[torch.Tensor] = []
    samples, started = 0, time.perf_counter()
    for batch in loader:
        with accelerator.accumulate(model):
            loss = adapter.loss(batch)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
        state.batch_in_epoch += 1
        losses.append(loss.detach().float())
        samples += _batch_size(batch) * accelerator.num_processes
        if not accelerator.sync_gradients:
            continue
        scheduler.step()
        state.global_step += 1
        speed = samples / max(time.perf_counter() - started, 1e-9)
        lr = scheduler.get_last_lr()[0]
        at = epoch + min(1.0, state.batch_in_epoch / len(train_loader))
        last_of_epoch = state.batch_in_epoch == len(train_loader)
        mean_loss = None
        if state.global_step % cfg.log_every == 0 or last_of_epoch:
            mean_loss = accelerator.gather(torch.stack(losses).mean().reshape(1)).mean().item()
            losses.clear()
            log.append({"type": "train", "step": state.global_step, "epoch": round(at, 4),
                        "loss": mean_loss, "lr": lr, "samples_per_s": round(speed, 2)})
        progress.update(1, at, mean_loss, lr, speed)
        if cfg.save_every and state.global_step % cfg.save_every == 0 and not last_of_epoch:
            save_checkpoint(accelerator, run_dir, state.global_step)


def _evaluate_epoch(
    accelerator: Accelerator, adapter: ModelAdapter, model: Any, val_loader: Any, val_rows: Any,
    cfg: TrainConfig, state: TrainState, log: MetricsLog, progress: TrainProgress, run_dir: Path,
) -> None:
    metrics: dict[str, Any] = {"val_loss": _validation_loss(accelerator, adapter, model, val_loader)}
    metrics.update(_generation_metrics(accelerator, adapter, model, val_rows, cfg))
    selection = metrics.get("score", -metrics["val_loss"])
    improved = state.best_score is None or selection > state.best_score
    if improved:
        state.best_score, state.best_epoch = selection, state.epoch
    state.last_eval = {"epoch": state.epoch, **metrics}
    log.append({"type": "eval", "step": state.global_step, **state.last_eval})
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    progress.print(f"epoch {state.epoch}: {shown}" + ("  (best)" if improved else ""))
    if improved and accelerator.is_main_process:
        best = run_dir / BEST
        export_model(adapter, accelerator.unwrap_model(model), best)
        write_card(best, cfg, state.last_eval, accelerator.num_processes)
    accelerator.wait_for_everyone()


@torch.no_grad()
def _validation_loss(accelerator: Accelerator, adapter: ModelAdapter, model: Any, loader: Any) -> float:
    model.eval()
    losses = []
    for batch in loader:
        with accelerator.autocast():
            losses.append(accelerator.gather(adapter.loss(batch).detach().float().reshape(1)))
    return torch.cat(losses).mean().item()


def _generation_metrics(
    accelerator: Accelerator, adapter: ModelAdapter, model: Any, val_rows: Any, cfg: TrainConfig
) -> dict[str, Any]:
    """Each process answers its share of the validation rows; every process gets the score."""
    model.eval()
    dataset = data.RowDataset(val_rows)
    mine: list[tuple[int, str]] = []
    with accelerator.split_between_processes(list(range(len(dataset)))) as indices:
        loader = DataLoader(
            torch.utils.data.Subset(dataset, indices), batch_size=cfg.batch_size,
            collate_fn=data.collate_rows, num_workers=cfg.workers,
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        position = 0
        with using_model(adapter, accelerator.unwrap_model(model)), accelerator.autocast():
            for rows in loader:
                answers = adapter.generate([r["image"] for r in rows], [r["question"] for r in rows],
                                           max_new_tokens=cfg.max_new_tokens)
                mine += [(indices[position + i], answer) for i, answer in enumerate(answers)]
                position += len(rows)
    predictions = dict(gather_object(mine))
    references = val_rows.select_columns([c for c in val_rows.column_names if c != "image"])
    ordered = [predictions[i] for i in range(len(dataset))]
    return score(ordered, list(references))


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, torch.Tensor):
                return value.shape[0]
    return len(batch)
