"""The evaluate stage: score a generator against the held-out real images.

The generator is asked for exactly the attribute mix of the held-out set, so a conditional
model is judged on the classes the catalog actually has. The resolved config is saved next
to the metrics: promotion re-scores the champion with the same reference set and extractor.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from gig_core.atomic import write_json
from gig_core.config import EvaluateConfig, build
from gig_core.data.preprocess import TensorSplit, load_split, load_summary, load_vocab
from gig_core.evaluation.features import build_extractor, extract_features
from gig_core.evaluation.metrics import diversity, fid, kid
from gig_core.sampling import GeneratorBundle
from gig_core.training.trainer import GENERATOR_FILE

METRICS_FILE = "metrics.json"
CONFIG_FILE = "evaluate_config.json"


def attribute_rows(split: TensorSplit, vocab: dict[str, list[str]]) -> list[dict[str, str]]:
    """A split's attribute values by name, one dict per image."""
    return [{a: vocab[a][int(split.labels[a][i])] for a in split.labels} for i in range(len(split))]


class ReferenceSet:
    """Held-out real images, their features and attribute mix: what every model is scored on."""

    def __init__(self, config: EvaluateConfig, progress: bool = True):
        self.config = config
        self.extractor: nn.Module = build_extractor(config, progress)
        heldout = load_split(config.data_dir, "heldout")
        self.images = heldout.images  # (N, 3, R, R) uint8
        if len(self.images) < 2:
            raise ValueError(f"{config.data_dir}: the held-out split has {len(self.images)} images; raise holdout_fraction")
        self.rows = attribute_rows(heldout, load_vocab(config.data_dir))
        self.features = extract_features(self.extractor, self.images, config.batch_size)  # (N, F)
        self.fingerprint = load_summary(config.data_dir)["fingerprint"]

    def score(self, bundle: GeneratorBundle) -> dict:
        """FID, KID and diversity of `bundle` on this reference set (same seed every time)."""
        labels = bundle.encode(self.rows, unknown="random", seed=self.config.seed) if bundle.arch.conditional else None
        fakes = bundle.sample(len(self.images), labels, seed=self.config.seed, batch_size=self.config.batch_size)
        if fakes.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"generator makes {tuple(fakes.shape[1:])} images, the reference set is {tuple(self.images.shape[1:])}")
        fake_features = extract_features(self.extractor, fakes, self.config.batch_size)
        kid_mean, kid_std = kid(self.features, fake_features, self.config.kid_subset_size, self.config.seed)
        return {
            "fid": fid(self.features, fake_features),
            "kid_mean": kid_mean,
            "kid_std": kid_std,
            "diversity": diversity(self.features, fake_features),
            "num_samples": len(fakes),
            "feature_extractor": self.config.feature_extractor,
        }


def evaluate(config: EvaluateConfig, progress: bool = True) -> dict:
    """Score the trained generator in config.train_dir; write metrics.json and the config used."""
    bundle = GeneratorBundle.load(Path(config.train_dir) / GENERATOR_FILE)
    torch.manual_seed(config.seed)
    reference = ReferenceSet(config, progress)
    metrics = reference.score(bundle)
    metrics["reference_fingerprint"] = reference.fingerprint
    out = Path(config.out_dir)
    write_json(out / CONFIG_FILE, asdict(config))
    write_json(out / METRICS_FILE, metrics)
    return metrics


def load_evaluate_config(evaluate_dir: str | Path) -> EvaluateConfig:
    """The exact config an evaluation ran with, to score another model the same way."""
    return build(EvaluateConfig, json.loads((Path(evaluate_dir) / CONFIG_FILE).read_text()), "evaluate")
