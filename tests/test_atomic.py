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
