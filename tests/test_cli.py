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


def _gig(*args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    empty = cwd / "empty.yaml"
    empty.write_text("")
    command = [sys.executable, "-m", "gig_core.cli", *args]
    if args[0] not in ("--version",):
        command[4:4] = ["--params", str(empty)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})})


def _one_line_error(result: subprocess.CompletedProcess, command: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"gig {command}: error: "), result.stderr
    return lines[0]


def test_damaged_checkpoints_and_bad_outputs_are_one_line_errors(tiny_run, tmp_path):
    out = tmp_path / "train"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    line = _one_line_error(_gig("train", "--data-dir", tiny_run.preprocess.out_dir, "--out-dir", str(out), "--resume",
                                "auto", "--quiet", cwd=tmp_path), "train")
    assert f"{out / 'checkpoint.pt'}: not a readable training checkpoint" in line and "start fresh" in line
    (out / "checkpoint.pt").write_bytes(b"")
    line = _one_line_error(_gig("train", "--data-dir", tiny_run.preprocess.out_dir, "--out-dir", str(out), "--resume",
                                "auto", cwd=tmp_path), "train")
    assert "the training checkpoint is empty" in line
    line = _one_line_error(_gig("generate", "--model", tiny_run.train.out_dir, "--out", str(tmp_path / "g.png"),
                                cwd=tmp_path), "generate")
    assert f"generate.out: {tmp_path / 'g.png'} is a file name; give a folder" in line
    line = _one_line_error(_gig("train", "--log-every", "0", cwd=tmp_path), "train")
    assert "train.log_every: got 0; must be >= 1" in line


def test_verbose_shows_the_traceback_and_old_flags_warn(tmp_path):
    verbose = _gig("train", "--steps", "0", "--verbose", cwd=tmp_path)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr and "ConfigError" in verbose.stderr
    debug = _gig("train", "--steps", "0", cwd=tmp_path, env={"GIG_DEBUG": "1"})
    assert "Traceback" in debug.stderr
    renamed = _gig("train", "--model", "nope", cwd=tmp_path)
    assert renamed.stderr.splitlines()[0] == "gig train: warning: --model is deprecated here; use --family"
    assert "train.model: got 'nope'" in renamed.stderr
    version = _gig("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("gig 0.")


def test_reading_a_model_needs_its_registry_and_creates_none(tiny_run, tmp_path):
    line = _one_line_error(_gig("generate", cwd=tmp_path), "generate")  # models:/...@champion, sqlite:///mlflow.db
    assert f"no MLflow database at {tmp_path / 'mlflow.db'}" in line
    assert not (tmp_path / "mlflow.db").exists()
    import time

    started = time.monotonic()
    line = _one_line_error(_gig("generate", "--tracking-uri", "http://127.0.0.1:9", cwd=tmp_path), "generate")
    assert "http://127.0.0.1:9: the MLflow tracking server does not answer" in line
    assert time.monotonic() - started < 60  # MLflow's own retries would take minutes


@pytest.mark.parametrize("command", ["serve", "gallery"])
def test_a_taken_port_is_one_line_before_any_model_loads(command, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # the model named does not exist: the port is checked first, so the error is about the port
        line = _one_line_error(_gig(command, "--port", str(port), *(("--model", str(tmp_path / "nowhere"))
                                                                    if command == "serve" else ()), cwd=tmp_path),
                               command)
    assert line == (f"gig {command}: error: {command}: cannot listen on 127.0.0.1:{port} (Address already in use); "
                    "choose another port with --port, or 0 for any free port")
