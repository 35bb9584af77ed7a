"""GIG core library: catalog in, trained product-image generator out.

Stages (one module each): data.ingest -> data.preprocess -> training.trainer ->
evaluation.evaluate -> registry.register; sampling turns a registered model into images.
"""

__version__ = "0.1.0"
