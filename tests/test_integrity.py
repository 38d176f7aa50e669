"""Nothing lost, nothing silently wrong: a saved model or checkpoint is one unit, training
that diverges stops with an error, signals stop a run cleanly, and every bad input is a
clean error."""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from fastae_cli.main import cli

from fastae import Autoencoder, StackedClassifier, TrainingDiverged, TrainingInterrupted, io

X_BITS = (np.random.default_rng(0).random((20, 6)) < 0.5).astype(np.float32)


def small_ae(seed=1):
    return Autoencoder(6, 3, seed=seed)


# ------------------------------------------------------------ one unit on disk


def test_a_save_torn_between_its_two_files_is_refused(tmp_path, monkeypatch):
    """A kill after the new .npz and before the new .json (a fault injected between the
    two writes) leaves the old config beside the new arrays: load refuses the pair."""
    old, new = small_ae(1), small_ae(2)
    old.save(tmp_path / "m")

    def killed(path, data):
        raise SystemExit("killed between the two writes")

    monkeypatch.setattr(io, "save_json", killed)
    with pytest.raises(SystemExit):
        new.save(tmp_path / "m")
    monkeypatch.undo()
    assert not np.array_equal(np.load(tmp_path / "m.npz")["W"], old.W)  # the torn state: new arrays, old config
    with pytest.raises(ValueError, match=r"m\.npz: its arrays do not match m\.json"):
        Autoencoder.load(tmp_path / "m")
    new.save(tmp_path / "m")  # a complete save makes it whole again
    np.testing.assert_array_equal(Autoencoder.load(tmp_path / "m").W, new.W)


