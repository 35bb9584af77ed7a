"""A writer killed mid-way leaves the previous output intact and nothing that looks complete."""

import subprocess
import sys
import textwrap

from gig_core.atomic import atomic_dir, atomic_file


def _killed_writer(code: str, cwd) -> None:
    script = "import os\nfrom gig_core.atomic import atomic_dir, atomic_file\n" + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", script], cwd=cwd)
    assert result.returncode == 9  # os._exit(9) stands in for SIGKILL mid-write


def test_killed_directory_writer_keeps_previous_output(tmp_path):
    with atomic_dir(tmp_path / "out") as out:
        (out / "catalog.parquet").write_text("previous")
    _killed_writer("""
with atomic_dir("out") as out:
    (out / "catalog.parquet").write_text("half")
    os._exit(9)
""", tmp_path)
    assert (tmp_path / "out" / "catalog.parquet").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]  # the dead writer's leftovers
    with atomic_dir(tmp_path / "out") as out:  # the next writer clears them
        (out / "catalog.parquet").write_text("next")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "catalog.parquet").read_text() == "next"


def test_killed_file_writer_keeps_previous_file(tmp_path):
    with atomic_file(tmp_path / "checkpoint.pt") as handle:
        handle.write(b"previous")
    _killed_writer("""
with atomic_file("checkpoint.pt") as handle:
    handle.write(b"half")
    handle.flush()
    os._exit(9)
""", tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"previous"


def test_an_exception_removes_the_temporary(tmp_path):
    try:
        with atomic_dir(tmp_path / "out") as out:
            (out / "x").write_text("x")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_named_and_the_previous_file_kept(tmp_path):
    """On a 1 MB tmpfs (root can mount one; else a write to /dev/full): a real ENOSPC, from torch.save too."""
    import pytest
    import torch

    from gig_core.atomic import DiskFullError
    from gig_core.training.checkpoint import save_checkpoint

    disk = tmp_path / "small"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]
    mounted = subprocess.run(mount, capture_output=True).returncode == 0
    try:
        if mounted:
            save_checkpoint(disk / "checkpoint.pt", {"step": 1})
            with pytest.raises(DiskFullError, match="checkpoint.pt: no space left on the device"):
                save_checkpoint(disk / "checkpoint.pt", {"weights": torch.zeros(1_000_000)})  # 4 MB
            assert torch.load(disk / "checkpoint.pt", weights_only=True) == {"step": 1}
            assert [p.name for p in disk.iterdir()] == ["checkpoint.pt"]  # no temporary left behind
        else:
            with atomic_file(disk / "out.json", "w") as handle:
                handle.write("previous")
            with pytest.raises(DiskFullError, match="out.json: no space left on the device"):
                with atomic_file(disk / "out.json", "wb"), open("/dev/full", "wb", buffering=0) as full:
                    full.write(b"x")  # ENOSPC, as from a full disk
            assert (disk / "out.json").read_text() == "previous"
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)
