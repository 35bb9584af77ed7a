"""Generator families, built by name from a dict of builders.

Every family builds a dict of parts; "generator" is always there and is what gets sampled
and registered (for the VAE family it is the decoder). An `Architecture` is everything
needed to rebuild a model without the training config, so a registered generator loads
anywhere from its weights and this small record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from torch import nn

from gig_core.models.autoencoder import build_autoencoder
from gig_core.models.cgan import ConditionalGenerator, ProjectionDiscriminator
from gig_core.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gig_core.models.hcgan import HierarchicalGenerator
from gig_core.models.tgan import TitleConditioning
from gig_core.models.vae import build_vae, build_vaegan
from gig_core.models.wgan import build_wgan
from gig_core.text.encoder import TitleEncoderSpec


@dataclass
class Architecture:
    model: str
    resolution: int
    z_dim: int
    g_channels: int
    d_channels: int
    embed_dim: int = 0
    vocab: dict[str, list[str]] = field(default_factory=dict)  # conditioning attribute -> class names
    classifier: bool = False  # the discriminator has auxiliary classifier heads (train.class_weight > 0)
    # The title encoder's spec (text/encoder.py) when the generator takes titles (tgan); the vocab then
    # names the attributes its samples are gridded and judged by, not inputs.
    text_encoder: dict = field(default_factory=dict)

    @property
    def vocab_sizes(self) -> dict[str, int]:
        return {a: len(v) for a, v in self.vocab.items()}

    @property
    def conditional(self) -> bool:
        return bool(self.vocab)

    @property
    def titled(self) -> bool:
        """Whether the generator is asked with a product title (labels["title"]) instead of attribute values."""
        return bool(self.text_encoder)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Family:
    build: Callable[[Architecture], dict[str, nn.Module]]
    objective: str  # key of gig_core.training.objectives.OBJECTIVES
    loss: str = ""  # key of gig_core.training.losses.GAN_LOSSES, for adversarial families
    conditional: bool = False
    titled: bool = False  # conditioned on product titles (text/encoder.py) rather than attribute classes


def build_tgan(a: Architecture) -> dict[str, nn.Module]:
    spec = TitleEncoderSpec(**a.text_encoder)
    return {
        "generator": HierarchicalGenerator(a.z_dim, a.g_channels, a.resolution, {}, a.embed_dim,
                                           title=TitleConditioning(spec, a.embed_dim)),
        "discriminator": ProjectionDiscriminator(a.d_channels, a.resolution, {}, text_dim=spec.dim),
    }


FAMILIES: dict[str, Family] = {
    "dcgan": Family(
        build=lambda a: {
            "generator": DCGANGenerator(a.z_dim, a.g_channels, a.resolution),
            "discriminator": DCGANDiscriminator(a.d_channels, a.resolution),
        },
        objective="gan",
        loss="non_saturating",
    ),
    "cgan": Family(
        build=lambda a: {
            "generator": ConditionalGenerator(a.z_dim, a.g_channels, a.resolution, a.vocab_sizes, a.embed_dim),
            "discriminator": ProjectionDiscriminator(a.d_channels, a.resolution, a.vocab_sizes, a.classifier),
        },
        objective="gan",
        loss="hinge",
        conditional=True,
    ),
    "hcgan": Family(
        build=lambda a: {
            "generator": HierarchicalGenerator(a.z_dim, a.g_channels, a.resolution, a.vocab_sizes, a.embed_dim),
            "discriminator": ProjectionDiscriminator(a.d_channels, a.resolution, a.vocab_sizes, a.classifier),
        },
        objective="gan",
        loss="hinge",
        conditional=True,
    ),
    "tgan": Family(build=build_tgan, objective="gan", loss="hinge", conditional=True, titled=True),
    "wgan-gp": Family(
        build=lambda a: build_wgan(a.z_dim, a.g_channels, a.d_channels, a.resolution),
        objective="gan",
        loss="wasserstein",
    ),
    "vae": Family(build=lambda a: build_vae(a.z_dim, a.g_channels, a.resolution), objective="vae"),
    "vaegan": Family(
        build=lambda a: build_vaegan(a.z_dim, a.g_channels, a.d_channels, a.resolution),
        objective="vaegan",
        loss="non_saturating",
    ),
    "autoencoder": Family(
        build=lambda a: build_autoencoder(a.z_dim, a.g_channels, a.resolution), objective="autoencoder"
    ),
}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def build_parts(arch: Architecture) -> dict[str, nn.Module]:
    return family(arch.model).build(arch)


def build_generator(arch: Architecture) -> nn.Module:
    return build_parts(arch)["generator"]
