"""What one training step of each family does. The trainer owns everything else (data,
EMA, mixed precision, checkpoints, guards, logging, distribution); an objective owns its
optimizers and turns a batch into parameter updates and a row of scalars to log.

Non-adversarial families report loss_d = 0 so every run has the same loss columns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from gig_core.config import TrainConfig
from gig_core.models.vae import encode, reparameterize
from gig_core.training.losses import (
    GAN_LOSSES,
    LeCam,
    classification_loss,
    elbo_loss,
    feature_matching,
    gradient_penalty,
    kl_divergence,
    kl_weight,
    mode_seeking_ratio,
    r1_penalty,
    reconstruction_error,
)

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]  # (B, 3, R, R) float in [-1, 1], labels


def _grad_norm(params) -> torch.Tensor:
    params = list(params)
    grads = [p.grad.detach() for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=params[0].device)


def _unwrap(module: nn.Module) -> nn.Module:
    """The plain model under torch.compile's and DistributedDataParallel's wrappers."""
    module = getattr(module, "_orig_mod", module)
    return getattr(module, "module", module)


def paired_labels(labels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The first half of a batch's labels, twice: (B,) -> (B,) with row i + B/2 equal to row i."""
    half = next(iter(labels.values())).shape[0] // 2
    return {a: torch.cat([t[:half], t[:half], t[2 * half:]]) for a, t in labels.items()}


