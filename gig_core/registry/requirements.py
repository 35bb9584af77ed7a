"""What a registered model needs to load in a clean environment, without the project checked out.

Code: gig_core itself travels inside the model (MLflow `code_paths`), so `mlflow.pyfunc.load_model`
works where gig_core is not installed. Packages: gig-core's declared run-time dependencies
(pyproject's `dependencies`), each pinned to the version in the project's lock file, and the
whole lock as pip constraints, so that their own dependencies resolve to the tested versions too.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import gig_core
from gig_core.errors import GigError

LOCK_ENV = "GIG_REQUIREMENTS_LOCK"  # the image sets it; a checkout finds requirements.lock beside gig_core/
DISTRIBUTION = "gig-core"


class RequirementsError(GigError):
    """The lock file is missing or does not pin what gig-core needs."""


def lock_file() -> Path:
    path = Path(os.environ.get(LOCK_ENV) or Path(gig_core.__file__).resolve().parents[1] / "requirements.lock")
    if not path.is_file():
        raise RequirementsError(
            f"{path}: no requirements lock, which the registered model's requirements come from; run from a "
            f"checkout of the project, or set {LOCK_ENV} to its requirements.lock"
        )
    return path


def read_lock(path: Path) -> dict[str, str]:
    """canonical name -> 'name==version' for every pinned line of a pip lock file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = str(requirement)
    return pins


def runtime_requirements(lock: Path) -> list[str]:
    """gig-core's run-time dependencies at the lock's versions, then the lock itself as constraints."""
    declared = [Requirement(r) for r in importlib.metadata.requires(DISTRIBUTION) or []]
    names = [r.name for r in declared if r.marker is None]  # extras (pipeline, test) are not needed to load a model
    pins = read_lock(lock)
    missing = [n for n in names if canonicalize_name(n) not in pins]
    if missing:
        raise RequirementsError(f"{lock}: does not pin {missing}, which gig-core needs; regenerate the lock")
    return [pins[canonicalize_name(n)] for n in names] + [f"-c {lock}"]


def copy_package_code(into: Path) -> Path:
    """A copy of the gig_core package for `code_paths`, without caches and the bundled sample photos."""
    target = into / "gig_core"
    shutil.copytree(Path(gig_core.__file__).parent, target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "sample_catalog"))
    return target
