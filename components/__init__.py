"""Kubeflow Pipelines components: one thin function per stage, each calling gig_core."""

from components.evaluate import evaluate
from components.ingest import ingest
from components.params import resolve_params
from components.preprocess import preprocess
from components.register import register
from components.train import train

__all__ = ["resolve_params", "ingest", "preprocess", "train", "evaluate", "register"]
