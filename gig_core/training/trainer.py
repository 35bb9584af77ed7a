"""The one training loop every generator family goes through.

Per step: the family's objective updates its models (see objectives.py), the EMA copy of
the generator follows (samples always come from it), ADA adjusts its probability. Around
that: a loss row every `log_every` steps (to losses.csv, and to MLflow when configured), a
sample grid and a mode-collapse check every `sample_every`, a resumable checkpoint every
`checkpoint_every` and at the end, NaN/Inf guards, and a checkpoint on SIGTERM (what
Kubernetes sends on preemption) before exiting. Under torchrun the same code runs
DistributedDataParallel; rank 0 writes everything.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import signal
import time
import warnings
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from gig_core.atomic import atomic_file, write_json
from gig_core.config import TrainConfig
from gig_core.data.augment import augment_batch, build_augment
from gig_core.data.preprocess import TensorSplit, load_split, load_summary, load_vocab
from gig_core.errors import GigError
from gig_core.models import Architecture, build_parts, family
from gig_core.sampling import GeneratorBundle, class_grid_labels, grid_image, save_png, to_float
from gig_core.training.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from gig_core.training.diffaugment import POLICIES, AdaptiveAugment, diff_augment, parse_policy
from gig_core.training.losses import REGULARIZERS
from gig_core.training.objectives import OBJECTIVES

GENERATOR_FILE = "generator.pt"
LOSSES_FILE = "losses.csv"
SUMMARY_FILE = "train.json"
GRID_FILE = "grid.png"
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what a terminated container reports


class TrainingDiverged(GigError):
    """Losses or weights went NaN or infinite; the last good checkpoint is kept."""


class ModeCollapseWarning(UserWarning):
    """The fixed-noise samples have lost most of their variety."""


class Preempted(SystemExit):
    """SIGTERM arrived; a checkpoint was written and the process exits with 143."""


class BatchSampler:
    """Endless shuffled minibatches from an in-memory split; its RNG state is checkpointed."""

    def __init__(self, data: TensorSplit, batch_size: int, seed: int):
        if len(data) < batch_size:
            raise ValueError(f"the training split has {len(data)} images, fewer than batch_size={batch_size}")
        self.data, self.batch_size = data, batch_size
        self.rng = torch.Generator().manual_seed(seed)
        self.order, self.position = torch.randperm(len(data), generator=self.rng), 0

    def next(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = torch.randperm(len(self.data), generator=self.rng), 0
        index = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return self.data.images[index], {a: t[index] for a, t in self.data.labels.items()}  # (B, 3, R, R) uint8

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.order, self.position = state["order"], state["position"]


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    torch._foreach_copy_(list(ema.buffers()), list(model.buffers()))


def architecture_for(config: TrainConfig, data_dir: str | Path) -> Architecture:
    summary = load_summary(data_dir)
    if summary["resolution"] != config.resolution:
        raise ValueError(
            f"train.resolution is {config.resolution} (preset {config.preset!r}) but the preprocessed images are "
            f"{summary['resolution']}px; set preprocess.resolution: {config.resolution} or pick a matching preset"
        )
    vocab = load_vocab(data_dir)
    conditional = family(config.model).conditional
    missing = [a for a in config.condition_on if a not in vocab]
    if conditional and missing:
        raise ValueError(f"train.condition_on names {missing}, which preprocess did not label; labelled: {sorted(vocab)}")
    if conditional and not config.condition_on:
        raise ValueError("a conditional model needs at least one attribute in train.condition_on")
    return Architecture(
        model=config.model, resolution=config.resolution, z_dim=config.z_dim,
        g_channels=config.g_channels, d_channels=config.d_channels,
        embed_dim=config.embed_dim if conditional else 0,
        vocab={a: vocab[a] for a in config.condition_on} if conditional else {},
    )


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    if config.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def _all_finite(modules: list[nn.Module]) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def _pairwise_spread(images: torch.Tensor) -> float:
    """Mean pairwise distance of (N, 3, R, R) uint8 images, on 16x16 thumbnails."""
    thumbs = nn.functional.adaptive_avg_pool2d(images.float() / 255, 16).flatten(1)
    return float(torch.pdist(thumbs).mean())


class _SigtermFlag:
    """Turns SIGTERM into a flag the loop checks once per step."""

    def __init__(self):
        self.raised = False
        self.previous = None

    def __enter__(self):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.raised = True

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train a generator as `config` says and write the train stage outputs to config.out_dir."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(config, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        return _train(config, progress and rank == 0, device, rank, world)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, progress: bool, device: torch.device, rank: int, world: int) -> dict:
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.regularizer not in REGULARIZERS:
        raise ValueError(f"train.regularizer must be one of {REGULARIZERS}, got {config.regularizer!r}")
    if config.d_steps < 1:
        raise ValueError(f"train.d_steps must be at least 1, got {config.d_steps}")
    torch.use_deterministic_algorithms(config.deterministic, warn_only=device.type == "cuda")
    torch.manual_seed(config.seed)  # same initial weights on every rank
    out = Path(config.out_dir)
    writer = rank == 0
    if writer:
        (out / "samples").mkdir(parents=True, exist_ok=True)

    arch = architecture_for(config, config.data_dir)
    fam = family(config.model)
    data = load_split(config.data_dir, "train")
    data.labels = {a: data.labels[a] for a in arch.vocab}
    parts = build_parts(arch)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    for part in parts.values():
        part.to(device=device, memory_format=memory_format)
    ema = copy.deepcopy(parts["generator"]).eval().requires_grad_(False)
    trained = dict(parts)
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trained = {name: nn.parallel.DistributedDataParallel(part, device_ids=ids) for name, part in parts.items()}
    if config.compile:
        trained = {name: torch.compile(part) for name, part in trained.items()}
    objective = OBJECTIVES[fam.objective](trained, config, fam.loss)

    batches = BatchSampler(data, config.batch_size, config.seed + rank)
    augment = build_augment(config.augment)
    policy = parse_policy(config.augment.diffaugment)
    ada = None
    if config.augment.ada_target > 0:
        policy = policy or list(POLICIES)
        ada = AdaptiveAugment(config.augment.ada_target, config.augment.ada_interval, config.augment.ada_kimg,
                              config.batch_size * world)

    step, history = 0, []
    resume = config.resume
    if resume == "auto":
        resume = str(out / CHECKPOINT_FILE) if (out / CHECKPOINT_FILE).is_file() else ""
    if resume:
        state = load_checkpoint(resume)
        if state["arch"] != arch.to_dict():
            raise ValueError(f"{resume} was trained with another architecture: {state['arch']}")
        for name, part in parts.items():
            part.load_state_dict(state["parts"][name])
        ema.load_state_dict(state["ema"])
        objective.load_state_dict(state["optimizers"])
        if len(state["ranks"]) != world:
            raise ValueError(f"{resume} was written by {len(state['ranks'])} processes; resume it with as many, not {world}")
        mine = state["ranks"][rank]
        batches.load_state_dict(mine["batches"])
        torch.set_rng_state(mine["torch_rng"])
        if device.type == "cuda" and mine["cuda_rng"] is not None:
            torch.cuda.set_rng_state(mine["cuda_rng"], device)
        if ada is not None:
            ada.load_state_dict(state["ada"])
        step, history = state["step"], state["history"]
    else:
        torch.manual_seed(config.seed + 1000 * rank)  # each rank draws its own noise

    grid_labels = class_grid_labels(arch, config.grid_columns, data.labels, seed=config.seed)
    grid_count = config.grid_columns * (len(next(iter(arch.vocab.values()))) if arch.conditional else config.grid_columns)
    bundle = GeneratorBundle(ema, arch)
    real_spread = _pairwise_spread(data.images[:256])

    def next_batch():
        real_u8, labels = batches.next()
        real = to_float(augment_batch(real_u8, augment)).to(device, memory_format=memory_format, non_blocking=True)
        return real, {a: t.to(device) for a, t in labels.items()}  # (B, 3, R, R) in [-1, 1]

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=config.amp)

    def checkpoint() -> None:
        if not _all_finite([*parts.values(), ema]):
            raise TrainingDiverged(f"weights are not finite at step {step}; keeping the last good checkpoint")
        mine = {"batches": batches.state_dict(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
        ranks = [mine]
        if world > 1:
            ranks = [None] * world
            dist.all_gather_object(ranks, mine)
        if writer:
            save_checkpoint(out / CHECKPOINT_FILE, {
                "step": step, "arch": arch.to_dict(), "config": asdict(config), "history": history,
                "parts": {name: part.state_dict() for name, part in parts.items()}, "ema": ema.state_dict(),
                "optimizers": objective.state_dict(), "ranks": ranks,
                "ada": ada.state_dict() if ada is not None else {},
            })

    def write_grid(path: Path) -> float:
        images = bundle.sample(grid_count, grid_labels, seed=config.seed + 1)  # (rows * cols, 3, R, R) uint8
        save_png(grid_image(images, config.grid_columns), path)
        return _pairwise_spread(images) / real_spread

    tracker = _MlflowTracker(config) if writer and config.tracking_uri else None
    columns = ["step", *objective.columns, "augment_p", "images_per_s"]
    started, start_step = time.perf_counter(), step
    window_time, window_step = started, step  # images/s over each logging window
    bar = tqdm(total=config.steps, initial=step, desc=f"train {config.model}", unit="step", disable=not progress)
    for part in trained.values():
        part.train()
    with _SigtermFlag() as sigterm:
        while step < config.steps:
            p = ada.p if ada is not None else 1.0
            scalars, real_logits = objective.step(step, next_batch, partial(diff_augment, policy=policy, p=p), autocast)
            step += 1
            update_ema(ema, parts["generator"], min(config.ema_decay, (1 + step) / (10 + step)))
            if ada is not None and real_logits is not None:
                ada.observe(real_logits)
                ada.update(step, dist.all_reduce if world > 1 else None)  # one p for every rank

            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                speed = (step - window_step) * config.batch_size * world / max(now - window_time, 1e-9)
                window_time, window_step = now, step
                row = [step, *(float(scalars[c]) for c in objective.columns), p if policy else 0.0, speed]
                if not all(math.isfinite(v) for v in row) or not _all_finite(list(parts.values())):
                    raise TrainingDiverged(
                        f"losses or weights are not finite at step {step} ({dict(zip(columns, row))}); the last good "
                        f"checkpoint is {out / CHECKPOINT_FILE}. Lower the learning rates, or resume from it."
                    )
                history.append(row)
                if tracker:
                    tracker.log(dict(zip(columns[1:], row[1:])), step)
                bar.set_postfix(loss_d=f"{row[1]:.3f}", loss_g=f"{row[2]:.3f}")
            if writer and step % config.sample_every == 0:
                diversity = write_grid(out / "samples" / f"step_{step:06d}.png")
                if tracker:
                    tracker.log({"sample_diversity": diversity}, step)
                if diversity < config.collapse_threshold:
                    warnings.warn(f"possible mode collapse at step {step}: fixed-noise samples vary {diversity:.2f}x as "
                                  f"much as real images (threshold {config.collapse_threshold})", ModeCollapseWarning, stacklevel=2)
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
                checkpoint()
            stop = torch.tensor([1 if sigterm.raised else 0])
            if world > 1:
                dist.all_reduce(stop, op=dist.ReduceOp.MAX)
            if stop.item():
                checkpoint()
                bar.close()
                if tracker:
                    tracker.finish("KILLED")
                raise Preempted(PREEMPTED_EXIT_CODE)
            bar.update(1)
    bar.close()
    seconds = time.perf_counter() - started

    checkpoint()
    summary = {
        "model": config.model, "steps": step, "resolution": arch.resolution, "world_size": world,
        "images_per_second": round((step - start_step) * config.batch_size * world / max(seconds, 1e-9), 1),
        "grid": str(out / GRID_FILE), "grid_rows": list(next(iter(arch.vocab.values()))) if arch.conditional else [],
        "condition_on": list(arch.vocab),
        "augment_p": ada.p if ada is not None else (1.0 if policy else 0.0),
        "mlflow_run_id": tracker.run_id if tracker else "",
        "mlflow_tracking_uri": config.tracking_uri if tracker else "",
    }
    if writer:
        bundle.save(out / GENERATOR_FILE)
        summary["sample_diversity"] = round(write_grid(out / GRID_FILE), 4)
        with atomic_file(out / LOSSES_FILE, "w") as handle:
            rows = csv.writer(handle, lineterminator="\n")
            rows.writerow(columns)
            rows.writerows([[r[0], *(f"{v:.5f}" for v in r[1:])] for r in history])
        write_json(out / SUMMARY_FILE, summary)
        if tracker:
            tracker.finish("FINISHED")
    return summary


class _MlflowTracker:
    """Per-step metrics of one training run; the register stage later adds to the same run."""

    def __init__(self, config: TrainConfig):
        import mlflow

        from gig_core.registry.tracking import experiment_id

        self.mlflow = mlflow
        mlflow.set_tracking_uri(config.tracking_uri)
        self.run = mlflow.start_run(experiment_id=experiment_id(config.experiment), run_name=f"train-{config.model}")
        self.run_id = self.run.info.run_id
        mlflow.log_params({k: v for k, v in asdict(config).items() if not isinstance(v, dict)})

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(metrics, step=step)

    def finish(self, status: str) -> None:
        self.mlflow.end_run(status=status)
