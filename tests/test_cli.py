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


def test_run_q3_quick(tmp_path):
    from conftest import mnist_dir

    if mnist_dir() is None:
        pytest.skip("FASTAE_DATA does not name the MNIST directory")
    out = tmp_path / "q3"
    result = invoke("run", "q3", "--quick", "--epochs", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs_layer1"] == 1 and metrics["config"]["n_train"] == 6000
    assert "epoch   1/1" not in result.output  # per-epoch progress only on a terminal
    assert "summary" in result.output


def test_run_q3_missing_data(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("run", "q3", "--quick", "--data-dir", str(empty), "--out", str(tmp_path / "q3"))
    assert_one_line_error(result, code=1)
    assert "train-images-idx3-ubyte" in result.output


def test_device_cuda_without_a_gpu_is_one_line(tmp_path, monkeypatch):
    try:
        from fastae.backends import cuda as cuda_backend
    except ImportError:
        pass  # no CUDA support installed: the same one-line error, for that reason
    else:
        monkeypatch.setattr(cuda_backend, "cuda_unavailable_reason", lambda: "no usable CUDA device was found")
    for exercise in ("q1", "q2", "q3"):
        result = invoke("run", exercise, "--device", "cuda", "--epochs", "1", "--out", str(tmp_path / exercise))
        assert_one_line_error(result, code=1)
        assert "fastae[cuda]" in result.output


def test_device_cuda_runs_q1(tmp_path):
    cuda_backend = pytest.importorskip("fastae.backends.cuda")
    if cuda_backend.cuda_unavailable_reason() is not None:
        pytest.skip("no CUDA device (NUMBA_ENABLE_CUDASIM=1 uses the simulator)")
    result = invoke("run", "q1", "--device", "cuda", "--epochs", "3", "--out", str(tmp_path / "q1"), "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "q1" / "metrics.json").read_text())["config"]["device"] == "cuda"


def test_threads_option_reaches_blas(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "q1"
    code = "from fastae_cli.main import main; main()"
    subprocess.run(
        [sys.executable, "-c", code, "--threads", "1", "run", "q1", "--epochs", "2", "--out", str(out), "--quiet"],
        check=True,
    )
    from fastae.backends.blas import blas_threads

    expected = None if blas_threads() is None else 1  # None: this BLAS does not say
    assert json.loads((out / "metrics.json").read_text())["environment"]["blas_threads"] == expected


def test_run_all_quick(tmp_path):
    from conftest import mnist_dir

    if mnist_dir() is None:
        pytest.skip("FASTAE_DATA does not name the MNIST directory")
    result = invoke("run", "all", "--quick", "--out", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.output
    for exercise in ("q1", "q2", "q3"):
        assert (tmp_path / exercise / "metrics.json").is_file(), exercise


def test_q3_recipe_and_ablation_options_reach_the_run(monkeypatch):
    from fastae.experiments import q3

    seen = {}
    monkeypatch.setattr(q3, "run", lambda cfg, **kw: seen.update(cfg=cfg, **kw))
    result = CliRunner().invoke(cli, ["run", "q3", "--recipe", "strong", "--ablation", "--shift", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    cfg = seen["cfg"]
    assert seen["ablation"] is True
    assert (cfg.epochs_classifier, cfg.shift, cfg.finetune_corruption, cfg.cosine) == (100, 2, 0.1, True)
    result = CliRunner().invoke(cli, ["run", "q3", "--no-cosine", "--quiet"])
    assert result.exit_code == 0 and seen["cfg"].cosine is False and seen["ablation"] is False


def test_a_closed_pipe_costs_no_work_and_files_follow_the_umask(tmp_path):
    """``fastae run q1 | head -2`` through a real pipe: the reader leaves after two lines,
    the run still writes every file and exits 0; off a terminal there are no blank lines;
    every file follows the umask."""
    import os
    import subprocess
    import sys

    out = tmp_path / "q1"
    code = "from fastae_cli.main import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", "q1", "--epochs", "20", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(0o027),
    )
    lines = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # the reader goes away, as `head -2` does
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 0, stderr
    assert stderr == "", stderr
    assert lines[0].startswith(b"Q1 plain: 20 epochs in ") and lines[1].strip(), lines
    for name in Q1_FILES + ["report.html"]:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_mode & 0o777 == 0o640, name
    assert out.stat().st_mode & 0o777 == 0o750


def test_epoch_lines_read_the_same_everywhere():
    from fastae.experiments.common import epoch_line

    line = epoch_line("layer 1", 3, 50, "loss 97.8652", 2.0, 60000, 94.0)
    assert line == "  layer 1 epoch  3/50: loss 97.8652, 2.00 s, 30,000 images/s, ETA 1 min 34 s"
    assert epoch_line("layer 2", 50, 50, "loss 1.0000", 0.5, 1000, 0.0).endswith("2,000 images/s")
