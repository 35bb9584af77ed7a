"""Where every stage puts what: the one place that names stage outputs.

A stage writes into its out_dir; whoever reads it next (the next `gig` command, a DVC stage, a
Kubeflow component, `gig summary`) finds the files through the same class, so the name of an
output is written once. `TrainOutputs("outputs/train").generator` is outputs/train/generator.pt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StageOutputs:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))


class IngestOutputs(StageOutputs):
    @property
    def catalog(self) -> Path:  # accepted rows, one per product photo
        return self.root / "catalog.parquet"

    @property
    def quarantine(self) -> Path:  # refused rows with the reason
        return self.root / "quarantine.csv"

    @property
    def summary(self) -> Path:
        return self.root / "ingest.json"

    @property
    def source_index(self) -> Path:  # what each source image was when fetched, to reuse unchanged ones
        return self.root / "source_index.parquet"

    @property
    def lineage(self) -> Path:  # which catalog this is: content hash and the source's versions
        return self.root / "lineage.json"


class PreprocessOutputs(StageOutputs):
    @property
    def vocab(self) -> Path:
        return self.root / "vocab.json"

    @property
    def summary(self) -> Path:
        return self.root / "preprocess.json"

    @property
    def heldout_display(self) -> Path:  # the held-out photos as shown, for the real-vs-generated detector
        return self.root / "heldout_display.pt"


class TrainOutputs(StageOutputs):
    @property
    def checkpoint(self) -> Path:  # resumable state of every model and optimizer
        return self.root / "checkpoint.pt"

    @property
    def generator(self) -> Path:  # the EMA generator and its architecture, what evaluate and register read
        return self.root / "generator.pt"

    @property
    def losses(self) -> Path:
        return self.root / "losses.csv"

    @property
    def summary(self) -> Path:
        return self.root / "train.json"

    @property
    def grid(self) -> Path:
        return self.root / "grid.png"

    @property
    def launch_params(self) -> Path:  # the config torchrun's workers read
        return self.root / "launch_params.yaml"


class EvaluateOutputs(StageOutputs):
    @property
    def metrics(self) -> Path:  # written last: its presence means the rest is complete
        return self.root / "metrics.json"

    @property
    def config(self) -> Path:
        return self.root / "evaluate_config.json"

    @property
    def sample_features(self) -> Path:  # what the champion comparison is bootstrapped against
        return self.root / "sample_features.pt"

    @property
    def detector(self) -> Path:  # the C2ST real-vs-generated detector: half of every sample's realism score
        return self.root / "detector.pt"

    @property
    def realism(self) -> Path:  # what the combined realism score needs beside the detector (evaluation/realism.py)
        return self.root / "realism.pt"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def figures(self) -> Path:  # the report's images, one PNG each
        return self.root / "report"


class RegisterOutputs(StageOutputs):
    @property
    def registration(self) -> Path:
        return self.root / "registration.json"
