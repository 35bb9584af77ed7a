"""Text-image alignment of a title model (tgan): do its samples show what their titles say?

Each sample was drawn from the title of one held-out product, so the product's real photo is
the ceiling to compare with, title for title:
- attribute accuracy: for the attributes a title names (text/attributes.py parses them from the
  words; a title without a colour is not scored on colour), the share of samples the catalog
  classifier names as the title says (`title_acc_<attribute>`), and the same for the real photos
  (`title_acc_real_<attribute>`);
- R-precision: the share of samples whose own title the matching model (text/matching.py,
  trained on the training split only) ranks above the titles of RIVALS other held-out products
  (`r_precision`, and `r_precision_real` for the real photos), with a 95% interval; a held-out
  split with fewer distinct titles uses all of them (`r_precision_candidates`).
A model that does not read titles gets none of these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.conditional_accuracy import predict
from gig_core.evaluation.metrics.result import MetricResult
from gig_core.text.attributes import TitleAttributeParser
from gig_core.text.matching import TitleImageMatcher, r_precision_hits

RIVALS = 99  # AttnGAN's R-precision: the true title among 100
Z95 = 1.959964


@dataclass
class TextInputs:
    """What alignment needs besides the images: the titles the samples were drawn from (one per
    held-out photo, in order), their vectors, each one's rival titles and the matching model."""

    titles: list[str]
    vectors: torch.Tensor  # (N, D) title vectors from the catalog's title encoder
    rivals: torch.Tensor  # (N, RIVALS) indices of other products' titles
    matcher: TitleImageMatcher
    parser: TitleAttributeParser


def share_interval(hits: torch.Tensor) -> tuple[float, float, float]:
    """Mean of (N,) 0/1 hits and its 95% normal interval."""
    p = float(hits.mean())
    half = Z95 * math.sqrt(max(p * (1 - p), 0.0) / max(len(hits), 1))
    return p, max(0.0, p - half), min(1.0, p + half)


def change_interval(after: torch.Tensor, before: torch.Tensor) -> tuple[float, float]:
    """95% normal interval of the mean paired change of (N,) 0/1 hits on the same titles and rivals."""
    change = after - before
    mean, half = float(change.mean()), Z95 * float(change.std()) / max(len(change), 1) ** 0.5
    return mean - half, mean + half


def compute(inputs: EvaluationInputs) -> MetricResult:
    text = inputs.text
    if text is None:
        return MetricResult()
    values: dict[str, float] = {}
    named = text.parser.parse_all(text.titles)
    if inputs.classifier is not None:
        for attribute in inputs.classifier.heads:
            rows = [i for i, n in enumerate(named) if attribute in n]
            if not rows:
                continue
            index = torch.tensor(rows)
            vocab = inputs.vocab[attribute]
            wanted = torch.tensor([vocab.index(named[i][attribute]) for i in rows])
            batch = inputs.config.batch_size
            fake = predict(inputs.classifier, inputs.fake_images[index], attribute, batch)
            real = predict(inputs.classifier, inputs.real_images[index], attribute, batch)
            values[f"title_acc_{attribute}"] = float((fake == wanted).float().mean())
            values[f"title_acc_real_{attribute}"] = float((real == wanted).float().mean())
            values[f"title_named_{attribute}"] = len(rows)
    hits = r_precision_hits(text.matcher, inputs.catalog_fake, text.vectors, text.rivals)  # (N,)
    real_hits = r_precision_hits(text.matcher, inputs.catalog_real, text.vectors, text.rivals)
    values["r_precision"], values["r_precision_ci_low"], values["r_precision_ci_high"] = share_interval(hits)
    values["r_precision_real"] = share_interval(real_hits)[0]
    values["r_precision_candidates"] = text.rivals.shape[1] + 1  # 100, or fewer in a small held-out split
    return MetricResult(values, {"r_precision_hits": hits})
