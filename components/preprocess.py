from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def preprocess(config: dict, catalog: Input[Dataset], data: Output[Dataset]):
    """Decode, pad and resize the accepted photos; split train/held-out by photo content."""
    from gig_core.config import load_section
    from gig_core.data.preprocess import preprocess_catalog

    paths = {"ingest_dir": catalog.path, "out_dir": data.path}
    preprocess_catalog(load_section("preprocess", {"preprocess": config}, paths), progress=False)
