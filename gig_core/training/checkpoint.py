"""Training checkpoints: everything needed to resume, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from gig_core.atomic import atomic_file
from gig_core.torch_files import read_torch_file


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write the whole training state; a crash mid-write leaves the previous checkpoint."""
    with atomic_file(path) as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    return read_torch_file(path, "training checkpoint", "delete it to start fresh (train.resume: ''), or resume from "
                                                        "another checkpoint")


def load_parts(path: str | Path) -> dict[str, nn.Module]:
    """Every trained part of a checkpoint (generator, discriminator, encoder), rebuilt on the CPU."""
    from gig_core.models import Architecture, build_parts

    state = load_checkpoint(path)
    parts = build_parts(Architecture(**state["arch"]))
    for name, part in parts.items():
        part.load_state_dict(state["parts"][name])
    return parts