def test_a_torn_checkpoint_is_not_resumed_and_the_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch,
                                                                                    stop_after):
    from fastae.experiments import train as recipe

    X = (np.random.default_rng(3).random((40, 9)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(5,), epochs=3, batch_size=8, seed=4)
    recipe.run(cfg, X, tmp_path / "whole")
    out = tmp_path / "torn"
    stop_after(7)  # the first checkpoint: after 1 epoch and 2 batches
    with pytest.raises(KeyboardInterrupt):
        recipe.run(cfg, X, out)
    first = json.loads((out / "layer1.checkpoint.json").read_text())
    stop_after(3)  # resumed, stopped again: its .npz is written, its .json never
    real = io.save_json

    def killed_before_the_checkpoint_json(path, data):
        if str(path).endswith("checkpoint.json"):
            raise SystemExit("killed between the two writes")
        return real(path, data)

    monkeypatch.setattr(io, "save_json", killed_before_the_checkpoint_json)
    with pytest.raises(SystemExit):
        recipe.run(cfg, X, out, resume=True)
    monkeypatch.undo()
    assert json.loads((out / "layer1.checkpoint.json").read_text()) == first  # the old config, new arrays
    lines = []
    recipe.run(cfg, X, out, lines.append, resume=True)
    assert not any("continuing" in line for line in lines)  # the torn checkpoint is not used
    assert any("come from different saves" in line for line in lines), lines
    a, b = Autoencoder.load(out / "layer1"), Autoencoder.load(tmp_path / "whole" / "layer1")
    np.testing.assert_array_equal(a.W, b.W)


def test_a_second_ctrl_c_during_a_save_waits_until_both_files_are_written(tmp_path, monkeypatch):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    real = np.savez

    def savez_then_ctrl_c(f, **arrays):
        signal.raise_signal(signal.SIGINT)  # lands in the middle of the save
        real(f, **arrays)

    monkeypatch.setattr(io.np, "savez", savez_then_ctrl_c)
    model = small_ae(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            model.save(tmp_path / "m")
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    np.testing.assert_array_equal(Autoencoder.load(tmp_path / "m").W, model.W)


# ------------------------------------------------------------------ divergence


def test_divergence_stops_at_the_first_non_finite_epoch_and_keeps_the_last_finite_model():
    model = small_ae()
    with pytest.raises(TrainingDiverged, match=r"in epoch 5; the model keeps its parameters after epoch 4; "
                                               r"lower the learning rate") as e:
        model.fit(X_BITS, 10, 1e38, 8, chunk_epochs=10)
    assert e.value.epoch == 5 and model.epochs_trained == 4 and len(e.value.history) == 4
    assert np.isfinite(e.value.history).all()
    reference = small_ae()
    np.testing.assert_array_equal(reference.fit(X_BITS, 4, 1e38, 8), e.value.history)
    for name, a in reference.params().items():
        np.testing.assert_array_equal(model.params()[name], a)


def test_a_squared_error_that_overflows_is_divergence_and_says_to_scale_the_data():
    model = Autoencoder(6, 3, loss="mse")
    W0 = model.W.copy()
    with pytest.raises(TrainingDiverged, match=r"epoch 1; .*scale the data \(values up to 1e\+20\)"):
        model.fit(X_BITS * np.float32(1e20), 2, 0.1, 8)
    np.testing.assert_array_equal(model.W, W0)
    assert model.epochs_trained == 0


def test_a_diverging_classifier_keeps_its_parameters_and_optimizer_state():
    X, y = X_BITS * np.float32(1e30), np.arange(20) % 3
    model = StackedClassifier([6, 3], 3, seed=2)
    model.fit(X, y, 1, 1e-3, 8, optimizer="adam")
    before = model.params()
    steps = int(model._opt_state[1].t[0])
    with pytest.raises(TrainingDiverged, match="epoch 2"):
        model.fit(X, y, 3, 1e30, 8, optimizer="adam")
    assert model.epochs_trained == 1 and int(model._opt_state[1].t[0]) == steps
    for name, a in before.items():
        np.testing.assert_array_equal(model.params()[name], a)


def test_a_fit_whose_last_batch_hears_ctrl_c_raises_after_keeping_the_work():
    """Ctrl-C in the last batch (or the last callback) used to be lost: the run went on."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def ctrl_c_in_the_last_epoch(done, history):
        if done == 3:
            signal.raise_signal(signal.SIGINT)

    model = small_ae()
    try:
        with pytest.raises(TrainingInterrupted) as e:
            model.fit(X_BITS, 3, 0.1, 8, callback=ctrl_c_in_the_last_epoch, chunk_epochs=1)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert model.epochs_trained == 3 and model.partial_epoch is None and len(e.value.history) == 3
    reference = small_ae()
    reference.fit(X_BITS, 3, 0.1, 8)
    np.testing.assert_array_equal(model.W, reference.W)


# ------------------------------------------------------------------ signals, for real

RUN_TRAIN = """
import sys
import numpy as np
from fastae_cli.main import main
sys.argv = ["fastae", "train", sys.argv[1], "--hidden", "64", "--epochs", "40", "--batch-size", "16",
            "--out", sys.argv[2]] + sys.argv[3:]
main()
"""


def _fastae_train(args, env, **kw):
    return subprocess.Popen([sys.executable, "-c", RUN_TRAIN, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


@pytest.fixture
def child_env():
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", "/tmp/fastae-test-numba-cache")
    return env


def test_sigterm_saves_a_checkpoint_and_resume_ends_as_an_uninterrupted_run(tmp_path, child_env):
    """A real SIGTERM (what a batch scheduler or ``docker stop`` sends) once training runs."""
    X = (np.random.default_rng(5).random((4000, 49)) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    whole = _fastae_train([str(tmp_path / "x.npy"), str(tmp_path / "whole"), "--quiet"], child_env)
    assert whole.wait(timeout=300) == 0, whole.stdout.read()
    part = _fastae_train([str(tmp_path / "x.npy"), str(tmp_path / "part")], child_env)
    try:
        for line in part.stdout:  # one progress line per chunk of epochs: training runs
            if "layer 1 epoch" in line:
                part.send_signal(signal.SIGTERM)
                break
        output = part.stdout.read()
        assert part.wait(timeout=120) == 128 + signal.SIGTERM, output
    finally:
        part.kill()
    assert "Interrupted by SIGTERM: layer 1 stopped after" in output and "Traceback" not in output
    assert (tmp_path / "part" / "layer1.checkpoint.npz").is_file()
    resumed = _fastae_train([str(tmp_path / "x.npy"), str(tmp_path / "part"), "--resume"], child_env)
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0 and "continuing from" in output, output
    np.testing.assert_array_equal(Autoencoder.load(tmp_path / "part" / "layer1").W,
                                  Autoencoder.load(tmp_path / "whole" / "layer1").W)


def test_ctrl_c_before_a_command_starts_is_one_line_and_status_130(monkeypatch, capsys):
    from fastae_cli import main as cli_main

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "cli", ctrl_c)
    with pytest.raises(SystemExit) as e:
        cli_main.main()
    assert e.value.code == 130 and capsys.readouterr().err.strip() == "Interrupted."


# ---------------------------------------------------------- a run knows its data


def test_fastae_train_encode_refuses_a_stack_mixed_from_two_runs(tmp_path, stop_after):
    from fastae.experiments import train as recipe

    X = (np.random.default_rng(6).random((40, 9)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(5, 3), epochs=2, batch_size=8)
    recipe.run(cfg, X, tmp_path / "a")
    assert len(recipe.load_stack(tmp_path / "a")) == 2
    stop_after(3)  # an interrupted re-run with another seed: a new layer 1 beside the old layer 2
    with pytest.raises(KeyboardInterrupt):
        recipe.run(recipe.TrainConfig(hidden=(5, 3), epochs=2, batch_size=8, seed=1), X, tmp_path / "a")
    with pytest.raises(ValueError, match="its last run did not finish"):
        recipe.load_stack(tmp_path / "a")
    # A complete run whose layer 1 was swapped for another run's.
    recipe.run(cfg, X, tmp_path / "b")
    recipe.run(recipe.TrainConfig(hidden=(5, 3), epochs=2, batch_size=8, seed=2), X, tmp_path / "c")
    for suffix in ("npz", "json"):
        shutil.copy(tmp_path / "c" / f"layer1.{suffix}", tmp_path / "b" / f"layer1.{suffix}")
    with pytest.raises(ValueError, match="layer2 was trained on another layer1"):
        recipe.load_stack(tmp_path / "b")


def test_two_runs_into_one_directory_the_second_refused(tmp_path):
    from fastae.experiments import q1

    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match="another fastae run .* is writing into"):
            q1.run(q1.Q1Config(epochs=2), out=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    q1.run(q1.Q1Config(epochs=2), out=tmp_path)  # free again


def test_files_no_fastae_run_wrote_are_replaced_only_with_overwrite(tmp_path):
    mine = tmp_path / "metrics.json"
    mine.write_text('{"mine": true}')
    args = ["run", "q1", "--epochs", "2", "--out", str(tmp_path), "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "no fastae run wrote there (metrics.json)" in result.output
    assert "--overwrite" in result.output and mine.read_text() == '{"mine": true}'
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0
    assert json.loads(mine.read_text())["exercise"] == "q1"
    assert json.loads((tmp_path / "run.json").read_text())["complete"] is True
    assert CliRunner().invoke(cli, args).exit_code == 0  # a fastae run's own outputs: replaced
    assert "--overwrite" in CliRunner().invoke(cli, ["run", "q1", "--help"]).output


@pytest.mark.parametrize("command", [["run", "q1", "--epochs", "2"], ["train", "DATA"], ["encode", "MODEL", "DATA"]])
def test_an_empty_out_is_refused(tmp_path, command):
    np.save(tmp_path / "x.npy", X_BITS)
    small_ae().save(tmp_path / "m")
    args = [str(tmp_path / "x.npy") if a == "DATA" else str(tmp_path / "m") if a == "MODEL" else a for a in command]
    result = CliRunner().invoke(cli, [*args, "--out", ""])
    assert result.exit_code == 2 and "Error: Invalid value for '--out'" in result.output, result.output


def test_encode_refuses_to_overwrite_its_input(tmp_path):
    np.save(tmp_path / "x.npy", X_BITS)
    small_ae().save(tmp_path / "m")
    before = (tmp_path / "x.npy").read_bytes()
    result = CliRunner().invoke(cli, ["encode", str(tmp_path / "m"), str(tmp_path / "x.npy"),
                                      "--out", str(tmp_path / "x.npy")])
    assert result.exit_code == 2 and "is the input DATA" in result.output
    assert (tmp_path / "x.npy").read_bytes() == before


def test_threads_beyond_the_range_are_a_usage_error():
    result = CliRunner().invoke(cli, ["--threads", "2147483648", "run", "q1", "--help"])
    assert result.exit_code == 2 and "--threads" in result.output and "Traceback" not in result.output
