"""Run the compiled pipeline in the built image with kfp's DockerRunner (podman's Docker API),
and again with the SubprocessRunner, on the tiny test catalog; compare what each step wrote.

    podman --runtime runc system service --time=0 unix:///run/podman/podman.sock &
    DOCKER_HOST=unix:///run/podman/podman.sock GIG_IMAGE=localhost/gig:0.1.0 \\
        .venv/bin/python scripts/docker_runner_check.py /tmp/gig-docker-check

Everything lives under one folder (mounted into the containers at the same path, writable by
uid 1000): the catalog, the MLflow sqlite registry, the evaluation cache, the pipeline roots.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import yaml


def digest(path: Path) -> str:
    """sha256 of a file; for losses.csv without its images/s column, which measures the machine."""
    data = path.read_bytes()
    if path.name == "losses.csv":
        data = b"\n".join(line.rsplit(b",", 1)[0] for line in data.splitlines())
    return hashlib.sha256(data).hexdigest()[:16]


def run(runner_name: str, root: Path, compiled: Path, catalog: Path) -> Path:
    """One run with pipeline root `root` (DockerRunner mounts only that); returns its run folder."""
    from kfp import components, local

    runner = local.DockerRunner(network_mode="host") if runner_name == "docker" else \
        local.SubprocessRunner(use_venv=False)
    local.init(runner=runner, pipeline_root=str(root))
    before = set(root.glob("gig-retrain-*"))
    started = time.perf_counter()
    components.load_component_from_file(str(compiled))(
        catalog_uri=str(catalog), mlflow_tracking_uri=f"sqlite:///{root / (runner_name + '.db')}",
        evaluation_cache_dir=str(root / f"cache-{runner_name}"))
    print(f"{runner_name}: pipeline finished in {time.perf_counter() - started:.0f} s", flush=True)
    (folder,) = set(root.glob("gig-retrain-*")) - before
    return folder


def outputs(run: Path) -> dict[str, str]:
    files = {
        "ingest catalog.parquet": run / "ingest" / "catalog" / "catalog.parquet",
        "ingest lineage.json": run / "ingest" / "catalog" / "lineage.json",
        "preprocess vocab.json": run / "preprocess" / "data" / "vocab.json",
        "train generator.pt": run / "train" / "model" / "generator.pt",
        "train losses.csv (no images/s)": run / "train" / "model" / "losses.csv",
        "evaluate metrics.json": run / "evaluate" / "evaluation" / "metrics.json",
    }
    return {name: digest(path) for name, path in files.items()}


def main(root: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pipelines.compile import PROJECT_PARAMS, compile_pipeline
    from tests.conftest import make_tiny_catalog

    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o777)
    catalog = root / "catalog"
    if not catalog.exists():
        make_tiny_catalog(catalog)
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    params["preprocess"]["holdout_fraction"] = 0.25
    params["train"].update(model="cgan", steps=40, batch_size=16, g_channels=16, d_channels=16, deterministic=True,
                           threads=1)
    params["evaluate"]["min_cell_images"] = 4
    params["register"]["min_within_class_diversity"] = 0.0
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    compiled = compile_pipeline(root / "pipeline.yaml", root / "params.yaml")
    for path in root.rglob("*"):
        os.chmod(path, 0o777 if path.is_dir() else 0o666)
    results = {name: outputs(run(name, root, compiled, catalog)) for name in ("docker", "subprocess")}
    for name in results["docker"]:
        same = results["docker"][name] == results["subprocess"][name]
        print(f"{name:32s} docker {results['docker'][name]}  subprocess {results['subprocess'][name]}  "
              f"{'equal' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gig-docker-check"))
