"""The CLI: fast start without torch, one-line errors with exit codes, make-pairs end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pg2cli import __version__
from pg2cli.cli import app

runner = CliRunner()


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"pg2 {__version__}"
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "make-pairs" in r.output


def test_import_and_help_do_not_import_heavy_packages():
    code = (
        "import sys\n"
        "import pg2cli, pg2cli.cli\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(pg2cli.cli.app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'h5py', 'controlnet_aux', 'cv2', 'mediapipe') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at start-up: {out}"


def test_every_command_help_works():
    import typer.main

    commands = list(typer.main.get_command(app).commands)
    assert "make-pairs" in commands
    for c in commands:
        res = runner.invoke(app, [c, "--help"])
        assert res.exit_code == 0, (c, res.output)


def test_make_pairs_cli(shared_data, tmp_path):
    out = tmp_path / "p.csv"
    src = shared_data / "standard" / "fasion-annotation-test.csv"
    r = runner.invoke(app, ["make-pairs", str(src), "-o", str(out), "--dataset", "deepfashion"])
    assert r.exit_code == 0, r.output
    assert out.read_text().count("\n") == 8571
    assert "8,570" in r.output
    # refuses to overwrite, then does with --overwrite
    r = runner.invoke(app, ["make-pairs", str(src), "-o", str(out), "--dataset", "deepfashion"])
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(app, ["make-pairs", str(src), "-o", str(out), "--dataset", "deepfashion", "--overwrite"])
    assert r.exit_code == 0


def test_sample_seed_gives_byte_identical_files(shared_data, tmp_path):
    src = str(shared_data / "standard" / "market-annotation-train.csv")
    for name in ("a.csv", "b.csv"):
        r = runner.invoke(app, ["make-pairs", src, "-o", str(tmp_path / name), "--sample", "500", "--seed", "7"])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_split_writes_two_files(shared_data, tmp_path):
    src = str(shared_data / "market" / "annotations.csv")
    r = runner.invoke(app, ["make-pairs", src, "-o", str(tmp_path / "train.csv"), "--test-identities", "5",
                            "--test-output", str(tmp_path / "test.csv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "test.csv").exists() and (tmp_path / "train.csv").exists()


@pytest.mark.parametrize(
    "content, code, message",
    [
        ("name:keypoints_y:keypoints_x\na.jpg: [1]\n", 1, "bad.csv:2: 2 ':'-separated fields, expected 3"),
        ("name:keypoints_y:keypoints_x\na.jpg: 5: [1]\n", 1, "bad.csv:2: keypoints_y is not a JSON list"),
        ("from,to\na,b\n", 1, "bad.csv:1: header is 'from,to'"),
        ("", 1, "bad.csv: empty file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, content, code, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["make-pairs", str(bad), "-o", str(out)])
    assert r.exit_code == code
    assert message in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_missing_file_and_bad_options(tmp_path):
    r = runner.invoke(app, ["make-pairs", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 1 and "no such file" in r.output
    r = runner.invoke(app, ["make-pairs", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv"),
                            "--require", "left_tail"])
    assert r.exit_code == 2 and "unknown keypoint 'left_tail'" in r.output
    r = runner.invoke(app, ["make-pairs", "x.csv"])
    assert r.exit_code == 2  # missing -o: Typer's own usage error


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "pg2cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout
