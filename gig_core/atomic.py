"""Atomic outputs: a stage's output appears complete or not at all.

Everything is written into a temporary sibling and moved into place with os.replace, so a
killed process leaves either the previous output or nothing, never a half-written artifact.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gig_core.errors import GigError

FULL_DISK_BYTES = 1 << 20  # a failed write with less free space than this is taken for a full disk


class DiskFullError(GigError):
    """A write that failed because its file system is full (torch.save reports it as a RuntimeError)."""


def _disk_full(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, (OSError, RuntimeError)):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(folder).free < FULL_DISK_BYTES
    return False


def _full_disk_message(path: Path) -> str:
    return (f"{path}: no space left on the device while writing it (the previous version, if any, is kept); "
            f"free some space or point the stage's out_dir at a larger disk")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(path: Path) -> None:
    """Delete temporaries that a killed writer of `path` left behind (their pid is gone)."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        pid = stale.name.removeprefix(f".{path.name}.tmp-").split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `path` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes it 0700
    try:
        yield tmp
    except BaseException as exc:
        full = _disk_full(exc, path.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise DiskFullError(_full_disk_message(path)) from exc
        raise
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file next to `path`; it is renamed onto `path` only after a clean close."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        full = _disk_full(exc, path.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if full:
            raise DiskFullError(_full_disk_message(path)) from exc
        raise


def write_json(path: str | Path, data: Any) -> None:
    with atomic_file(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
