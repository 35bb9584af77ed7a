"""One `gig train` (or Kubeflow train step) on N devices: one process per GPU, through torchrun.

`train.processes` (0 = one per visible GPU, one on a CPU) decides. With more than one, the
resolved config is written beside the outputs and `torchrun --standalone --nproc_per_node N`
runs `gig train` on it in N processes (NCCL on GPUs, gloo on CPU). Each process trains on its
own batches of `train.batch_size` images, so one step sees N x batch_size images; gradients are
averaged across processes (DistributedDataParallel), and `steps` counts optimizer steps, which
is why N processes finish the same `steps` N times faster on N times the images. Rank 0 writes
every output. SIGTERM (Kubernetes preemption) is passed on, so every rank checkpoints and the
step exits with 143, as a single process does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import torch
import yaml

from gig_core.atomic import atomic_file
from gig_core.config import TrainConfig
from gig_core.errors import GigError
from gig_core.layout import TrainOutputs
from gig_core.training.trainer import PREEMPTED_EXIT_CODE, Preempted, train


class LaunchFailed(GigError):
    """A process of a multi-process training run failed."""


def process_count(config: TrainConfig) -> int:
    """How many training processes: train.processes, or one per visible GPU when it is 0."""
    if config.processes:
        return config.processes
    wants_gpu = config.device == "auto" or config.device.startswith("cuda")
    return max(1, torch.cuda.device_count()) if wants_gpu and torch.cuda.is_available() else 1


def torchrun_command(config: TrainConfig, params_file: Path, processes: int, quiet: bool) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "gig_core.cli", "train", "--params", str(params_file), *(["--quiet"] if quiet else [])]


def launch_training(config: TrainConfig, progress: bool = True) -> dict:
    """Train in this process, or in `process_count` processes under torchrun; returns train.json's summary."""
    if "WORLD_SIZE" in os.environ:  # already a torchrun worker: one of the processes, on one node or several
        return train(config, progress)
    if config.nodes > 1:
        raise LaunchFailed(
            f"train.nodes is {config.nodes}: several nodes train through the Kubeflow pipeline's train step (a "
            f"TrainJob) or under your own `torchrun --nnodes {config.nodes}`; on this machine set train.nodes: 1"
        )
    processes = process_count(config)
    if processes <= 1:
        return train(config, progress)
    files = TrainOutputs(config.out_dir)
    params_file = files.launch_params
    with atomic_file(params_file, "w") as handle:  # the workers read exactly this config, nothing else
        yaml.safe_dump({"train": {**asdict(config), "processes": processes}}, handle, sort_keys=False)
    worker = subprocess.Popen(torchrun_command(config, params_file, processes, quiet=not progress),
                              env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    preempted = []

    def pass_on(signum, frame) -> None:  # torchrun stops every worker with SIGTERM; each checkpoints first
        preempted.append(signum)
        worker.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, pass_on)
    try:
        code = worker.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code != 0 and preempted:
        raise Preempted(PREEMPTED_EXIT_CODE)
    if code != 0:
        raise LaunchFailed(
            f"training in {processes} processes failed (torchrun exit code {code}); its output is above. "
            f"Resume with `gig train --resume auto` once fixed"
        )
    return json.loads(files.summary.read_text())
