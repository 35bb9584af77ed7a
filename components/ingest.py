from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(config: dict, catalog: Output[Dataset], report: Output[Metrics]):
    """Validate the catalog at ingest.source (folder, manifest or s3:// prefix); quarantine bad rows."""
    from gig_core.config import load_section
    from gig_core.data.ingest import ingest_catalog

    summary = ingest_catalog(load_section("ingest", {"ingest": config}, {"out_dir": catalog.path}), progress=False)
    for key in ("rows", "accepted", "quarantined", "quarantined_fraction"):
        report.log_metric(key, summary[key])
