from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(config: dict, display: dict, catalog: Input[Dataset], model: Input[Model], evaluation: Input[Artifact],
             registration: Output[Artifact]) -> str:
    """Register the generator with the catalog it came from (and `display`, the postprocess section,
    as the served model's defaults); move `champion` when the promotion rule says so. Returns the new version."""
    from gig_core.config import load_section
    from gig_core.registry.register import register as register_generator

    paths = {"ingest_dir": catalog.path, "train_dir": model.path, "evaluate_dir": evaluation.path,
             "out_dir": registration.path, "catalog_dvc_file": "", "artifact_dir": ""}
    return register_generator(load_section("register", {"register": config}, paths), progress=False,
                              display=load_section("postprocess", {"postprocess": display})).version
