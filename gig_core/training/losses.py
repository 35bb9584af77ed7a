"""Every loss in one place: GAN losses over logits, the gradient penalties, the ELBO with KL
annealing, and VAE-GAN feature matching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GanLoss:
    real: Callable[[torch.Tensor], torch.Tensor]  # D's term for logits it must call real -> scalar
    fake: Callable[[torch.Tensor], torch.Tensor]  # D's term for logits it must call fake (samples, wrong-title pairs)
    generator: Callable[[torch.Tensor], torch.Tensor]  # fake logits -> scalar

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's loss on (real logits, fake logits)."""
        return self.real(real) + self.fake(fake)


GAN_LOSSES: dict[str, GanLoss] = {
    # Goodfellow et al. 2014, with the non-saturating generator loss.
    "non_saturating": GanLoss(
        real=lambda real: F.softplus(-real).mean(),
        fake=lambda fake: F.softplus(fake).mean(),
        generator=lambda fake: F.softplus(-fake).mean(),
    ),
    # Lim & Ye 2017; the usual pairing with spectral norm and projection discriminators.
    "hinge": GanLoss(
        real=lambda real: F.relu(1.0 - real).mean(),
        fake=lambda fake: F.relu(1.0 + fake).mean(),
        generator=lambda fake: -fake.mean(),
    ),
    # Arjovsky et al. 2017; pair with the gradient penalty below (WGAN-GP).
    "wasserstein": GanLoss(
        real=lambda real: -real.mean(),
        fake=lambda fake: fake.mean(),
        generator=lambda fake: -fake.mean(),
    ),
}


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)|| - 1)^2 at random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)  # (B, 3, R, R)
    (grad,) = torch.autograd.grad(critic(mixed, labels).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(critic: nn.Module, real: torch.Tensor, labels) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): squared gradient norm of D on real images, halved."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real, labels).sum(), real, create_graph=True)
    return 0.5 * grad.flatten(1).pow(2).sum(dim=1).mean()


class LeCam:
    """LeCam regularisation (Tseng et al. 2021): keeps D's outputs on real images near the moving average of its
    outputs on fakes, and the other way round, so that D cannot run away from G on a small catalog.

    Penalty: mean(relu(D(real) - ema_fake)^2) + mean(relu(ema_real - D(fake))^2), the EMAs of the batch means.
    """

    def __init__(self, decay: float = 0.99):
        self.decay = decay
        self.ema_real = self.ema_fake = None  # floats once the first batch is seen

    def __call__(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """(B,), (B,) logits -> () penalty; updates the averages from this batch first."""
        real, fake = float(d_real.detach().mean()), float(d_fake.detach().mean())
        first = self.ema_real is None
        self.ema_real = real if first else self.decay * self.ema_real + (1 - self.decay) * real
        self.ema_fake = fake if first else self.decay * self.ema_fake + (1 - self.decay) * fake
        return (torch.relu(d_real - self.ema_fake).pow(2).mean()
                + torch.relu(self.ema_real - d_fake).pow(2).mean())

    def state_dict(self) -> dict:
        return {"ema_real": self.ema_real, "ema_fake": self.ema_fake}

    def load_state_dict(self, state: dict) -> None:
        self.ema_real, self.ema_fake = state["ema_real"], state["ema_fake"]


REGULARIZERS = ("none", "r1", "gp")


def mode_seeking_ratio(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN (Mao et al. 2019): mean |G(z1, c) - G(z2, c)| / mean |z1 - z2| over the pairs (i, i + B/2).

    How far an image moves per unit of noise when only the noise changes; near 0 means the
    generator ignores z. The trainer adds weight / (ratio + eps) to the generator loss.
    """
    half = fake.shape[0] // 2
    images = (fake[:half] - fake[half:2 * half]).abs().flatten(1).mean(1)  # (B/2,)
    noise = (z[:half] - z[half:2 * half]).abs().flatten(1).mean(1)
    return (images / noise).mean()


def classification_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """AC-GAN's auxiliary term: cross-entropy of {attribute: (B, K) logits} with the labels, summed over attributes."""
    return sum(F.cross_entropy(classes.float(), labels[a]) for a, classes in logits.items())


def reconstruction_error(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over pixels, averaged over the batch (a Gaussian log-likelihood)."""
    return (recon - target).pow(2).flatten(1).sum(dim=1).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)), summed over z, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def kl_weight(step: int, weight: float, anneal_steps: int) -> float:
    """Linear KL annealing from 0 to `weight` over the first `anneal_steps` steps."""
    return weight * min(1.0, step / anneal_steps) if anneal_steps > 0 else weight


def elbo_loss(recon, target, mu, logvar, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(negative ELBO with KL weight beta, reconstruction term, KL term)."""
    rec, kl = reconstruction_error(recon, target), kl_divergence(mu, logvar)
    return rec + beta * kl, rec, kl


def feature_matching(features: nn.Module, real: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """VAE-GAN's learned similarity: squared error between discriminator features, per image."""
    return (features(recon) - features(real).detach()).pow(2).flatten(1).sum(dim=1).mean()
