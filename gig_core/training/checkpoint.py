"""Training checkpoints: everything needed to resume, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from gig_core.atomic import atomic_file

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write the whole training state; a crash mid-write leaves the previous checkpoint."""
    with atomic_file(path) as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_parts(path: str | Path) -> dict[str, nn.Module]:
    """Every trained part of a checkpoint (generator, discriminator, encoder), rebuilt on the CPU."""
    from gig_core.models import Architecture, build_parts

    state = load_checkpoint(path)
    parts = build_parts(Architecture(**state["arch"]))
    for name, part in parts.items():
        part.load_state_dict(state["parts"][name])
    return parts
