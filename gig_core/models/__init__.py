"""Generator families, built by name from a dict of builders.

An `Architecture` is everything needed to rebuild a model without the training config, so a
registered generator can be loaded anywhere from its weights and this small record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from torch import nn

from gig_core.models.cgan import ConditionalGenerator, ProjectionDiscriminator
from gig_core.models.dcgan import DCGANDiscriminator, DCGANGenerator


@dataclass
class Architecture:
    model: str
    resolution: int
    z_dim: int
    g_channels: int
    d_channels: int
    embed_dim: int = 0
    vocab: dict[str, list[str]] = field(default_factory=dict)  # conditioning attribute -> class names

    @property
    def vocab_sizes(self) -> dict[str, int]:
        return {a: len(v) for a, v in self.vocab.items()}

    @property
    def conditional(self) -> bool:
        return bool(self.vocab)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GanFamily:
    generator: Callable[[Architecture], nn.Module]
    discriminator: Callable[[Architecture], nn.Module]
    loss: str  # key of gig_core.training.losses.LOSSES
    conditional: bool


FAMILIES: dict[str, GanFamily] = {
    "dcgan": GanFamily(
        generator=lambda a: DCGANGenerator(a.z_dim, a.g_channels, a.resolution),
        discriminator=lambda a: DCGANDiscriminator(a.d_channels, a.resolution),
        loss="non_saturating",
        conditional=False,
    ),
    "cgan": GanFamily(
        generator=lambda a: ConditionalGenerator(a.z_dim, a.g_channels, a.resolution, a.vocab_sizes, a.embed_dim),
        discriminator=lambda a: ProjectionDiscriminator(a.d_channels, a.resolution, a.vocab_sizes),
        loss="hinge",
        conditional=True,
    ),
}


def family(name: str) -> GanFamily:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def build_generator(arch: Architecture) -> nn.Module:
    return family(arch.model).generator(arch)


def build_discriminator(arch: Architecture) -> nn.Module:
    return family(arch.model).discriminator(arch)
