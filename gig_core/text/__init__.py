"""Product titles as vectors: the catalog's own title encoder (encoder.py), fitted once per
catalog version and cached (cache.py). See benchmarks/README.md, "Title encoders", for why
GIG trains its own instead of shipping a pretrained sentence encoder."""
