"""Serving generated images over HTTP: request validation shared with the MLflow pyfunc model, and `gig serve`."""
