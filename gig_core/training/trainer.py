"""The one training loop every generator family goes through.

Per step: the family's objective updates its models (see objectives.py), the EMA copy of
the generator follows (samples always come from it), ADA adjusts its probability. At the end
the EMA generator gets batch-norm statistics of its own (standing_stats.py). Around
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
from dataclasses import asdict, dataclass, field
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
from gig_core.device import resolve_device
from gig_core.errors import GigError
from gig_core.layout import TrainOutputs
from gig_core.models import Architecture, build_parts, family
from gig_core.sampling import (
    GeneratorBundle,
    class_grid_labels,
    labelled_grid,
    save_png,
    shorten_label,
    title_grid_rows,
    to_float,
)
from gig_core.text.cache import cached_title_encoder
from gig_core.text.encoder import TitleEncoderSpec
from gig_core.training.checkpoint import load_checkpoint, save_checkpoint
from gig_core.training.collapse import CollapseGuard, ModeCollapseWarning  # noqa: F401 (re-exported)
from gig_core.training.diffaugment import POLICIES, AdaptiveAugment, diff_augment, parse_policy
from gig_core.training.losses import REGULARIZERS
from gig_core.training.objectives import OBJECTIVES, Objective
from gig_core.training.standing_stats import recompute_batch_norm_statistics

PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what a terminated container reports


class TrainingDiverged(GigError):
    """Losses or weights went NaN or infinite; the last good checkpoint is kept."""


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
        raise ValueError(
            f"train.condition_on names {missing}, which preprocess did not label; labelled: {sorted(vocab)}"
        )
    if conditional and not config.condition_on:
        raise ValueError("a conditional model needs at least one attribute in train.condition_on")
    titled = family(config.model).titled
    if config.class_weight > 0 and (not conditional or titled):
        raise ValueError(
            f"train.class_weight needs an attribute-conditioned family (hcgan, cgan), not {config.model!r}; set it to 0"
        )
    if config.mismatch_weight > 0 and not titled:
        raise ValueError(
            f"train.mismatch_weight needs a title-conditioned family (tgan), not {config.model!r}; set it to 0"
        )
    return Architecture(
        model=config.model,
        resolution=config.resolution,
        z_dim=config.z_dim,
        g_channels=config.g_channels,
        d_channels=config.d_channels,
        embed_dim=config.embed_dim if conditional else 0,
        vocab={a: vocab[a] for a in config.condition_on} if conditional else {},
        classifier=config.class_weight > 0,
        text_encoder=TitleEncoderSpec().to_dict() if titled else {},
    )


def _all_finite(modules: list[nn.Module]) -> bool:
    """One device sync for every weight, not one per tensor."""
    flags = [torch.isfinite(p).all() for m in modules for p in m.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


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


@dataclass
class TrainState:
    """Everything a resume restores: models, EMA, optimizers (inside the objective), step and loss
    history, ADA's probability, and per process the data order and RNG streams."""

    parts: dict[str, nn.Module]
    ema: nn.Module
    objective: Objective
    batches: BatchSampler
    ada: AdaptiveAugment | None
    device: torch.device
    step: int = 0
    history: list[list[float]] = field(default_factory=list)

    def rank_state(self) -> dict:
        """This process's share: its data order and RNG streams (each rank draws its own)."""
        return {
            "batches": self.batches.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def state_dict(self, ranks: list[dict]) -> dict:
        return {
            "step": self.step,
            "history": self.history,
            "parts": {name: part.state_dict() for name, part in self.parts.items()},
            "ema": self.ema.state_dict(),
            "optimizers": self.objective.state_dict(),
            "ranks": ranks,
            "ada": self.ada.state_dict() if self.ada is not None else {},
        }

    def load_state_dict(self, state: dict, rank: int) -> None:
        for name, part in self.parts.items():
            part.load_state_dict(state["parts"][name])
        self.ema.load_state_dict(state["ema"])
        self.objective.load_state_dict(state["optimizers"])
        mine = state["ranks"][rank]
        self.batches.load_state_dict(mine["batches"])
        torch.set_rng_state(mine["torch_rng"])
        if self.device.type == "cuda" and mine["cuda_rng"] is not None:
            torch.cuda.set_rng_state(mine["cuda_rng"], self.device)
        if self.ada is not None:
            self.ada.load_state_dict(state["ada"])
        self.step, self.history = state["step"], state["history"]

    def all_finite(self) -> bool:
        return _all_finite([*self.parts.values(), self.ema])


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train a generator as `config` says and write the train stage outputs to config.out_dir.

    Under torchrun (see launch.py) the process joins its process group, NCCL on GPUs and gloo
    on CPU, and trains with DistributedDataParallel, even alone (world size 1).
    """
    distributed = "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ  # set by torchrun
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(config.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        return Trainer(config, device, rank, world, progress and rank == 0, distributed).run()
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


class Trainer:
    """One training run: setup in __init__, then `run` loops over step, log, sample, checkpoint."""

    def __init__(
        self,
        config: TrainConfig,
        device: torch.device,
        rank: int,
        world: int,
        progress: bool,
        distributed: bool = False,
    ):
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.regularizer not in REGULARIZERS:
            raise ValueError(f"train.regularizer must be one of {REGULARIZERS}, got {config.regularizer!r}")
        if config.d_steps < 1:
            raise ValueError(f"train.d_steps must be at least 1, got {config.d_steps}")
        torch.use_deterministic_algorithms(config.deterministic, warn_only=device.type == "cuda")
        torch.manual_seed(config.seed)  # same initial weights on every rank
        self.config, self.device, self.rank, self.world, self.progress = config, device, rank, world, progress
        self.distributed = distributed or world > 1
        self.out, self.writer = Path(config.out_dir), rank == 0
        self.files = TrainOutputs(self.out)
        if self.writer:
            (self.out / "samples").mkdir(parents=True, exist_ok=True)

        self.arch = architecture_for(config, config.data_dir)
        fam = family(config.model)
        data = load_split(config.data_dir, "train")
        data.labels = {a: data.labels[a] for a in self.arch.vocab}
        parts = build_parts(self.arch)
        if self.arch.titled:  # the catalog's title encoder, frozen inside the generator; titles become vectors once
            spec = TitleEncoderSpec(**self.arch.text_encoder)
            encoder = cached_title_encoder(config.data_dir, config.cache_dir, spec)
            parts["generator"].title.encoder.load_state_dict(encoder.state_dict())
            data.labels["title"] = encoder.encode(data.titles)  # (N, D)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        for part in parts.values():
            part.to(device=device, memory_format=self.memory_format)
        ema = copy.deepcopy(parts["generator"]).eval().requires_grad_(False)
        trained = dict(parts)
        if self.distributed:
            ids = [device.index] if device.type == "cuda" else None
            trained = {name: nn.parallel.DistributedDataParallel(part, device_ids=ids) for name, part in parts.items()}
        if config.compile:
            trained = {name: torch.compile(part) for name, part in trained.items()}
        self.trained = trained

        self.augment = build_augment(config.augment)
        self.policy = parse_policy(config.augment.diffaugment)
        ada = None
        if config.augment.ada_target > 0:
            self.policy = self.policy or list(POLICIES)
            ada = AdaptiveAugment(
                config.augment.ada_target,
                config.augment.ada_interval,
                config.augment.ada_kimg,
                config.batch_size * world,
            )
        self.state = TrainState(
            parts,
            ema,
            OBJECTIVES[fam.objective](trained, config, fam.loss),
            BatchSampler(data, config.batch_size, config.seed + rank),
            ada,
            device,
        )
        self._resume_or_seed()

        self.bundle = GeneratorBundle(ema, self.arch)
        columns = config.grid_columns
        if self.arch.titled:  # one row per class of the first attribute, each row one training title
            self.grid_rows = title_grid_rows(self.arch, data.titles, data.labels, seed=config.seed)
            self.grid_labels = self.bundle.encode([{"title": t} for t in self.grid_rows for _ in range(columns)])
        else:
            self.grid_rows = list(next(iter(self.arch.vocab.values()))) if self.arch.conditional else []
            self.grid_labels = class_grid_labels(self.arch, columns, data.labels, seed=config.seed)
        self.grid_count = columns * (len(self.grid_rows) or columns)
        self.guard = CollapseGuard(self.arch, data, seed=config.seed + 2)
        self.tracker = None
        if self.writer and config.tracking_uri:
            from gig_core.tracking import TrainingRun  # mlflow only when tracking is on

            self.tracker = TrainingRun(config)
        self.columns = ["step", *self.state.objective.columns, "augment_p", "within_class_diversity", "images_per_s"]

    def _resume_or_seed(self) -> None:
        resume = self.config.resume
        if resume == "auto":
            resume = str(self.files.checkpoint) if self.files.checkpoint.is_file() else ""
        if not resume:
            torch.manual_seed(self.config.seed + 1000 * self.rank)  # each rank draws its own noise
            return
        saved = load_checkpoint(resume)
        if saved["arch"] != self.arch.to_dict():
            raise ValueError(f"{resume} was trained with another architecture: {saved['arch']}")
        if len(saved["ranks"]) != self.world:
            raise ValueError(
                f"{resume} was written by {len(saved['ranks'])} processes; resume it with as many, not {self.world}"
            )
        self.state.load_state_dict(saved, self.rank)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> dict:
        config, state = self.config, self.state
        started, start_step = time.perf_counter(), state.step
        self.window = (started, state.step)  # images/s over each logging window
        bar = tqdm(
            total=config.steps, initial=state.step, desc=f"train {config.model}", unit="step", disable=not self.progress
        )
        for part in self.trained.values():
            part.train()
        with _SigtermFlag() as sigterm, self._run_status_on_failure():
            while state.step < config.steps:
                scalars = self.train_step()
                if state.step % config.log_every == 0 or state.step == config.steps:
                    self.log(scalars, bar)
                if self.writer and state.step % config.sample_every == 0 and state.step < config.steps:
                    self.sample(self.out / "samples" / f"step_{state.step:06d}.png")
                if config.checkpoint_every and state.step % config.checkpoint_every == 0 and state.step < config.steps:
                    self.checkpoint()
                if self.preempted(sigterm):
                    self.checkpoint()
                    bar.close()
                    if self.tracker:
                        self.tracker.finish("KILLED")
                    raise Preempted(PREEMPTED_EXIT_CODE)
                bar.update(1)
        bar.close()
        seconds = time.perf_counter() - started
        if self.writer:  # before the last checkpoint, so that its EMA is generator.pt
            recompute_batch_norm_statistics(
                state.ema, self.arch.z_dim, state.batches.data.labels, config.standing_stats_batches,
                config.batch_size, seed=config.seed + 3, progress=self.progress,
            )
        self.checkpoint()
        return self.finish(
            images_per_second=(state.step - start_step) * config.batch_size * self.world / max(seconds, 1e-9)
        )

    @contextlib.contextmanager
    def _run_status_on_failure(self):
        """An error or Ctrl-C ends the MLflow run as FAILED or KILLED instead of leaving it RUNNING."""
        try:
            yield
        except Preempted:
            raise  # already ended as KILLED, after its checkpoint
        except BaseException as exc:
            if self.tracker:
                self.tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise

    # -- step -------------------------------------------------------------------------------

    def next_batch(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real_u8, labels = self.state.batches.next()
        real = to_float(augment_batch(real_u8, self.augment)).to(
            self.device, memory_format=self.memory_format, non_blocking=True
        )
        return real, {a: t.to(self.device) for a, t in labels.items()}  # (B, 3, R, R) in [-1, 1]

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.config.amp)

    def augment_probability(self) -> float:
        return self.state.ada.p if self.state.ada is not None else 1.0

    def train_step(self) -> dict[str, torch.Tensor]:
        """One update of every model, the EMA after it, and ADA's probability."""
        state, config = self.state, self.config
        augment = partial(diff_augment, policy=self.policy, p=self.augment_probability())
        scalars, real_logits = state.objective.step(state.step, self.next_batch, augment, self.autocast)
        state.step += 1
        update_ema(state.ema, state.parts["generator"], min(config.ema_decay, (1 + state.step) / (10 + state.step)))
        if state.ada is not None and real_logits is not None:
            state.ada.observe(real_logits)
            state.ada.update(
                state.step, dist.all_reduce if self.distributed else None, self.device
            )  # one p for all ranks
        return scalars

    # -- log, sample, checkpoint ------------------------------------------------------------

    def log(self, scalars: dict[str, torch.Tensor], bar: tqdm) -> None:
        """A loss row (losses.csv, MLflow), with images/s over the window and the collapse guard's figure."""
        state, config = self.state, self.config
        now = time.perf_counter()
        window_time, window_step = self.window
        speed = (state.step - window_step) * config.batch_size * self.world / max(now - window_time, 1e-9)
        self.window = (now, state.step)
        losses = [float(scalars[c]) for c in state.objective.columns]
        if not all(math.isfinite(v) for v in losses) or not _all_finite(list(state.parts.values())):
            raise TrainingDiverged(
                f"losses or weights are not finite at step {state.step} "
                f"({dict(zip(state.objective.columns, losses))}); the last good checkpoint is "
                f"{self.files.checkpoint}. Lower the learning rates, or resume from it."
            )
        guard = CollapseGuard.summary(self.guard.measure(self.bundle))
        p = self.augment_probability() if self.policy else 0.0
        row = [state.step, *losses, p, guard["within_class_diversity"], speed]
        state.history.append(row)
        if self.tracker:
            # the guard's estimate under its own name: `within_class_diversity` in the run is the evaluation's
            scalars = {**dict(zip(self.columns[1:], row[1:])), **guard}
            self.tracker.log({f"guard_{k}" if k.startswith("within_class") else k: v for k, v in scalars.items()},
                             state.step)
        bar.set_postfix(
            loss_d=f"{losses[0]:.3f}", loss_g=f"{losses[1]:.3f}", diversity=f"{guard['within_class_diversity']:.2f}"
        )

    def sample(self, path: Path, check: bool = True) -> dict[str, float]:
        """A sample grid (one row per class) and the collapse check; returns the guard's per-cell figures."""
        images = self.bundle.sample(
            self.grid_count, self.grid_labels, seed=self.config.seed + 1
        )  # (rows * cols, 3, R, R)
        save_png(labelled_grid(images, self.config.grid_columns, [shorten_label(r) for r in self.grid_rows]), path)
        ratios = self.guard.measure(self.bundle)
        if check:
            CollapseGuard.warn_if_collapsed(ratios, self.state.step, self.config.collapse_threshold)
        return ratios

    def checkpoint(self) -> None:
        """Write the whole TrainState (every rank's RNG and data order) atomically; rank 0 writes."""
        state = self.state
        if not state.all_finite():
            raise TrainingDiverged(f"weights are not finite at step {state.step}; keeping the last good checkpoint")
        ranks = [state.rank_state()]
        if self.distributed:
            ranks = [None] * self.world
            dist.all_gather_object(ranks, state.rank_state())
        if self.writer:
            save_checkpoint(
                self.files.checkpoint,
                {"arch": self.arch.to_dict(), "config": asdict(self.config), **state.state_dict(ranks)},
            )

    def preempted(self, sigterm: _SigtermFlag) -> bool:
        """Whether any rank got SIGTERM (all ranks stop together)."""
        stop = torch.tensor([1 if sigterm.raised else 0], device=self.device)
        if self.distributed:
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
        return bool(stop.item())

    def finish(self, images_per_second: float) -> dict:
        config, state, arch = self.config, self.state, self.arch
        summary = {
            "model": config.model,
            "steps": state.step,
            "resolution": arch.resolution,
            "world_size": self.world,
            "images_per_second": round(images_per_second, 1),
            "grid": str(self.files.grid),
            "grid_rows": self.grid_rows,
            "condition_on": list(arch.vocab),
            "augment_p": state.ada.p if state.ada is not None else (1.0 if self.policy else 0.0),
            "mlflow_run_id": self.tracker.run_id if self.tracker else "",
            "mlflow_tracking_uri": config.tracking_uri if self.tracker else "",
        }
        if self.writer:
            self.bundle.save(self.files.generator)
            # The last step's grid and collapse check are of the saved generator, standing statistics included.
            if state.step % config.sample_every == 0:
                self.sample(self.out / "samples" / f"step_{state.step:06d}.png", check=False)
            ratios = self.sample(self.files.grid)
            summary.update(
                {k: round(v, 4) for k, v in CollapseGuard.summary(ratios).items()},
                within_class_diversity_cells={k: round(v, 4) for k, v in ratios.items()},
            )
            with atomic_file(self.files.losses, "w") as handle:
                rows = csv.writer(handle, lineterminator="\n")
                rows.writerow(self.columns)
                rows.writerows([[r[0], *(f"{v:.5f}" for v in r[1:])] for r in state.history])
            write_json(self.files.summary, summary)
            if self.tracker:
                self.tracker.finish("FINISHED")
        return summary
