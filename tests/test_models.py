import pytest
import torch

from gig_core.models import FAMILIES, Architecture, build_discriminator, build_generator


@pytest.mark.parametrize("resolution", [32, 64, 128])
@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_every_family_builds_at_every_resolution(model, resolution):
    vocab = {"articleType": ["a", "b", "c"], "baseColour": ["x", "y"]} if FAMILIES[model].conditional else {}
    arch = Architecture(model=model, resolution=resolution, z_dim=16, g_channels=8, d_channels=8, embed_dim=4, vocab=vocab)
    generator, discriminator = build_generator(arch), build_discriminator(arch)
    labels = {a: torch.randint(len(v), (2,)) for a, v in vocab.items()}
    images = generator(torch.randn(2, 16), labels)
    assert images.shape == (2, 3, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images, labels).shape == (2,)


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model family 'vqgan'"):
        build_generator(Architecture(model="vqgan", resolution=32, z_dim=8, g_channels=8, d_channels=8))
