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


def test_a_save_torn_between_its_two_files_reads_as_the_old_model_never_a_mix(tmp_path, monkeypatch):
    """A kill after the new .npz and before the new .json (a fault injected between the
    two writes) leaves the old config beside the new arrays: load gives the old model whole
    (from the arrays kept until the new config is in place), and without those, refuses."""
    old, new = small_ae(1), small_ae(2)
    old.fit(X_BITS, 2, 0.1, 8)
    old.save(tmp_path / "m")

    def killed(path, data):
        raise SystemExit("killed between the two writes")

    monkeypatch.setattr(io, "save_json", killed)
    with pytest.raises(SystemExit):
        new.save(tmp_path / "m")
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(tmp_path / "m.npz")["W"], new.W)  # the torn state: new arrays, old config
    loaded = Autoencoder.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.W, old.W)
    assert loaded.epochs_trained == 2
    io.previous_arrays_path(tmp_path / "m.npz").unlink()
    with pytest.raises(ValueError, match=r"m\.npz: its arrays do not match m\.json"):
        Autoencoder.load(tmp_path / "m")
    new.save(tmp_path / "m")  # a complete save makes it whole again, and leaves nothing behind
    np.testing.assert_array_equal(Autoencoder.load(tmp_path / "m").W, new.W)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.npz"]


