"""The built image runs the pipeline: kfp's DockerRunner (through podman's Docker API) against the
SubprocessRunner on the tiny catalog, step outputs compared file by file.

Marked `container` and left out of `make test` (it needs `make image` first, about 8 minutes, and
runs about 6); run it with `make test-image` or `pytest -m container`.

Everything lives under one folder that kfp mounts into the containers at the same path, writable
by the image's uid 1000: the catalog, the MLflow sqlite registry, the evaluation cache, the roots.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines.compile import PROJECT_PARAMS
from tests.conftest import REPO, make_tiny_catalog, start_server

pytestmark = pytest.mark.container

IMAGE = os.environ.get("GIG_IMAGE", "localhost/gig:0.1.0")
PODMAN = ["podman", "--runtime", "runc"]


def _require_image() -> None:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: `apt-get install podman runc`, then `make image`", pytrace=False)
    if subprocess.run([*PODMAN, "image", "exists", IMAGE]).returncode != 0:
        pytest.fail(f"image {IMAGE} is not built: run `make image` (or set GIG_IMAGE)", pytrace=False)


@pytest.fixture(scope="module")
def docker_host(tmp_path_factory):
    """podman's Docker-compatible API on a socket of our own (or DOCKER_HOST when one is set)."""
    _require_image()
    if os.environ.get("DOCKER_HOST"):
        yield os.environ["DOCKER_HOST"]
        return
    socket = tmp_path_factory.mktemp("podman") / "podman.sock"
    service = start_server([*PODMAN, "system", "service", "--time=0", f"unix://{socket}"],
                           socket.with_suffix(".log"))
    deadline = time.monotonic() + 30
    while not socket.exists():
        assert service.poll() is None and time.monotonic() < deadline, "podman system service did not start"
        time.sleep(0.2)
    os.environ["DOCKER_HOST"] = f"unix://{socket}"
    try:
        yield os.environ["DOCKER_HOST"]
    finally:
        del os.environ["DOCKER_HOST"]
        service.terminate()
        service.wait(timeout=30)


def _digest(path: Path) -> str:
    """sha256 of a file; for losses.csv without its images/s column, which measures the machine."""
    data = path.read_bytes()
    if path.name == "losses.csv":
        data = b"\n".join(line.rsplit(b",", 1)[0] for line in data.splitlines())
    return hashlib.sha256(data).hexdigest()[:16]


def _step_outputs(run: Path) -> dict[str, str]:
    files = {
        "ingest catalog.parquet": run / "ingest" / "catalog" / "catalog.parquet",
        "ingest lineage.json": run / "ingest" / "catalog" / "lineage.json",
        "preprocess vocab.json": run / "preprocess" / "data" / "vocab.json",
        "train generator.pt": run / "train" / "model" / "generator.pt",
        "train losses.csv (no images/s)": run / "train" / "model" / "losses.csv",
        "evaluate metrics.json": run / "evaluate" / "evaluation" / "metrics.json",
    }
    return {name: _digest(path) for name, path in files.items()}


def _run_pipeline(runner_name: str, root: Path, compiled: Path, catalog: Path) -> Path:
    """One run with pipeline root `root` (the DockerRunner mounts only that); returns its run folder."""
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


def test_pipeline_in_the_image_writes_what_the_subprocess_runner_writes(docker_host, tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("image-run")
    os.chmod(root, 0o777)
    catalog = make_tiny_catalog(root / "catalog")
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    params["preprocess"]["holdout_fraction"] = 0.25
    params["train"].update(model="cgan", steps=40, batch_size=16, g_channels=16, d_channels=16, deterministic=True,
                           threads=1)
    params["evaluate"]["min_cell_images"] = 4
    params["register"]["min_within_class_diversity"] = 0.0
    params["register"]["min_first_champion_precision"] = 0.0
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # compiled as a user compiles for their registry: GIG_IMAGE names every component's image
    compiled = root / "pipeline.yaml"
    subprocess.run([sys.executable, "-m", "pipelines.compile", "--params", str(root / "params.yaml"),
                    "--out", str(compiled)], check=True, cwd=REPO, env={**os.environ, "GIG_IMAGE": IMAGE})
    assert f"image: {IMAGE}" in compiled.read_text()
    monkeypatch.chdir(root)  # the subprocess runner's MLflow artifacts land here, not in the checkout
    for path in root.rglob("*"):
        os.chmod(path, 0o777 if path.is_dir() else 0o666)

    docker = _step_outputs(_run_pipeline("docker", root, compiled, catalog))
    subprocess_ = _step_outputs(_run_pipeline("subprocess", root, compiled, catalog))
    for name in docker:
        print(f"{name:32s} docker {docker[name]}  subprocess {subprocess_[name]}  "
              f"{'equal' if docker[name] == subprocess_[name] else 'DIFFERENT'}")
    assert docker == subprocess_
    # the containers ran as the image's user, not root: what they wrote belongs to uid 1000
    assert {p.stat().st_uid for p in (root / "cache-docker").rglob("*")} == {1000}
