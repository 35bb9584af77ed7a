"""Feature extractors for FID/KID, all runnable offline.

- `catalog` (default): a small CNN classifier trained on the catalog's own labels; its
  penultimate layer is the feature space. Trained once per catalog version and cached.
- `inception`: the standard FID InceptionV3 (torchmetrics / torch-fidelity), from a local
  weights file only; it is never downloaded at run time.
- `torchscript`: any TorchScript model given by path, (B, 3, H, W) float in [0, 1] -> (B, F),
  so a team can plug in the embedding network it already trusts.

Features of the real images are cached per (catalog version, split, extractor, resolution):
re-scoring the champion on the same catalog costs only generating its samples.
"""

from __future__ import annotations

import os
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
from gig_core.sampling import to_float

CATALOG_RECIPE = 2  # bump when _fit_catalog_extractor changes: extractors and features cached by another are not reused
INCEPTION_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_ENV = "GIG_INCEPTION_WEIGHTS"  # set by the Docker image, which fetches the file at build time


def inception_weights_path(config: EvaluateConfig) -> str:
    """evaluate.inception_weights, or else $GIG_INCEPTION_WEIGHTS."""
    return config.inception_weights or os.environ.get(INCEPTION_WEIGHTS_ENV, "")


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


class InceptionFeatureExtractor(nn.Module):
    """(B, 3, H, W) uint8 -> (B, 2048) pool features of the FID InceptionV3, from local weights."""

    num_features = 2048

    def __init__(self, weights_path: str):
        super().__init__()
        path = Path(weights_path) if weights_path else None
        if path is None or not path.is_file():
            raise FeatureExtractorError(
                f"feature_extractor 'inception' needs evaluate.inception_weights (or ${INCEPTION_WEIGHTS_ENV}) to "
                f"point at a local copy of {INCEPTION_WEIGHTS_NAME} (torch-fidelity's FID InceptionV3 weights); "
                f"{'none was configured' if path is None else f'no file at {path}'}. GIG never downloads weights at "
                f"run time: copy the file from a machine with network access, "
                f"or use feature_extractor: catalog."
            )
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # (B, 2048)


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


def build_extractor(config: EvaluateConfig, progress: bool = True) -> nn.Module:
    builders = {
        "catalog": lambda: catalog_extractor(config, progress),
        "inception": lambda: InceptionFeatureExtractor(inception_weights_path(config)).eval(),
        "torchscript": lambda: TorchScriptFeatureExtractor(config.torchscript_extractor).eval(),
    }
    if config.feature_extractor not in builders:
        raise FeatureExtractorError(
            f"unknown feature_extractor {config.feature_extractor!r}; choose one of {sorted(builders)}"
        )
    return builders[config.feature_extractor]()


def _file_digest(path: str) -> str:
    return sha256_file(path)[:16]


def extractor_id(config: EvaluateConfig) -> str:
    """Names the feature space: the same id means the same features for the same images."""
    if config.feature_extractor == "catalog":
        return f"catalog-r{CATALOG_RECIPE}-s{config.extractor_steps}"  # the network is keyed by the catalog version
    if config.feature_extractor == "inception":
        return f"inception-{_file_digest(inception_weights_path(config))}"
    return f"torchscript-{_file_digest(config.torchscript_extractor)}"


@torch.no_grad()
def extract_features(extractor: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> (N, F) float64 on the CPU, in batches on the extractor's device."""
    extractor.eval()
    device = module_device(extractor)
    parts = [
        extractor(images[i : i + batch_size].to(device, non_blocking=True)).double().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(parts)


def cached_split_features(
    config: EvaluateConfig, split: str, images: torch.Tensor, extractor: nn.Module
) -> torch.Tensor:
    """(N, F) features of a preprocessed split, computed once per (catalog, split, extractor, resolution)."""
    fingerprint = load_summary(config.data_dir)["fingerprint"]
    key = f"{fingerprint[:20]}-{split}-{extractor_id(config)}-{images.shape[-1]}px"
    path = Path(config.cache_dir) / "reference" / f"{key}.pt"
    if path.is_file():
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if len(cached) == len(images):
            return cached
    features = extract_features(extractor, images, config.batch_size)
    with atomic_file(path) as handle:
        torch.save(features, handle)
    return features