def mismatched_titles(labels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch's labels with every row's title vector replaced by the next row's: (B, D) -> (B, D)."""
    return {**labels, "title": labels["title"].roll(1, dims=0)}


class Objective:
    columns: tuple[str, ...] = ("loss_d", "loss_g")

    def __init__(self, parts: dict[str, nn.Module], config: TrainConfig, loss: str):
        self.parts, self.config = parts, config
        self.gan_loss = GAN_LOSSES[loss] if loss else None
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def adam(self, modules: list[nn.Module], lr: float) -> torch.optim.Optimizer:
        params = [p for m in modules for p in m.parameters()]
        # fused: one kernel for all parameters instead of a dozen per parameter (CPU and CUDA)
        return torch.optim.Adam(params, lr=lr, betas=(self.config.beta1, self.config.beta2), fused=True)

    def step(
        self,
        step: int,
        next_batch: Callable[[], Batch],
        augment: Callable[[torch.Tensor], torch.Tensor],
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Update the models once; returns (scalars to log, D's logits on real images or None)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        """Optimizer state from a checkpoint; learning rates come from the config, so a resume can lower them."""
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])
            for group in opt.param_groups:
                group["lr"] = self.config.lr_d if name == "d" else self.config.lr_g


class GanObjective(Objective):
    """DCGAN, conditional GAN, WGAN-GP: d_steps critic updates (each on a fresh batch), one G update."""

    columns = ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")

    def __init__(self, parts, config, loss):
        super().__init__(parts, config, loss)
        if config.diversity_weight > 0:
            self.columns = (*self.columns, "z_spread")  # the mode-seeking ratio, logged while it is trained on
        if config.class_weight > 0:
            self.columns = (*self.columns, "class_d", "class_g")  # the auxiliary classification losses
        if config.mismatch_weight > 0:
            self.columns = (*self.columns, "d_mismatch")  # D's mean logit on real photos under wrong titles
        self.optimizers = {
            "g": self.adam([parts["generator"]], config.lr_g),
            "d": self.adam([parts["discriminator"]], config.lr_d),
        }
        self.lecam = LeCam(config.lecam_decay) if config.lecam_weight > 0 else None

    def state_dict(self) -> dict:
        return {**super().state_dict(), **({"lecam": self.lecam.state_dict()} if self.lecam else {})}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "lecam"})
        if self.lecam and "lecam" in state:  # a checkpoint from before LeCam was turned on starts its averages anew
            self.lecam.load_state_dict(state["lecam"])

    def step(self, step, next_batch, augment, autocast):
        G, D, cfg = self.parts["generator"], self.parts["discriminator"], self.config
        seek_modes, classify, mismatch = cfg.diversity_weight > 0, cfg.class_weight > 0, cfg.mismatch_weight > 0
        for critic_step in range(cfg.d_steps):
            real, real_labels = next_batch()
            z = torch.randn(real.shape[0], _unwrap(G).z_dim, device=real.device)
            # With the diversity term, fakes come in pairs (i, i + B/2) that share labels and differ in z.
            labels = paired_labels(real_labels) if seek_modes else real_labels
            last = critic_step == cfg.d_steps - 1
            with autocast():
                with contextlib.nullcontext() if last else torch.no_grad():
                    fake = G(z, labels)  # (B, 3, R, R); the last one is reused for the G step
                if classify:  # D also names the attributes of the real photos (AC-GAN)
                    d_real, classes = D(augment(real), real_labels, classify=True)
                    class_d = classification_loss(classes, real_labels)
                else:
                    d_real = D(augment(real), real_labels)
                d_real = d_real.float()  # (B,)
                d_fake = D(augment(fake.detach()), labels).float()
                loss_d = self.gan_loss.discriminator(d_real, d_fake)
                if self.lecam:
                    loss_d = loss_d + cfg.lecam_weight * self.lecam(d_real, d_fake)
                if classify:
                    loss_d = loss_d + cfg.class_weight * class_d
                if mismatch:  # GAN-CLS: each real photo under the next photo's title must look fake
                    d_wrong = D(augment(real), mismatched_titles(real_labels)).float()  # (B,)
                    loss_d = loss_d + cfg.mismatch_weight * self.gan_loss.fake(d_wrong)
            if cfg.regularizer == "gp":
                loss_d = loss_d + cfg.reg_weight * gradient_penalty(D, real, fake.detach().float(), labels)
            elif cfg.regularizer == "r1":
                loss_d = loss_d + cfg.reg_weight * r1_penalty(D, real, real_labels)
            self.optimizers["d"].zero_grad(set_to_none=True)
            loss_d.backward()
            grad_norm_d = _grad_norm(D.parameters())
            self.optimizers["d"].step()

        # D only passes gradients through to G here: frozen, it skips its own weight gradients,
        # and unwrapped from DDP, it skips an all-reduce of gradients nobody uses.
        critic = _unwrap(D).requires_grad_(False)
        with autocast():
            if classify:  # G makes samples that D names as their labels
                d_fake_g, classes = critic(augment(fake), labels, classify=True)
                class_g = classification_loss(classes, labels)
                loss_g = self.gan_loss.generator(d_fake_g.float()) + cfg.class_weight * class_g
            else:
                loss_g = self.gan_loss.generator(critic(augment(fake), labels).float())
        if seek_modes:
            spread = mode_seeking_ratio(fake.float(), z)
            loss_g = loss_g + cfg.diversity_weight / (spread + 1e-5)
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        critic.requires_grad_(True)
        grad_norm_g = _grad_norm(G.parameters())
        self.optimizers["g"].step()
        row = dict(
            loss_d=loss_d,
            loss_g=loss_g,
            d_real=d_real.mean(),
            d_fake=d_fake.mean(),
            grad_norm_d=grad_norm_d,
            grad_norm_g=grad_norm_g,
        )
        if seek_modes:
            row["z_spread"] = spread
        if classify:
            row.update(class_d=class_d, class_g=class_g)
        if mismatch:
            row["d_mismatch"] = d_wrong.mean()
        return {k: v.detach() for k, v in row.items()}, d_real.detach()


class AutoencoderObjective(Objective):
    """The reconstruction baseline: squared error of decode(encode(x))."""

    columns = ("loss_d", "loss_g", "recon_mse", "grad_norm_g")

    def __init__(self, parts, config, loss):
        super().__init__(parts, config, loss)
        self.optimizers = {"g": self.adam([parts["encoder"], parts["generator"]], config.lr_g)}

    def step(self, step, next_batch, augment, autocast):
        real, labels = next_batch()
        with autocast():
            recon = self.parts["generator"](self.parts["encoder"](real)).float()  # (B, 3, R, R)
        loss = reconstruction_error(recon, real)
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(self.parts["generator"].parameters())
        self.optimizers["g"].step()
        row = dict(
            loss_d=torch.zeros((), device=real.device),
            loss_g=loss,
            recon_mse=(recon - real).pow(2).mean(),
            grad_norm_g=grad_norm,
        )
        return {k: v.detach() for k, v in row.items()}, None


