"""Typed configuration for every stage, loaded from one params.yaml.

Each stage owns a dataclass. Values come from, in order of precedence: the command line,
the stage's section of params.yaml, a named preset (train only), the dataclass defaults.
Unknown keys are an error, so a typo in params.yaml never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gig_core.errors import GigError

T = TypeVar("T")

DEFAULT_PARAMS = "params.yaml"


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class IngestConfig:
    source: str = field(
        default="data",
        metadata=_help("catalog folder, manifest file (.csv/.parquet), or s3://bucket/prefix/ (or s3://.../manifest.csv)"),
    )
    out_dir: str = field(default="outputs/ingest", metadata=_help("where catalog.parquet, quarantine.csv and blobs/ go"))
    table_file: str = field(default="styles.csv", metadata=_help("table of product rows inside a folder or prefix source"))
    id_column: str = field(default="id", metadata=_help("column holding the product id"))
    image_column: str = field(
        default="", metadata=_help("column holding each image path (relative to the catalog root) or s3:// URI; "
                                   "empty = use image_template")
    )
    image_template: str = field(default="images/{id}.jpg", metadata=_help("image path from the id when image_column is empty"))
    name_column: str = field(default="productDisplayName", metadata=_help("column holding the product name ('' = none)"))
    attribute_columns: list[str] = field(
        default_factory=list, metadata=_help("attribute columns to keep (empty = every other column)")
    )
    required_attributes: list[str] = field(
        default_factory=lambda: ["articleType", "baseColour"],
        metadata=_help("attributes a row must have (non-empty) to be accepted"),
    )
    min_side: int = field(default=32, metadata=_help("refuse images whose shorter side is below this many pixels"))
    max_pixels: int = field(default=40_000_000, metadata=_help("refuse larger images from their header (decompression bombs)"))
    max_quarantine_fraction: float = field(
        default=0.05, metadata=_help("fail the stage when more than this share of rows is quarantined")
    )
    workers: int = field(default=2, metadata=_help("processes that fetch and check images (raise for S3)"))


@dataclass
class PreprocessConfig:
    ingest_dir: str = field(default="outputs/ingest", metadata=_help("output folder of the ingest stage"))
    out_dir: str = field(default="outputs/preprocess", metadata=_help("where the uint8 tensors and vocabularies go"))
    resolution: int = field(default=32, metadata=_help("square side in pixels (32, 64 or 128)"))
    label_attributes: list[str] = field(
        default_factory=lambda: ["articleType", "baseColour"],
        metadata=_help("attributes turned into integer labels with a vocabulary"),
    )
    holdout_fraction: float = field(default=0.15, metadata=_help("share of distinct photos held out for evaluation"))
    split_salt: str = field(default="gig-holdout-v1", metadata=_help("salt of the content-hash split; change to draw another split"))
    workers: int = field(default=2, metadata=_help("processes that decode and resize"))


@dataclass
class AugmentConfig:
    """Training augmentation.

    The first five apply to real photos only (products are photographed upright: keep them
    mild). DiffAugment and ADA apply to real and generated batches alike before the
    discriminator, which is what lets a GAN learn from a small catalog.
    """

    hflip: bool = field(default=True, metadata=_help("random horizontal flip"))
    rotation_degrees: float = field(default=0.0, metadata=_help("max absolute rotation in degrees (0 = off)"))
    scale_jitter: float = field(default=0.0, metadata=_help("max relative scale change, e.g. 0.05 (0 = off)"))
    brightness: float = field(default=0.0, metadata=_help("brightness jitter factor (0 = off)"))
    contrast: float = field(default=0.0, metadata=_help("contrast jitter factor (0 = off)"))
    diffaugment: str = field(default="", metadata=_help("DiffAugment policy, e.g. 'color,translation,cutout' ('' = off)"))
    ada_target: float = field(
        default=0.0, metadata=_help("ADA overfitting target for E[sign(D(real))], e.g. 0.6 (0 = off); "
                                    "applies the DiffAugment policy (all ops if empty) with adaptive probability")
    )
    ada_interval: int = field(default=4, metadata=_help("steps between ADA probability updates"))
    ada_kimg: float = field(default=20.0, metadata=_help("thousands of images for the ADA probability to go 0 -> 1"))


@dataclass
class TrainConfig:
    preset: str = field(default="demo", metadata=_help("named preset: 'demo' (32x32, CPU-fast) or '64' (64x64)"))
    data_dir: str = field(default="outputs/preprocess", metadata=_help("output folder of the preprocess stage"))
    out_dir: str = field(default="outputs/train", metadata=_help("checkpoint, sample grids and loss curves go here"))
    model: str = field(
        default="hcgan", metadata=_help("family: hcgan, cgan, dcgan, wgan-gp, vae, vaegan or autoencoder")
    )
    condition_on: list[str] = field(
        default_factory=lambda: ["articleType", "baseColour"],
        metadata=_help("attributes the conditional GAN is conditioned on (first one = grid rows)"),
    )
    resolution: int = field(default=32, metadata=_help("image side; must match preprocess.resolution"))
    z_dim: int = field(default=128, metadata=_help("latent size"))
    g_channels: int = field(default=32, metadata=_help("base channel count of the generator"))
    d_channels: int = field(default=32, metadata=_help("base channel count of the discriminator"))
    embed_dim: int = field(default=32, metadata=_help("label embedding size per attribute (hcgan, cgan)"))
    steps: int = field(default=1500, metadata=_help("optimizer steps of G"))
    batch_size: int = field(default=64, metadata=_help("images per step"))
    lr_g: float = field(default=2e-4, metadata=_help("generator learning rate"))
    lr_d: float = field(default=2e-4, metadata=_help("discriminator learning rate"))
    beta1: float = field(default=0.5, metadata=_help("Adam beta1"))
    beta2: float = field(default=0.999, metadata=_help("Adam beta2"))
    ema_decay: float = field(default=0.999, metadata=_help("decay of the generator's moving average used for sampling"))
    diversity_weight: float = field(
        default=0.0, metadata=_help("weight of the mode-seeking term (MSGAN): pushes images of the same labels apart "
                                    "when z differs (0 = off; GAN families)")
    )
    class_weight: float = field(
        default=0.0, metadata=_help("weight of the auxiliary classification loss (AC-GAN): D learns to name the "
                                    "attributes of real photos, G to make samples D names as their labels "
                                    "(0 = off; hcgan, cgan)")
    )
    d_steps: int = field(default=1, metadata=_help("discriminator (critic) updates per generator update"))
    regularizer: str = field(default="none", metadata=_help("discriminator penalty: none, r1 or gp (WGAN-GP)"))
    reg_weight: float = field(default=10.0, metadata=_help("weight of the discriminator penalty"))
    kl_weight: float = field(default=1.0, metadata=_help("final weight of the KL term (vae, vaegan)"))
    kl_anneal_steps: int = field(default=500, metadata=_help("steps over which the KL weight rises from 0"))
    feature_match_weight: float = field(default=1.0, metadata=_help("weight of feature matching in the vaegan decoder loss"))
    device: str = field(default="auto", metadata=_help("auto (cuda when available), cpu, cuda or cuda:N"))
    processes: int = field(
        default=0, metadata=_help("training processes on this machine, one per GPU, each with its own batch_size "
                                  "images per step (0 = one per visible GPU, or one on a CPU)")
    )
    amp: bool = field(default=False, metadata=_help("bf16 autocast for forward passes"))
    channels_last: bool = field(default=False, metadata=_help("channels_last memory format for models and batches"))
    compile: bool = field(default=False, metadata=_help("torch.compile the models (slow start, faster steps)"))
    deterministic: bool = field(default=False, metadata=_help("torch deterministic algorithms (bit-exact resume on CPU)"))
    checkpoint_every: int = field(default=500, metadata=_help("write a resumable checkpoint every N steps (0 = end only)"))
    collapse_threshold: float = field(
        default=0.35, metadata=_help("warn of mode collapse when, within a condition cell, fixed-noise samples vary "
                                     "less than this fraction of the cell's real photos (0 = never)")
    )
    tracking_uri: str = field(default="", metadata=_help("MLflow URI for per-step metrics ('' = off)"))
    experiment: str = field(default="gig", metadata=_help("MLflow experiment of the per-step metrics"))
    sample_every: int = field(default=250, metadata=_help("write a sample grid every N steps"))
    log_every: int = field(default=25, metadata=_help("record losses every N steps"))
    grid_columns: int = field(default=8, metadata=_help("samples per row in sample grids"))
    seed: int = field(default=0, metadata=_help("seed for weights, noise and data order"))
    threads: int = field(default=0, metadata=_help("torch CPU threads (0 = all cores)"))
    resume: str = field(
        default="", metadata=_help("checkpoint to resume from; 'auto' = out_dir/checkpoint.pt when present; '' = fresh")
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)


# Settings a family needs to train well; a preset and then params.yaml and flags override them.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # The mode-seeking weight from benchmarks/generator_variants.py; learning rates, beta1 and the label embedding
    # size from the short-run probe (benchmarks/README.md, "Learning the conditions faster").
    "hcgan": dict(diversity_weight=0.05, lr_g=4e-4, lr_d=4e-4, beta1=0.0, embed_dim=128),
    "wgan-gp": dict(regularizer="gp", reg_weight=10.0, d_steps=5, lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9),
    "vae": dict(lr_g=1e-3, beta1=0.9),
    "autoencoder": dict(lr_g=1e-3, beta1=0.9),
    "vaegan": dict(lr_g=3e-4, lr_d=3e-4),
}

# Presets set architecture and schedule together; params.yaml and the command line override them.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "demo": dict(resolution=32, g_channels=32, d_channels=32, z_dim=128, steps=1000, batch_size=64, sample_every=250),
    "64": dict(resolution=64, g_channels=64, d_channels=64, z_dim=128, steps=20000, batch_size=64, sample_every=1000),
}


@dataclass
class EvaluateConfig:
    data_dir: str = field(default="outputs/preprocess", metadata=_help("output folder of the preprocess stage"))
    train_dir: str = field(default="outputs/train", metadata=_help("output folder of the train stage"))
    out_dir: str = field(default="outputs/evaluate", metadata=_help("where metrics.json goes"))
    model: str = field(
        default="", metadata=_help("generator to score: '' = train_dir/generator.pt, a models:/NAME@ALIAS URI, or a "
                                   "generator.pt / checkpoint.pt path")
    )
    samples: str = field(default="", metadata=_help("score a folder of images instead of a generator (any tool's output)"))
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow URI that resolves a models:/ URI"))
    feature_extractor: str = field(
        default="catalog", metadata=_help("'catalog' (small classifier trained on the catalog, offline), 'inception' "
                                          "or 'torchscript'")
    )
    inception_weights: str = field(
        default="", metadata=_help("local path of the pt_inception-2015-12-05 weights, needed for 'inception'")
    )
    torchscript_extractor: str = field(
        default="", metadata=_help("path of a TorchScript model, (B, 3, H, W) float in [0, 1] -> (B, F), for 'torchscript'")
    )
    metrics: list[str] = field(
        default_factory=lambda: ["fid", "kid", "precision_recall", "per_class_fid", "conditional_accuracy",
                                 "within_class_diversity", "diversity", "memorization"],
        metadata=_help("metrics to compute, by name (see gig_core/evaluation/metrics)"),
    )
    bootstrap_draws: int = field(default=200, metadata=_help("bootstrap resamples behind the FID and KID intervals"))
    confidence: float = field(default=0.95, metadata=_help("confidence level of the intervals"))
    pr_neighbours: int = field(default=3, metadata=_help("k of the k-NN manifolds of precision/recall"))
    dc_neighbours: int = field(default=5, metadata=_help("k of the k-NN balls of density/coverage"))
    min_class_samples: int = field(default=20, metadata=_help("smallest class (real and generated) given a per-class FID"))
    min_cell_images: int = field(
        default=16, metadata=_help("condition cells (e.g. articleType x baseColour) with at least this many real photos "
                                   "get a within-class diversity")
    )
    max_cells: int = field(default=64, metadata=_help("score at most this many condition cells, the largest first"))
    cell_samples: int = field(default=32, metadata=_help("samples per condition cell, differing only in z"))
    memorization_ratio: float = field(
        default=0.5, metadata=_help("a sample is a copy when its nearest training image is closer than this fraction "
                                    "of the median real-to-real nearest-neighbour distance")
    )
    memorization_max_share: float = field(
        default=0.05, metadata=_help("flag the generator when more than this share of its samples are copies")
    )
    cache_dir: str = field(default=".gig_cache", metadata=_help("cache of catalog feature extractors, keyed by catalog content"))
    extractor_steps: int = field(default=300, metadata=_help("training steps (batches of 128) of the catalog feature extractor"))
    kid_subset_size: int = field(default=100, metadata=_help("KID subset size (capped at the sample count)"))
    batch_size: int = field(default=256, metadata=_help("images per batch when generating and extracting"))
    seed: int = field(default=0, metadata=_help("seed of the generated evaluation samples"))
    device: str = field(default="auto", metadata=_help("where samples are made and features extracted: auto (cuda when "
                                                       "available), cpu, cuda or cuda:N"))
    report: bool = field(default=True, metadata=_help("write report.html (self-contained) next to metrics.json"))


@dataclass
class RegisterConfig:
    train_dir: str = field(default="outputs/train", metadata=_help("output folder of the train stage"))
    evaluate_dir: str = field(default="outputs/evaluate", metadata=_help("output folder of the evaluate stage"))
    out_dir: str = field(default="outputs/register", metadata=_help("where registration.json goes"))
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow tracking and registry URI"))
    artifact_dir: str = field(default="mlartifacts", metadata=_help("artifact root for a new experiment (local folder or URI)"))
    experiment: str = field(default="gig", metadata=_help("MLflow experiment name"))
    model_name: str = field(default="gig-generator", metadata=_help("registered model name"))
    catalog_dvc_file: str = field(default="data.dvc", metadata=_help("DVC file whose hash identifies the catalog version"))
    promotion_margin: float = field(
        default=0.0, metadata=_help("FID points by which the challenger must beat the champion, beyond the bootstrap "
                                    "noise, to be promoted")
    )
    min_within_class_diversity: float = field(
        default=0.5, metadata=_help("refuse promotion, whatever the FID, when the challenger's within_class_diversity "
                                    "(spread within a condition cell relative to its real photos) is below this "
                                    "(0 = no veto)")
    )


@dataclass
class GenerateConfig:
    model: str = field(default="models:/gig-generator@champion", metadata=_help("model URI or a train checkpoint path"))
    tracking_uri: str = field(default="sqlite:///mlflow.db", metadata=_help("MLflow tracking and registry URI"))
    n: int = field(default=16, metadata=_help("number of images"))
    seed: int = field(default=0, metadata=_help("sampling seed"))
    out: str = field(default="grid.png", metadata=_help("output PNG grid"))
    columns: int = field(default=8, metadata=_help("images per grid row"))


@dataclass
class Params:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)


class ConfigError(GigError, ValueError):
    """A params.yaml or command-line value that does not fit the stage's config."""


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    """Make a `cls` from a plain dict, checking names and types; nested dataclasses recurse."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    types = _field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(types)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        kwargs[name] = _coerce(types[name], value, f"{where}.{name}")
    return cls(**kwargs)


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
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_params_file(path: str | Path | None = DEFAULT_PARAMS) -> dict[str, Any]:
    """The raw params.yaml mapping; no file (None, or a missing path) means all defaults."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of stage sections")
    return data


SECTIONS: dict[str, type] = _field_types(Params)


def load_section(section: str, params_path: str | Path | None = DEFAULT_PARAMS, overrides: dict[str, Any] | None = None):
    """One stage's config: defaults <- preset (train) <- params.yaml section <- overrides."""
    cls = SECTIONS[section]
    from_file = read_params_file(params_path).get(section) or {}
    if not isinstance(from_file, dict):
        raise ConfigError(f"{params_path}: section '{section}' must be a mapping")
    overrides = overrides or {}
    values: dict[str, Any] = {}
    if section == "train":
        preset = overrides.get("preset", from_file.get("preset", TrainConfig.preset))
        if preset not in TRAIN_PRESETS:
            raise ConfigError(f"train.preset: unknown preset {preset!r}; choose one of {sorted(TRAIN_PRESETS)}")
        model = overrides.get("model", from_file.get("model", TrainConfig.model))
        values = {**FAMILY_DEFAULTS.get(model, {}), **TRAIN_PRESETS[preset]}
    values = _merge(_merge(values, from_file), overrides)
    return build(cls, values, section)


def load_params(params_path: str | Path = DEFAULT_PARAMS) -> Params:
    return Params(**{name: load_section(name, params_path) for name in SECTIONS})


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
