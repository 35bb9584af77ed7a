"""MLflow packaging: the pyfunc model, registration, and the promotion rule."""
