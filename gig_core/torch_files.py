"""Reading the project's torch files (checkpoints, generators, tensors) with errors a user can act on.

Every load is weights-only: a file cannot run code when it is read. A truncated, empty or
foreign file ends in one line naming the file and what to do, not in a bare EOFError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gig_core.errors import GigError


class UnreadableFileError(GigError):
    """A torch file that is missing, truncated, damaged or not one of ours."""


def read_torch_file(path: str | Path, what: str, remedy: str, map_location: str = "cpu") -> Any:
    """torch.load(path, weights_only=True), or an UnreadableFileError: '<path>: <what> ...; <remedy>'."""
    path = Path(path)
    if path.is_dir():
        raise UnreadableFileError(f"{path}: is a folder, not a {what}; {remedy}")
    if not path.is_file():
        raise UnreadableFileError(f"{path}: {what} not found; {remedy}")
    if path.stat().st_size == 0:
        raise UnreadableFileError(f"{path}: the {what} is empty (an interrupted copy?); {remedy}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # EOFError, zip and unpickling errors, weights-only refusals: all mean "not readable"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UnreadableFileError(f"{path}: not a readable {what} ({type(exc).__name__}: {reason}); {remedy}") from exc
