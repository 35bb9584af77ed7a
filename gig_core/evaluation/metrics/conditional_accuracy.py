"""Does the generator honour the requested attributes? The catalog classifier (trained on real
catalog images, the same network as the default feature extractor) predicts each requested
attribute of each sample; its accuracy on held-out real images is the ceiling to compare with."""

from __future__ import annotations

import torch

from gig_core.device import module_device
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult


@torch.no_grad()
def predict(classifier, images: torch.Tensor, attribute: str, batch_size: int) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> (N,) predicted class indices."""
    head, device = classifier.heads[attribute], module_device(classifier)
    return torch.cat([head(classifier.features(images[i:i + batch_size].to(device))).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def accuracy(classifier, images, rows, attribute: str, vocab: list[str], batch_size: int) -> float:
    wanted = torch.tensor([vocab.index(row[attribute]) if row[attribute] in vocab else -1 for row in rows])
    return float((predict(classifier, images, attribute, batch_size) == wanted).float().mean())


def compute(inputs: EvaluationInputs) -> MetricResult:
    if inputs.classifier is None or not inputs.fake_rows or not inputs.fake_rows[0]:
        return MetricResult()
    values = {}
    batch = inputs.config.batch_size
    for attribute in inputs.fake_rows[0]:
        if attribute not in inputs.classifier.heads:
            continue
        vocab = inputs.vocab[attribute]
        values[f"cond_acc_{attribute}"] = accuracy(
            inputs.classifier, inputs.fake_images, inputs.fake_rows, attribute, vocab, batch
        )
        values[f"real_acc_{attribute}"] = accuracy(
            inputs.classifier, inputs.real_images, inputs.real_rows, attribute, vocab, batch
        )
    return MetricResult(values)
