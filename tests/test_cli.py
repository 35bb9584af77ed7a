import subprocess
import sys

import pytest

from gig_core.cli import STAGES, main


@pytest.mark.parametrize("command", [*STAGES, "sample-catalog", "summary"])
def test_every_subcommand_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: gig" in capsys.readouterr().out


def test_bad_catalog_is_a_one_line_error_not_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gig_core.cli", "ingest", "--source", str(tmp_path / "nowhere"),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"gig ingest: error: catalog folder not found: {tmp_path / 'nowhere'}"


def test_sample_catalog_is_copied_once(tmp_path, capsys):
    dest = tmp_path / "data"
    assert main(["sample-catalog", str(dest)]) == 0
    assert (dest / "styles.csv").is_file() and len(list((dest / "images").iterdir())) == 2000
    (dest / "styles.csv").write_text("id\n")  # the user's own catalog now; never overwritten
    assert main(["sample-catalog", str(dest)]) == 0
    assert (dest / "styles.csv").read_text() == "id\n"
    assert "already present" in capsys.readouterr().out
