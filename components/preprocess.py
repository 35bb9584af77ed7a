from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def preprocess(catalog: Input[Dataset], resolution: int, holdout_fraction: float, data: Output[Dataset]):
    """Decode, pad and resize the accepted photos; split train/held-out by photo content."""
    from gig_core.config import PreprocessConfig
    from gig_core.data.preprocess import preprocess_catalog

    preprocess_catalog(PreprocessConfig(ingest_dir=catalog.path, out_dir=data.path, resolution=resolution,
                                        holdout_fraction=holdout_fraction), progress=False)
