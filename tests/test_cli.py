"""The command line through click's CliRunner."""
import json

import pytest
from click.testing import CliRunner

from fastae_cli.main import cli

Q1_FILES = [
    "learning_curves.png",
    "metrics.json",
    *[f"{kind}_{run}.png" for kind in ("weights", "hidden", "reconstructions") for run in ("plain", "sparse")],
    *[f"model_{run}.{ext}" for run in ("plain", "sparse") for ext in ("npz", "json")],
]


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error:")]) == 1


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0 and "run" in result.output
    result = invoke("run", "q1", "--help")
    assert result.exit_code == 0 and "--epochs" in result.output


def test_run_q1_writes_every_file(tmp_path):
    out = tmp_path / "q1"
    result = invoke("run", "q1", "--epochs", "50", "--out", str(out))
    assert result.exit_code == 0, result.output
    for name in Q1_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["runs"]) == {"plain", "sparse"}
    assert len(metrics["runs"]["plain"]["h"]) == 5
    assert "mean hidden activation" in result.output and "x5" in result.output


@pytest.mark.parametrize(
    "args",
    [["run", "q1", "--epochs", "-3"], ["run", "q1", "--lr", "0"], ["run", "q7"], ["run", "q1", "--bogus"]],
)
def test_bad_options(args):
    assert_one_line_error(invoke(*args))


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("run", "q1", "--epochs", "5", "--out", str(blocker / "sub"))
    assert_one_line_error(result, code=1)
    assert "--out" in result.output


def test_run_q2(tmp_path):
    out = tmp_path / "q2"
    result = invoke("run", "q2", "--epochs", "5", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == 5
    assert (out / "comparison.png").is_file()
    assert_one_line_error(invoke("run", "q2", "--batch-size", "0"))
