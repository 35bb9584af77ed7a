"""Evaluation: where FID and friends come from.

- evaluate.py      the evaluate stage: a sample source scored against the held-out photos
- sources.py       sample sources: train output, checkpoint, models:/ URI, a folder of images
- features.py      feature extractors (catalog, InceptionV3, TorchScript/export) and the cache of real features
- metrics/         one module per metric, registered by name in metrics/__init__.py
- bootstrap.py     confidence intervals, and the paired FID difference promotion uses
- report.py        the self-contained HTML report
"""
