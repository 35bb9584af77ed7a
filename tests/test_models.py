import pytest
import torch

from gig_core.models import FAMILIES, Architecture, build_generator, build_parts
from gig_core.models.vae import encode


@pytest.mark.parametrize("resolution", [32, 64, 128])
@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_every_family_builds_at_every_resolution(model, resolution):
    vocab = {"articleType": ["a", "b", "c"], "baseColour": ["x", "y"]} if FAMILIES[model].conditional else {}
    arch = Architecture(
        model=model, resolution=resolution, z_dim=16, g_channels=8, d_channels=8, embed_dim=4, vocab=vocab
    )
    parts = build_parts(arch)
    labels = {a: torch.randint(len(v), (2,)) for a, v in vocab.items()}
    if FAMILIES[model].titled:  # title vectors of the default title encoder
        labels["title"] = torch.nn.functional.normalize(torch.randn(2, 64), dim=1)
    images = parts["generator"](torch.randn(2, 16), labels)
    assert images.shape == (2, 3, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    if "discriminator" in parts:
        assert parts["discriminator"](images, labels).shape == (2,)
    if "encoder" in parts:
        code = parts["encoder"](images)
        assert code.shape == (2, 32 if model in ("vae", "vaegan") else 16)
    assert type(build_generator(arch)) is type(parts["generator"])


def test_conditional_batch_norm_makes_the_label_matter():
    arch = Architecture(
        model="cgan", resolution=32, z_dim=8, g_channels=8, d_channels=8, embed_dim=4, vocab={"articleType": ["a", "b"]}
    )
    generator = build_generator(arch).eval()
    for norm in generator.body.norms:
        torch.nn.init.normal_(norm.gamma["articleType"].weight)
    z = torch.randn(1, 8).repeat(2, 1)
    images = generator(z, {"articleType": torch.tensor([0, 1])})
    assert not torch.allclose(images[0], images[1])


def test_vae_encoder_gives_mean_and_bounded_log_variance():
    arch = Architecture(model="vae", resolution=32, z_dim=8, g_channels=8, d_channels=8)
    mu, logvar = encode(build_parts(arch)["encoder"], torch.randn(3, 3, 32, 32))
    assert mu.shape == logvar.shape == (3, 8) and logvar.max() <= 20


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model family 'vqgan'"):
        build_generator(Architecture(model="vqgan", resolution=32, z_dim=8, g_channels=8, d_channels=8))


def test_hcgan_feeds_the_noise_to_every_block():
    """Changing only the z chunk of one block changes the image: no block can be indifferent to z."""
    arch = Architecture(
        model="hcgan",
        resolution=32,
        z_dim=16,
        g_channels=8,
        d_channels=8,
        embed_dim=4,
        vocab={"articleType": ["a", "b"], "baseColour": ["x", "y", "z"]},
    )
    generator = build_generator(arch).train()  # batch statistics: an untrained net's running ones flatten everything
    labels = {"articleType": torch.tensor([1, 1]), "baseColour": torch.tensor([2, 2])}
    chunk = generator.chunk
    for block in range(len(generator.blocks)):
        z = torch.randn(1, 16).repeat(2, 1)
        start = 16 - (len(generator.blocks) - block) * chunk
        z[1, start : start + chunk] = torch.randn(chunk)
        images = generator(z, labels)
        assert not torch.allclose(images[0], images[1]), f"block {block} ignores its z chunk"
    assert generator(torch.randn(4, 16), {a: t.repeat(2) for a, t in labels.items()}).shape == (4, 3, 32, 32)
