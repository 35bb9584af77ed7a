"""Catalog data: the bundled sample, ingest (validation) and preprocessing (training tensors)."""
