"""MLflow "models from code" entry point: the logged model is this file plus the generator
artifact, instead of a cloudpickled object that breaks when the class changes."""

import mlflow

from gig_core.registry.pyfunc import GeneratorPyfunc

mlflow.models.set_model(GeneratorPyfunc())
