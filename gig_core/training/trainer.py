"""The training loop shared by every GAN family.

One readable loop: a discriminator step, a generator step, an EMA update of the generator
(samples always come from the EMA copy), a loss row every `log_every` steps and a sample
grid every `sample_every`. At the end it writes a resumable checkpoint and the exported
generator bundle that evaluation and the registry load.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from gig_core.atomic import atomic_file, write_json
from gig_core.config import TrainConfig
from gig_core.data.augment import augment_batch, build_augment
from gig_core.data.preprocess import TensorSplit, load_split, load_summary, load_vocab
from gig_core.errors import GigError
from gig_core.models import Architecture, build_discriminator, build_generator, family
from gig_core.sampling import GeneratorBundle, class_grid_labels, grid_image, save_png, to_float, to_uint8
from gig_core.training.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from gig_core.training.diffaugment import POLICIES, AdaptiveAugment, diff_augment, parse_policy
from gig_core.training.losses import LOSSES

GENERATOR_FILE = "generator.pt"
LOSSES_FILE = "losses.csv"
SUMMARY_FILE = "train.json"
GRID_FILE = "grid.png"
LOSS_COLUMNS = ["step", "loss_d", "loss_g", "d_real", "d_fake", "augment_p"]


class TrainingDiverged(GigError):
    """Losses went NaN or infinite; the last good checkpoint is kept."""


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
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


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


def train(config: TrainConfig, progress: bool = True) -> dict:
    """Train a generator as `config` says and write the train stage outputs to config.out_dir."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    out = Path(config.out_dir)
    (out / "samples").mkdir(parents=True, exist_ok=True)

    arch = architecture_for(config, config.data_dir)
    data = load_split(config.data_dir, "train")
    data.labels = {a: data.labels[a] for a in arch.vocab}
    generator, discriminator = build_generator(arch), build_discriminator(arch)
    ema = copy.deepcopy(generator).eval()
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    loss = LOSSES[family(config.model).loss]
    batches = BatchSampler(data, config.batch_size, config.seed)
    augment = build_augment(config.augment)
    policy = parse_policy(config.augment.diffaugment)
    ada = None
    if config.augment.ada_target > 0:
        policy = policy or list(POLICIES)
        ada = AdaptiveAugment(config.augment.ada_target, config.augment.ada_interval, config.augment.ada_kimg,
                              config.batch_size)

    step, history = 0, []
    if config.resume:
        state = load_checkpoint(config.resume)
        if state["arch"] != arch.to_dict():
            raise ValueError(f"{config.resume} was trained with another architecture: {state['arch']}")
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        if ada is not None:
            ada.load_state_dict(state["ada"])
        step, history = state["step"], state["history"]

    grid_z_seed = config.seed + 1
    grid_labels = class_grid_labels(arch, config.grid_columns, data.labels, seed=config.seed)
    grid_count = config.grid_columns * (len(next(iter(arch.vocab.values()))) if arch.conditional else config.grid_columns)
    bundle = GeneratorBundle(ema, arch)

    def write_grid(path: Path) -> None:
        images = bundle.sample(grid_count, grid_labels, seed=grid_z_seed)  # (rows * cols, 3, R, R) uint8
        save_png(grid_image(images, config.grid_columns), path)

    started, start_step = time.perf_counter(), step
    bar = tqdm(total=config.steps, initial=step, desc=f"train {config.model}", unit="step", disable=not progress)
    generator.train(), discriminator.train()
    while step < config.steps:
        real_u8, labels = batches.next()
        real = to_float(augment_batch(real_u8, augment))  # (B, 3, R, R) in [-1, 1]
        z = torch.randn(real.shape[0], arch.z_dim)
        fake = generator(z, labels)  # (B, 3, R, R)

        p = ada.p if ada is not None else 1.0
        d_real = discriminator(diff_augment(real, policy, p), labels)  # (B,)
        d_fake = discriminator(diff_augment(fake.detach(), policy, p), labels)  # (B,)
        loss_d = loss.discriminator(d_real, d_fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_g = loss.generator(discriminator(diff_augment(fake, policy, p), labels))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        step += 1
        update_ema(ema, generator, min(config.ema_decay, (1 + step) / (10 + step)))
        if ada is not None:
            ada.observe(d_real)
            ada.update(step)

        if step % config.log_every == 0 or step == config.steps:
            row = [step, loss_d.item(), loss_g.item(), d_real.mean().item(), d_fake.mean().item(), p if policy else 0.0]
            if not all(math.isfinite(v) for v in row):
                raise TrainingDiverged(
                    f"losses are not finite at step {step} ({dict(zip(LOSS_COLUMNS, row))}); "
                    f"lower the learning rates or resume from an earlier checkpoint"
                )
            history.append(row)
            bar.set_postfix(loss_d=f"{row[1]:.3f}", loss_g=f"{row[2]:.3f}")
        if step % config.sample_every == 0:
            write_grid(out / "samples" / f"step_{step:06d}.png")
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - started

    save_checkpoint(out / CHECKPOINT_FILE, {
        "step": step, "arch": arch.to_dict(), "config": asdict(config), "history": history,
        "generator": generator.state_dict(), "discriminator": discriminator.state_dict(), "ema": ema.state_dict(),
        "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
        "batches": batches.state_dict(), "torch_rng": torch.get_rng_state(),
        "ada": ada.state_dict() if ada is not None else {},
    })
    bundle.save(out / GENERATOR_FILE)
    write_grid(out / GRID_FILE)
    with atomic_file(out / LOSSES_FILE, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LOSS_COLUMNS)
        writer.writerows([[r[0], *(f"{v:.5f}" for v in r[1:])] for r in history])
    summary = {
        "model": config.model, "steps": step, "resolution": arch.resolution,
        "images_per_second": round((step - start_step) * config.batch_size / max(seconds, 1e-9), 1),
        "grid": str(out / GRID_FILE), "grid_rows": list(next(iter(arch.vocab.values()))) if arch.conditional else [],
        "condition_on": list(arch.vocab),
        "augment_p": ada.p if ada is not None else (1.0 if policy else 0.0),
    }
    write_json(out / SUMMARY_FILE, summary)
    return summary
