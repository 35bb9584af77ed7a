"""Evaluation: feature extractors, the metric math (via torchmetrics) and the evaluate stage."""