class VaeObjective(Objective):
    """Negative ELBO with the KL term annealed in over kl_anneal_steps."""

    columns = ("loss_d", "loss_g", "recon_mse", "kl", "beta", "grad_norm_g")

    def __init__(self, parts, config, loss):
        super().__init__(parts, config, loss)
        self.optimizers = {"g": self.adam([parts["encoder"], parts["generator"]], config.lr_g)}

    def step(self, step, next_batch, augment, autocast):
        real, labels = next_batch()
        beta = kl_weight(step, self.config.kl_weight, self.config.kl_anneal_steps)
        with autocast():
            mu, logvar = encode(self.parts["encoder"], real)
            recon = self.parts["generator"](reparameterize(mu, logvar)).float()  # (B, 3, R, R)
        loss, _, kl = elbo_loss(recon, real, mu.float(), logvar.float(), beta)
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(self.parts["generator"].parameters())
        self.optimizers["g"].step()
        row = dict(
            loss_d=torch.zeros((), device=real.device),
            loss_g=loss,
            recon_mse=(recon - real).pow(2).mean(),
            kl=kl,
            beta=torch.tensor(beta, device=real.device),
            grad_norm_g=grad_norm,
        )
        return {k: v.detach() for k, v in row.items()}, None


class VaeGanObjective(Objective):
    """Larsen et al. 2016: reconstruct in discriminator feature space; D sees real, recon and samples."""

    columns = ("loss_d", "loss_g", "recon_mse", "kl", "feature_match", "d_real", "grad_norm_d", "grad_norm_g")

    def __init__(self, parts, config, loss):
        super().__init__(parts, config, loss)
        self.optimizers = {
            "e": self.adam([parts["encoder"]], config.lr_g),
            "g": self.adam([parts["generator"]], config.lr_g),
            "d": self.adam([parts["discriminator"]], config.lr_d),
        }

    def step(self, step, next_batch, augment, autocast):
        E, G, D, cfg = self.parts["encoder"], self.parts["generator"], self.parts["discriminator"], self.config
        real, labels = next_batch()
        beta = kl_weight(step, cfg.kl_weight, cfg.kl_anneal_steps)
        with autocast():
            mu, logvar = encode(E, real)
            recon = G(reparameterize(mu, logvar))  # (B, 3, R, R)
            fake = G(torch.randn_like(mu))
            d_real = D(augment(real)).float()
            d_recon, d_fake = D(augment(recon.detach())).float(), D(augment(fake.detach())).float()
            loss_d = self.gan_loss.discriminator(d_real, d_recon) + self.gan_loss.discriminator(d_real, d_fake)
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        grad_norm_d = _grad_norm(D.parameters())
        self.optimizers["d"].step()

        with autocast():
            features = _unwrap(D).features
            match = feature_matching(features, real, recon).float()
            adversarial = self.gan_loss.generator(D(augment(recon)).float()) + self.gan_loss.generator(
                D(augment(fake)).float()
            )
        kl = kl_divergence(mu.float(), logvar.float())
        loss_e = beta * kl + match
        loss_g = cfg.feature_match_weight * match + adversarial
        e_params, g_params = list(E.parameters()), list(G.parameters())
        e_grads = torch.autograd.grad(loss_e, e_params, retain_graph=True)
        g_grads = torch.autograd.grad(loss_g, g_params)
        for params, grads in ((e_params, e_grads), (g_params, g_grads)):
            for p, grad in zip(params, grads):
                p.grad = grad
        grad_norm_g = _grad_norm(g_params)
        self.optimizers["e"].step()
        self.optimizers["g"].step()
        row = dict(
            loss_d=loss_d,
            loss_g=loss_g,
            recon_mse=(recon.float() - real).pow(2).mean(),
            kl=kl,
            feature_match=match,
            d_real=d_real.mean(),
            grad_norm_d=grad_norm_d,
            grad_norm_g=grad_norm_g,
        )
        return {k: v.detach() for k, v in row.items()}, d_real.detach()


OBJECTIVES: dict[str, type[Objective]] = {
    "gan": GanObjective,
    "autoencoder": AutoencoderObjective,
    "vae": VaeObjective,
    "vaegan": VaeGanObjective,
}
