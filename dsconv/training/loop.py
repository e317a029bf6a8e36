"""The one training loop every model family shares, on accelerate.

CPU (fp32), one GPU (bf16 where supported) or several GPUs through `accelerate launch` (DDP):
the loop is the same. The adapter supplies inputs, loss and generation; everything else —
data, schedule, evaluation, checkpoints, export — lives here and in its sibling modules.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from dsconv.errors import DsconvError
from dsconv.models.base import ModelAdapter
from dsconv.models.loading import BEST, FINAL, load_adapter, mixed_precision
from dsconv.models.registry import get_adapter
from dsconv.training import data
from dsconv.training.card import write_card
from dsconv.training.checkpoint import (
    TrainState,
    export_model,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from dsconv.training.config import ResolvedConfig, TrainConfig, resolve, save_run
from dsconv.training.evaluate import generation_metrics, validation_loss
from dsconv.training.hub import push_model
from dsconv.training.progress import TrainProgress
from dsconv.training.runlog import METRICS_FILE, MetricsLog
from dsconv.training.schedule import build_scheduler
from dsconv.training.setup import check_quantization, load_data, open_run_dir, prepare_model


@dataclass
class TrainResult:
    run_dir: Path
    final_dir: Path
    best_dir: Path | None
    metrics: dict[str, Any]
    hub_url: str | None


def train(config: TrainConfig, resume: str | Path | None = None) -> TrainResult:
    """Train, evaluate every epoch, checkpoint, export `final` (and `best`), optionally push."""
    run_dir, config = open_run_dir(config, resume)
    cfg = resolve(config)
    adapter_cls = get_adapter(cfg.model)
    precision = mixed_precision(cfg.device)
    check_quantization(cfg, adapter_cls)
    checkpoint = latest_checkpoint(run_dir) if resume is not None else None
    if resume is not None and checkpoint is None:
        raise DsconvError(f"{run_dir}: no checkpoint to resume from; start it again without "
                          "--resume")

    accelerator = Accelerator(cpu=cfg.device == "cpu", mixed_precision=precision,
                              gradient_accumulation_steps=cfg.grad_accum)
    set_seed(cfg.seed)
    with accelerator.main_process_first():
        train_rows, val_rows = load_data(cfg, adapter_cls)
        adapter = load_adapter(adapter_cls, cfg.base, cfg.revision,
                               load_in_4bit=bool(cfg.load_in_4bit),
                               image_options=cfg.image_options())
    if cfg.revision is None and not data.is_local(cfg.base):  # pin the commit that was used
        cfg = replace(cfg, revision=getattr(adapter.model.config, "_commit_hash", None))
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_run(cfg, run_dir)  # on --resume too: a later resume sees the new --epochs
        if resume is None:
            (run_dir / METRICS_FILE).unlink(missing_ok=True)  # left by a run that never saved
    accelerator.wait_for_everyone()

    run = _Run.build(accelerator, adapter, cfg, run_dir, train_rows, val_rows)
    if checkpoint is not None:
        run.restore(checkpoint)
    run.fit()
    return run.finish()


@dataclass
class _Run:
    """One run's moving parts; `adapter.model` is the accelerate-prepared (maybe DDP) model."""

    accelerator: Accelerator
    adapter: ModelAdapter
    cfg: ResolvedConfig
    run_dir: Path
    optimizer: Any
    scheduler: Any
    train_loader: Any
    val_loader: Any
    val_rows: Any
    frozen: list[torch.nn.Module]
    total_steps: int
    log: MetricsLog
    state: TrainState = field(default_factory=TrainState)

    @classmethod
    def build(cls, accelerator: Accelerator, adapter: ModelAdapter, cfg: ResolvedConfig,
              run_dir: Path, train_rows: Any, val_rows: Any) -> _Run:
        frozen = prepare_model(adapter, cfg)
        trainable = [p for p in adapter.model.parameters() if p.requires_grad]
        raw_optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=0.0)
        collate = adapter.collator()
        target = adapter.answer_format().target  # the family's own box coordinates

        def loader(rows: Any, shuffle: bool) -> Any:
            return data.make_loader(data.RowDataset(rows, target), collate, cfg.batch_size,
                                    cfg.workers, cfg.seed, shuffle=shuffle)

        model, optimizer, train_loader = accelerator.prepare(
            adapter.model, raw_optimizer, loader(train_rows, shuffle=True)
        )
        val_loader = None if val_rows is None else accelerator.prepare(loader(val_rows, False))
        adapter.model = model
        # Stepped once per optimizer step, so built from this process's share of the batches.
        total_steps = math.ceil(len(train_loader) / cfg.grad_accum) * cfg.epochs
        scheduler = build_scheduler(raw_optimizer, cfg.schedule, total_steps, cfg.warmup)
        run = cls(accelerator, adapter, cfg, run_dir, optimizer, scheduler, train_loader,
                  val_loader, val_rows, frozen, total_steps,
                  MetricsLog(run_dir, enabled=accelerator.is_main_process))
        accelerator.register_for_checkpointing(scheduler, run.state)
        return run

    def restore(self, checkpoint: Path) -> None:
        load_checkpoint(self.accelerator, checkpoint)
        factor = self.scheduler.lr_lambdas[0]  # --epochs may have grown since
        factor.total_steps = self.total_steps
        factor.warmup_steps = round(self.cfg.warmup * self.total_steps)
        self.log.truncate_after(self.state.global_step)

    def fit(self) -> None:
        progress = TrainProgress(self.total_steps, self.state.global_step,
                                 enabled=self.accelerator.is_main_process)
        try:
            for epoch in range(self.state.epoch, self.cfg.epochs):
                self.train_epoch(epoch, progress)
                self.state.epoch, self.state.batch_in_epoch = epoch + 1, 0
                if self.val_loader is not None:
                    self.evaluate(progress)
                save_checkpoint(self.accelerator, self.run_dir, self.state.global_step)
        finally:
            progress.close()

    def train_epoch(self, epoch: int, progress: TrainProgress) -> None:
        acc, state, cfg = self.accelerator, self.state, self.cfg
        self.train_loader.set_epoch(epoch)
        loader = self.train_loader
        if state.batch_in_epoch:  # resuming mid-epoch: same order, minus what was trained on
            loader = acc.skip_first_batches(self.train_loader, state.batch_in_epoch)
            loader.set_epoch(epoch)
        batches = len(self.train_loader)
        self._train_mode()
        losses: list[torch.Tensor] = []
        samples, started = 0, time.perf_counter()
        for batch in loader:
            with acc.accumulate(self.adapter.model):
                loss = self.adapter.loss(batch)
                acc.backward(loss)
                self.optimizer.step()
                self.optimizer.zero_grad()
            state.batch_in_epoch += 1
            losses.append(loss.detach().float())
            samples += _batch_size(batch) * acc.num_processes
            if not acc.sync_gradients:
                continue
            self.scheduler.step()
            state.global_step += 1
            speed = samples / max(time.perf_counter() - started, 1e-9)
            lr = self.scheduler.get_last_lr()[0]
            at = epoch + state.batch_in_epoch / batches
            end_of_epoch = state.batch_in_epoch == batches
            shown = losses[-1].item()  # this process's latest; logged ones are over all processes
            if state.global_step % cfg.log_every == 0 or end_of_epoch:
                shown = acc.gather(torch.stack(losses).mean().reshape(1)).mean().item()
                losses.clear()
                state.last_train_loss = shown
                self.log.append({"type": "train", "step": state.global_step, "epoch": round(at, 4),
                                 "loss": shown, "lr": lr, "samples_per_s": round(speed, 2)})
            progress.update(1, at, shown, lr, speed)
            if cfg.save_every and state.global_step % cfg.save_every == 0 and not end_of_epoch:
                save_checkpoint(acc, self.run_dir, state.global_step)

    def evaluate(self, progress: TrainProgress) -> None:
        """Score this epoch; export `best` when it beats every earlier epoch."""
        acc, state, cfg = self.accelerator, self.state, self.cfg
        metrics: dict[str, Any] = {"val_loss": validation_loss(acc, self.adapter, self.val_loader)}
        metrics.update(generation_metrics(
            acc, self.adapter, self.val_rows, batch_size=cfg.batch_size, workers=cfg.workers,
            max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
        ))
        selection = metrics.get("score", -metrics["val_loss"])
        improved = state.best_score is None or selection > state.best_score
        if improved:
            state.best_score, state.best_epoch = selection, state.epoch
        state.last_eval = {"epoch": state.epoch, **metrics}
        self.log.append({"type": "eval", "step": state.global_step, **state.last_eval})
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        progress.print(f"epoch {state.epoch}: {shown}" + ("  (best)" if improved else ""))
        if improved:
            self.export(self.run_dir / BEST, state.last_eval)

    def export(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        if self.accelerator.is_main_process:
            export_model(self.adapter, self.accelerator.unwrap_model(self.adapter.model), out_dir)
            write_card(out_dir, self.cfg, metrics, self.accelerator.num_processes)
        self.accelerator.wait_for_everyone()

    def finish(self) -> TrainResult:
        final_dir = self.run_dir / FINAL
        self.export(final_dir, {**self.state.last_eval, "train_loss": self.state.last_train_loss})
        hub_url = None
        if self.cfg.push_to_hub and self.accelerator.is_main_process:
            hub_url = push_model(final_dir, self.cfg.push_to_hub)
        best_dir = self.run_dir / BEST
        return TrainResult(self.run_dir, final_dir, best_dir if best_dir.is_dir() else None,
                           dict(self.state.last_eval), hub_url)

    def _train_mode(self) -> None:
        """Frozen modules stay in eval mode: a fixed feature extractor, no dropout or drop-path."""
        self.adapter.model.train()
        for module in self.frozen:
            module.eval()


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, torch.Tensor):
                return value.shape[0]
    return len(batch)