def test_a_torn_checkpoint_resumes_from_the_previous_one_and_ends_as_an_uninterrupted_run(tmp_path, monkeypatch,
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
    assert any("continuing from" in line and "after 1 epochs" in line for line in lines), lines  # the first one
    a, b = Autoencoder.load(out / "layer1"), Autoencoder.load(tmp_path / "whole" / "layer1")
    np.testing.assert_array_equal(a.W, b.W)
    assert not [p.name for p in out.iterdir() if "checkpoint" in p.name]

    # Without the previous arrays (a file system without hard links) the torn pair is not used.
    stop_after(7)
    with pytest.raises(KeyboardInterrupt):
        recipe.run(cfg, X, tmp_path / "nolinks")
    monkeypatch.setattr(io.os, "link", lambda *a: (_ for _ in ()).throw(OSError("no hard links")))
    monkeypatch.setattr(io, "save_json", killed_before_the_checkpoint_json)
    stop_after(3)
    with pytest.raises(SystemExit):
        recipe.run(cfg, X, tmp_path / "nolinks", resume=True)
    monkeypatch.undo()
    lines = []
    recipe.run(cfg, X, tmp_path / "nolinks", lines.append, resume=True)
    assert not any("continuing" in line for line in lines)
    assert any("come from different saves" in line for line in lines), lines
    np.testing.assert_array_equal(Autoencoder.load(tmp_path / "nolinks" / "layer1").W, b.W)


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


def _fastae_train_on_a_terminal(args, env):
    """``_fastae_train`` with its output on a pseudo-terminal, where the per-epoch progress
    lines show; returns the process and the terminal's reading end."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", RUN_TRAIN, *args], env=env, stdout=slave, stderr=slave)
    os.close(slave)
    return proc, master


def _read_terminal(master, until=None):
    """What the child wrote on the terminal, up to a line with ``until`` (None: its end)."""
    text = ""
    while until is None or until not in text:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        text += data.decode(errors="replace")
    return text


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
    part, terminal = _fastae_train_on_a_terminal([str(tmp_path / "x.npy"), str(tmp_path / "part")], child_env)
    try:
        output = _read_terminal(terminal, until="layer 1 epoch")  # a progress line: training runs
        part.send_signal(signal.SIGTERM)
        output += _read_terminal(terminal)
        assert part.wait(timeout=120) == 128 + signal.SIGTERM, output
    finally:
        part.kill()
        os.close(terminal)
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
    from fastae.experiments import stack
    from fastae.experiments import train as recipe

    X = (np.random.default_rng(6).random((40, 9)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(5, 3), epochs=2, batch_size=8)
    recipe.run(cfg, X, tmp_path / "a")
    assert len(stack.load_stack(tmp_path / "a")) == 2
    stop_after(3)  # an interrupted re-run with another seed: a new layer 1 beside the old layer 2
    with pytest.raises(KeyboardInterrupt):
        recipe.run(recipe.TrainConfig(hidden=(5, 3), epochs=2, batch_size=8, seed=1), X, tmp_path / "a")
    with pytest.raises(ValueError, match="its last run did not finish"):
        stack.load_stack(tmp_path / "a")
    # A complete run whose layer 1 was swapped for another run's.
    recipe.run(cfg, X, tmp_path / "b")
    recipe.run(recipe.TrainConfig(hidden=(5, 3), epochs=2, batch_size=8, seed=2), X, tmp_path / "c")
    for suffix in ("npz", "json"):
        shutil.copy(tmp_path / "c" / f"layer1.{suffix}", tmp_path / "b" / f"layer1.{suffix}")
    with pytest.raises(ValueError, match="layer2 was trained on another layer1"):
        stack.load_stack(tmp_path / "b")


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


# ------------------------------------------------------------ Q3 knows its data

MNIST = os.environ.get("FASTAE_DATA")
needs_mnist = pytest.mark.skipif(not (MNIST and os.path.isdir(MNIST)), reason="needs the real MNIST in FASTAE_DATA")


@needs_mnist
def test_q3_resume_on_other_data_is_refused(tmp_path):
    """``--resume --data-dir OTHER`` used to load every stage trained on the first data."""
    from fastae.datasets import read_idx
    from fastae.experiments.q3 import Q3Config, run

    other = tmp_path / "other"
    other.mkdir()
    for name in os.listdir(MNIST):
        if name.startswith(("t10k", "train-labels")):
            os.symlink(os.path.join(MNIST, name), other / name)
    images = read_idx(next(os.path.join(MNIST, n) for n in os.listdir(MNIST) if n.startswith("train-images")))
    images[0] = 255 - images[0]  # one training image differs
    header = np.array([0x00000803, *images.shape], dtype=">u4")  # unsigned bytes, 3 dimensions
    (other / "train-images-idx3-ubyte").write_bytes(header.tobytes() + images.tobytes())
    cfg = Q3Config(n_train=500, n_val=100, n_test=100, n_hidden1=16, n_hidden2=8, epochs_layer1=1, epochs_layer2=1,
                   epochs_classifier=1)
    run(cfg, tmp_path / "run", data_dir=MNIST)
    with pytest.raises(ValueError, match=r"--resume: .* was trained on other data \(train: .*size 500"):
        run(cfg, tmp_path / "run", data_dir=other, resume=True)
    run(cfg, tmp_path / "run", data_dir=MNIST, resume=True)  # the same data: every stage loaded


@needs_mnist
def test_the_largest_seed_runs_every_q3_stage(tmp_path):
    """Stages use seed + 1 ... + 3: at the top of the seed range they wrap around, they
    do not overflow."""
    from fastae.config import MAX_SEED

    result = CliRunner().invoke(cli, ["run", "q3", "--quick", "--epochs", "1", "--seed", str(MAX_SEED),
                                      "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "classifier.json").read_text())["seed"] == 1  # MAX_SEED + 2, wrapped
    result = CliRunner().invoke(cli, ["run", "q3", "--quick", "--seed", str(MAX_SEED + 1), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--seed" in result.output


# -------------------------------------------------------- tampered model files


def _saved(tmp_path, edit_config=None, arrays=None):
    model = small_ae()
    model.save(tmp_path / "m")
    if arrays is not None:
        np.savez(tmp_path / "m.npz", **arrays)
    if edit_config is not None:
        cfg = json.loads((tmp_path / "m.json").read_text())
        edit_config(cfg)
        (tmp_path / "m.json").write_text(json.dumps(cfg))
    return tmp_path / "m"


def test_a_config_claiming_huge_sizes_is_refused_before_anything_is_allocated(tmp_path):
    import tracemalloc

    path = _saved(tmp_path, lambda cfg: cfg.update(n_hidden=40_000_000))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"m\.npz: .*array W has shape \(6, 3\), expected \(6, 40000000\)"):
            Autoencoder.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # the 6 x 40,000,000 initial weights were never drawn (1.9 GB)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"W": np.full((6, 3), np.nan, np.float32)}, "array W holds NaN or infinite values"),
    ({"W": np.full((6, 3), np.inf, np.float32)}, "array W holds NaN or infinite values"),
    ({"W": np.ones((6, 3), np.complex64)}, "array W has dtype complex64, expected floating-point numbers"),
    ({"W": np.zeros(18, [("a", "f4")]).reshape(6, 3)}, "array W has dtype .*expected floating-point numbers"),
    ({"W": np.ones((6, 3), np.int32)}, "array W has dtype int32"),
])
def test_weights_that_are_not_finite_real_numbers_are_refused(tmp_path, arrays, message):
    ok = small_ae().params()
    path = _saved(tmp_path, lambda cfg: cfg.pop("arrays_sha256"), {**ok, **arrays})  # a hand-made model
    with pytest.raises(ValueError, match=r"m\.npz: .*" + message):
        Autoencoder.load(path)
    result = CliRunner().invoke(cli, ["encode", str(path), _npy(tmp_path), "--out", str(tmp_path / "c.npy")])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "m.npz" in result.output
    assert not (tmp_path / "c.npy").exists()


def _npy(tmp_path):
    np.save(tmp_path / "x.npy", X_BITS)
    return str(tmp_path / "x.npy")


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: p.with_suffix(".npz").write_bytes(b""), r"m\.npz: not a readable model file"),
    (lambda p: p.with_suffix(".npz").write_bytes(b"PK\x05\x06" + bytes(18)), r"m\.npz: .*holds no arrays"),
    (lambda p: p.with_suffix(".json").write_text("[" * 100_000 + "]" * 100_000), r"m\.json: .*nested too deeply"),
    (lambda p: p.with_suffix(".json").write_text("[1, 2]"), r"m\.json: .*holds a JSON list, not an object"),
    (lambda p: p.with_suffix(".json").write_text('{"kind": "Autoencoder", '), r"m\.json: not a readable"),
    (lambda p: p.with_suffix(".json").write_text('{"kind": "Autoencoder"}'), r"m\.json: the saved model lacks"),
])
def test_damaged_model_files_are_one_error_naming_the_file(tmp_path, damage, message):
    path = _saved(tmp_path)
    damage(path)
    with pytest.raises(ValueError, match=message):
        Autoencoder.load(path)
    result = CliRunner().invoke(cli, ["encode", str(path), _npy(tmp_path), "--out", str(tmp_path / "c.npy")])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "Aborted" not in result.output
    assert result.output.count("\n") == 1, result.output


def test_a_checkpoint_json_that_is_not_an_object_is_an_error_on_resume(tmp_path, stop_after):
    X = (np.random.default_rng(3).random((40, 9)) < 0.4).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    args = ["train", str(tmp_path / "x.npy"), "--hidden", "5", "--epochs", "2", "--batch-size", "8",
            "--out", str(tmp_path / "run")]
    stop_after(3)
    assert CliRunner().invoke(cli, args).exit_code == 130
    (tmp_path / "run" / "layer1.checkpoint.json").write_text('"just a string"')
    result = CliRunner().invoke(cli, [*args, "--resume"])
    assert result.exit_code == 1 and "layer1.checkpoint.json: not a readable model config" in result.output
    assert "Traceback" not in result.output


def test_a_step_count_beyond_int64_is_a_clear_error(tmp_path):
    model = StackedClassifier([6, 3], 3)
    model.fit(X_BITS, np.arange(20) % 3, 1, 1e-3, 8, optimizer="adam")
    model.save(tmp_path / "c", optimizer_state=True)
    cfg = json.loads((tmp_path / "c.json").read_text())
    cfg["optimizer"]["steps"] = 2**64
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="malformed optimizer record"):
        StackedClassifier.load(tmp_path / "c")


# ---------------------------------------------------------- bombs, absurd sizes


def _gzip_idx(path, dims, payload_bytes, trailing_bytes=0):
    """A gzipped IDX file with the header ``dims`` and zeros, written in pieces (never all in memory)."""
    import gzip

    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(np.array([0x00000800 | len(dims), *dims], dtype=">u4").tobytes())
        zeros = bytes(2**20)
        for left in (payload_bytes, trailing_bytes):
            while left > 0:
                f.write(zeros[:min(left, len(zeros))])
                left -= len(zeros)
    return path


def _peak_memory(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_idx_whose_header_claims_more_than_it_can_hold_is_refused_before_inflating(tmp_path):
    from fastae.datasets import DatasetError, read_idx

    path = _gzip_idx(tmp_path / "bomb-idx3-ubyte.gz", (2**32 - 1, 2**32 - 1, 1), 64 * 2**20)

    def read():
        with pytest.raises(DatasetError, match=r"bomb-idx3-ubyte\.gz: the header shape .* more than the file can hold"):
            read_idx(path)

    assert _peak_memory(read) < 8 * 2**20  # the 64 MiB of zeros were never inflated into memory


def test_gigabytes_of_trailing_zeros_are_not_counted_to_the_end(tmp_path):
    from fastae.datasets import DatasetError, read_idx
    from fastae.userdata import DataError, load_array

    path = _gzip_idx(tmp_path / "trailing-idx2-ubyte.gz", (4, 4), 16, trailing_bytes=64 * 2**20)
    with pytest.raises(DatasetError, match=r"more than \d+ unexpected trailing bytes after the 16 payload bytes"):
        read_idx(path)
    with pytest.raises(DataError, match=r"trailing-idx2-ubyte\.gz: .*unexpected trailing bytes"):
        load_array(path)


@pytest.mark.parametrize("make", [
    lambda: Autoencoder(784, 10**9),
    lambda: Autoencoder(10**6, 10**6),
    lambda: StackedClassifier([784, 10**9, 10], 10),
    lambda: StackedClassifier([10**10], 10),
])
def test_models_too_large_to_allocate_are_a_value_error(make):
    with pytest.raises(ValueError, match=r"GiB, more than this machine's .* GiB of memory; choose smaller layers"):
        make()


# ------------------------------------------------------- API errors of one kind

Y3 = np.arange(20) % 3


@pytest.mark.parametrize(("call", "message"), [
    (lambda: StackedClassifier(16, 3), "layer_sizes: expected a sequence"),
    (lambda: StackedClassifier("784", 3), "layer_sizes: expected a sequence"),
    (lambda: StackedClassifier.from_autoencoders([1, 2]), "autoencoders: expected fastae.Autoencoder models"),
    (lambda: StackedClassifier.from_autoencoders(7), "autoencoders: expected a list"),
    (lambda: StackedClassifier([6, 3], 3).fit(X_BITS, Y3, 1, 0.1, 8, eval_sets=[(X_BITS, Y3)]), "eval_sets"),
    (lambda: small_ae().fit(X_BITS, 2, 0.1, 8, chunk_epochs=1.5), "chunk_epochs: expected a positive integer"),
    (lambda: Autoencoder(6, 3, dtype="banana"), "dtype: expected float32 or float64"),
    (lambda: Autoencoder(6, 3, seed=2**63), "seed: expected an integer from 0 to"),
    (lambda: StackedClassifier([6, 3], 3, seed=-1), "seed: expected an integer from 0 to"),
    (lambda: small_ae().fit(np.ma.masked_array(X_BITS, X_BITS > 0), 1, 0.1), "X: a masked array"),
    (lambda: small_ae().encode(np.ma.masked_array(X_BITS)), "X: a masked array"),
    (lambda: StackedClassifier([6, 3], 3).fit(X_BITS, np.ma.masked_array(Y3, Y3 > 1), 1, 0.1), "y: a masked array"),
])
def test_bad_api_arguments_are_value_errors_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_figure_of_the_users_is_refused_before_training(tmp_path):
    from fastae.experiments import q2

    (tmp_path / "comparison.png").write_bytes(b"my own figure")
    with pytest.raises(ValueError, match=r"no fastae run wrote there \(comparison\.png\)"):
        q2.run(q2.Q2Config(epochs=2), out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comparison.png"]  # nothing written, nothing trained


def test_the_console_script_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastae_cli.entry", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "fastae" in result.stdout


def test_a_second_ctrl_c_while_the_checkpoint_is_written_still_gives_the_resume_message(tmp_path, monkeypatch,
                                                                                         stop_after):
    from fastae.experiments import train as recipe
    from fastae.experiments.common import RunInterrupted

    X = (np.random.default_rng(3).random((40, 9)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(5,), epochs=3, batch_size=8, seed=4)
    real = np.savez

    def savez_then_ctrl_c(f, **arrays):
        signal.raise_signal(signal.SIGINT)
        real(f, **arrays)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop_after(7)
    monkeypatch.setattr(io.np, "savez", savez_then_ctrl_c)
    try:
        with pytest.raises(RunInterrupted, match="Run the same command with --resume"):
            recipe.run(cfg, X, tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert Autoencoder.load(tmp_path / "layer1.checkpoint").partial_epoch["row"] == 16


@pytest.mark.parametrize("args", [["run", "q1", "--lr", "1e39"], ["run", "q3", "--classifier-lr", "1e39"],
                                  ["run", "q3", "--classifier-lr", "nan"], ["train", "DATA", "--lr", "1e39"]])
def test_rates_that_overflow_float32_are_usage_errors(tmp_path, args):
    np.save(tmp_path / "x.npy", X_BITS)
    args = [str(tmp_path / "x.npy") if a == "DATA" else a for a in args]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Error: Invalid value for '--" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_fastae_train_that_diverges_names_the_layer_and_keeps_the_last_finite_model(tmp_path):
    np.save(tmp_path / "x.npy", X_BITS)
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "x.npy"), "--hidden", "3", "--epochs", "10",
                                      "--batch-size", "8", "--lr", "1e38", "--seed", "1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert any(line.startswith("Error: layer 1: training diverged: ") for line in result.output.splitlines())
    assert "in epoch" in result.output
    assert "lower the learning rate" in result.output and "layer1.checkpoint.npz" in result.output
    saved = Autoencoder.load(tmp_path / "r" / "layer1.checkpoint")
    assert all(np.isfinite(a).all() for a in saved.params().values())
    assert not (tmp_path / "r" / "layer1.npz").exists()


def test_ctrl_c_while_a_loop_compiles_stops_at_once(monkeypatch):
    """The first compile takes up to a minute: Ctrl-C abandons it instead of waiting."""
    import threading

    from fastae.backends import cpu

    finished = []

    def slow_compile(loop, args):
        signal.raise_signal(signal.SIGINT)
        threading.Event().wait(30)  # a compile that would take 30 s; Ctrl-C must not wait for it
        finished.append(True)
        return 0.0

    monkeypatch.setattr(cpu, "compile_for", slow_compile)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    model = small_ae()
    W0 = model.W.copy()
    try:
        with pytest.raises(TrainingInterrupted):
            model.fit(X_BITS, 2, 0.1, 8)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not finished and model.epochs_trained == 0 and model.partial_epoch is None
    np.testing.assert_array_equal(model.W, W0)


def test_ctrl_c_after_a_stages_last_batch_keeps_the_stage_and_resume_does_not_train_it_again(tmp_path):
    from fastae.experiments import train as recipe
    from fastae.experiments.common import RunInterrupted

    X = (np.random.default_rng(3).random((40, 9)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(5,), epochs=3, batch_size=8, seed=4)
    recipe.run(cfg, X, tmp_path / "whole")

    def ctrl_c_at_the_last_epoch(line):
        if "epoch 3/3:" in line:
            signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(RunInterrupted, match="layer 1 stopped after 3 complete epochs;"):
            recipe.run(cfg, X, tmp_path / "part", ctrl_c_at_the_last_epoch)
    finally:
        signal.signal(signal.SIGINT, previous)
    lines = []
    recipe.run(cfg, X, tmp_path / "part", lines.append, resume=True)
    assert any("continuing from" in line and "after 3 epochs" in line for line in lines), lines
    assert not any("epoch " in line and "/3: loss" in line for line in lines)  # nothing trained again
    np.testing.assert_array_equal(Autoencoder.load(tmp_path / "part" / "layer1").W,
                                  Autoencoder.load(tmp_path / "whole" / "layer1").W)
