"""Ctrl-C during training: a clean stop at the end of a batch, a checkpoint, and a resume that
ends where an uninterrupted run ends (bit for bit on the CPU)."""
import json
import os
import signal
import threading
import types
import weakref

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import skewed_sparse
from fastae_cli.main import cli

from fastae import Autoencoder, StackedClassifier, TrainingInterrupted, config, stopping
from fastae.backends import cpu_kernels as cpu
from fastae.experiments import train as recipe

N, V = 50, 12  # 50 patterns in batches of 8: 7 batches an epoch, the last of 2


def data(rng):
    X = (rng.random((N, V)) < 0.4).astype(np.float32)
    y = rng.integers(0, 4, size=N)
    return X, y


def new_ae():
    return Autoencoder(V, 6, corruption=0.2, sparsity=(0.1, 0.4), seed=5, init="sigmoid_uniform")


def new_classifier():
    return StackedClassifier([V, 6, 5], 4, seed=7)


def assert_same_params(a, b):
    pa, pb = a.params(), b.params()
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


@pytest.mark.parametrize("columns", ["even", "skewed"])
@pytest.mark.parametrize("batches", [1, 6, 7, 9, 20])
def test_autoencoder_stopped_saved_loaded_and_resumed_is_bitwise_uninterrupted(rng, tmp_path, stop_after, batches,
                                                                               columns):
    """``skewed``: columns nonzero at rates from 0.5 to 0.01, which the loop splits into a
    dense prefix and a sparse tail (W's rows reordered while it runs)."""
    X = data(rng)[0] if columns == "even" else skewed_sparse(rng, N, V)
    assert (cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)[1] < V) == (columns == "skewed")
    whole = new_ae()
    losses = whole.fit(X, 4, 0.1, 8)

    part = new_ae()
    stop_after(batches)
    with pytest.raises(TrainingInterrupted) as stopped:
        part.fit(X, 4, 0.1, 8)
    done, row = divmod(batches, 7)
    assert part.epochs_trained == done
    np.testing.assert_array_equal(stopped.value.history, losses[:done])
    if row:
        assert part.partial_epoch["row"] == 8 * row and part.partial_epoch["batch_size"] == 8
    else:
        assert part.partial_epoch is None
    part.save(tmp_path / "ckpt")
    loaded = Autoencoder.load(tmp_path / "ckpt")
    assert loaded.partial_epoch == part.partial_epoch
    rest = loaded.fit(X, 4 - done, 0.1, 8)
    np.testing.assert_array_equal(rest, losses[done:])  # the split epoch's loss too
    assert_same_params(loaded, whole)
    assert loaded.partial_epoch is None and loaded.epochs_trained == 4


@pytest.mark.parametrize("columns", ["even", "skewed"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_classifier_checkpoint_with_optimizer_state_resumes_bitwise(rng, tmp_path, stop_after, optimizer, columns):
    X, y = data(rng)
    if columns == "skewed":  # split into a dense prefix and a sparse tail, as in the autoencoder test
        X = skewed_sparse(rng, N, V)
        assert cpu.input_split(X, config.SPLIT_TAIL_DENSITY, config.SPLIT_SAMPLE_ROWS)[1] < V
    whole = new_classifier()
    history = whole.fit(X, y, 3, 0.01, 8, optimizer=optimizer)

    part = new_classifier()
    stop_after(10)
    with pytest.raises(TrainingInterrupted) as stopped:
        part.fit(X, y, 3, 0.01, 8, optimizer=optimizer)
    assert stopped.value.history["loss"] == history["loss"][:1]
    assert part.partial_epoch["row"] == 24
    part.save(tmp_path / "ckpt", optimizer_state=True)
    loaded = StackedClassifier.load(tmp_path / "ckpt")
    rest = loaded.fit(X, y, 2, 0.01, 8, optimizer=optimizer)
    assert rest["loss"] == history["loss"][1:] and rest["train_accuracy"] == history["train_accuracy"][1:]
    assert_same_params(loaded, whole)


def test_without_optimizer_state_adam_starts_afresh(rng, tmp_path):
    X, y = data(rng)
    model = new_classifier()
    model.fit(X, y, 1, 0.01, 8, optimizer="adam")
    model.save(tmp_path / "final")
    assert "mW1" not in np.load(tmp_path / "final.npz").files
    model.save(tmp_path / "ckpt", optimizer_state=True)
    saved = json.loads((tmp_path / "ckpt.json").read_text())
    assert saved["optimizer"] == {"name": "adam", "steps": 7}
    assert StackedClassifier.load(tmp_path / "final")._opt_state is None


@pytest.fixture
def ctrl_c_raises():
    """SIGINT with Python's default handler for the test, whatever the test run inherited:
    a shell that starts a job in the background makes it ignore SIGINT, and fastae leaves an
    ignored SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_real_ctrl_c_between_epochs_stops_cleanly(rng, ctrl_c_raises):
    """SIGINT during the callback sets the flag; the next epoch stops before its first batch."""
    X, _ = data(rng)
    whole = new_ae()
    whole.fit(X, 3, 0.1, 8)
    part = new_ae()
    handler = signal.getsignal(signal.SIGINT)

    def press_ctrl_c(done, losses):
        if done == 1:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        part.fit(X, 3, 0.1, 8, callback=press_ctrl_c, chunk_epochs=1)
    assert part.epochs_trained == 1 and part.partial_epoch is None
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    part.fit(X, 2, 0.1, 8)
    assert_same_params(part, whole)


def test_an_ignored_ctrl_c_stays_ignored(rng):
    """A process that ignores SIGINT (a background job) keeps ignoring it while fastae trains."""
    X, _ = data(rng)
    seen = []
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        new_ae().fit(X, 2, 0.1, 8, callback=lambda *_: seen.append(signal.getsignal(signal.SIGINT)))
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIG_IGN, signal.SIG_IGN]


def ctrl_c_once(ready):
    """A started thread that sends this process SIGINT as soon as ``ready()`` is true
    (or after about 10 s)."""

    def watch():
        for _ in range(10000):
            if ready():
                break
            threading.Event().wait(0.001)
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_a_real_ctrl_c_inside_the_compiled_loop_stops_at_a_batch(rng, ctrl_c_raises):
    """SIGINT while the compiled epoch runs on its worker thread: training stops at a batch
    boundary, the model is consistent, and finishing the run gives the uninterrupted result."""
    X = (rng.random((40000, 64)) < 0.4).astype(np.float32)
    make = lambda: Autoencoder(64, 32, corruption=0.1, seed=1)  # noqa: E731
    whole = make()
    whole.fit(X, 3, 0.1, 4)
    part = make()
    W0 = part.W.copy()
    watcher = ctrl_c_once(lambda: not np.array_equal(part.W, W0))  # once training runs
    with pytest.raises(TrainingInterrupted):
        part.fit(X, 3, 0.1, 4)
    watcher.join()
    assert part.epochs_trained < 3
    part.fit(X, 3 - part.epochs_trained, 0.1, 4)
    assert_same_params(part, whole)


def test_short_calls_run_on_the_calling_thread_and_a_real_ctrl_c_still_stops_them(rng, ctrl_c_raises, monkeypatch):
    """Q1-sized calls (ten epochs of five patterns) skip the worker thread; SIGINT during
    them stops the fit after the call in progress, and finishing gives the uninterrupted
    result."""
    from fastae.backends import cpu as cpu_backend

    handed = []
    original = cpu_backend.run_in_worker
    monkeypatch.setattr(cpu_backend, "run_in_worker", lambda fn, *a: handed.append(fn) or original(fn, *a))
    X = (rng.random((5, 9)) < 0.5).astype(np.float32)
    make = lambda: Autoencoder(9, 4, seed=1)  # noqa: E731
    whole = make()
    whole.fit(X, 3000, 0.1, chunk_epochs=10)
    assert handed == []
    part = make()
    watcher = ctrl_c_once(lambda: part.epochs_trained >= 100)
    with pytest.raises(TrainingInterrupted):
        part.fit(X, 3000, 0.1, chunk_epochs=10)
    watcher.join()
    assert 100 <= part.epochs_trained < 3000 and part.partial_epoch is None
    part.fit(X, 3000 - part.epochs_trained, 0.1, chunk_epochs=10)
    assert_same_params(part, whole)
    Autoencoder(64, 32).fit((rng.random((4000, 64)) < 0.4).astype(np.float32), 1, 0.1, 4)  # work 4000 x 64 x 32
    assert len(handed) == 1


def test_resume_with_other_data_or_batch_size_is_refused(rng, stop_after):
    X, _ = data(rng)
    model = new_ae()
    stop_after(3)
    with pytest.raises(TrainingInterrupted):
        model.fit(X, 2, 0.1, 8)
    with pytest.raises(ValueError, match=r"epoch 1 was interrupted after 24 patterns.*batch_size 8 then, 4 now"):
        model.fit(X, 1, 0.1, 4)
    with pytest.raises(ValueError, match=r"patterns 50 then, 40 now"):
        model.fit(X[:40], 1, 0.1, 8)
    model.discard_partial_epoch()
    model.fit(X[:40], 1, 0.1, 4)
    assert model.epochs_trained == 1


def test_a_malformed_partial_epoch_is_a_clear_error(rng, tmp_path):
    model = new_ae()
    model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m.json").read_text())
    cfg["partial_epoch"] = {"row": -3}
    (tmp_path / "m.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="malformed partial_epoch"):
        Autoencoder.load(tmp_path / "m")


def test_worker_errors_reach_the_caller():
    def boom():
        raise ZeroDivisionError("inside")

    with pytest.raises(ZeroDivisionError, match="inside"):
        stopping.run_in_worker(boom)


def test_worker_keeps_nothing_of_a_call():
    """The worker thread outlives its calls; the arrays a call was given must not."""
    data = np.ones(10)
    alive = weakref.ref(data)
    assert stopping.run_in_worker(np.sum, data) == 10.0
    assert stopping.run_in_worker(np.sum, data) == 10.0  # the same thread, a second time
    del data
    assert alive() is None


# ---------------------------------------------------------------- fastae train


def test_fastae_train_interrupted_then_resumed_matches_an_uninterrupted_run(rng, tmp_path, stop_after):
    X = (rng.random((60, 16)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(9, 4), corruption=0.1, sparsity=(0.1, 0.5), epochs=3, batch_size=8)
    recipe.run(cfg, X, tmp_path / "whole")

    stop_after(2, nth=2)  # layer 2's fit, in its first epoch
    with pytest.raises(KeyboardInterrupt, match=r"layer 2 stopped after 0 complete epochs and part of the next"):
        recipe.run(cfg, X, tmp_path / "part")
    assert (tmp_path / "part" / "layer1.npz").is_file()
    assert (tmp_path / "part" / "layer2.checkpoint.npz").is_file()
    lines = []
    metrics = recipe.run(cfg, X, tmp_path / "part", lines.append, resume=True)
    assert "layer 1 (16 -> 9): loaded from" in "\n".join(lines)
    assert "layer 2 (9 -> 4): continuing from" in "\n".join(lines)
    assert not (tmp_path / "part" / "layer2.checkpoint.npz").exists()
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    for a, b in zip(metrics["layers"], whole["layers"], strict=True):
        assert list(a["loss_curve"]) == b["loss_curve"]
    for layer in ("layer1", "layer2"):
        assert_same_params(Autoencoder.load(tmp_path / "part" / layer), Autoencoder.load(tmp_path / "whole" / layer))


def test_fastae_train_resume_refuses_other_data(rng, tmp_path, stop_after):
    X = (rng.random((60, 16)) < 0.4).astype(np.float32)
    cfg = recipe.TrainConfig(hidden=(9,), epochs=2, batch_size=8)
    stop_after(3)
    with pytest.raises(KeyboardInterrupt):
        recipe.run(cfg, X, tmp_path)
    with pytest.raises(ValueError, match="--resume: .* was trained on other data"):
        recipe.run(cfg, 1.0 - X, tmp_path, resume=True)
    lines = []
    recipe.run(cfg, 1.0 - X, tmp_path, lines.append)  # without --resume: trained afresh
    assert not any("continuing" in line for line in lines)


def test_ctrl_c_on_the_command_line_is_one_message_and_status_130(rng, tmp_path, stop_after):
    X = (rng.random((60, 16)) < 0.4).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    stop_after(5)
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "x.npy"), "--hidden", "9", "--epochs", "2",
                                      "--batch-size", "8", "--out", str(tmp_path / "run")])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    assert "Interrupted: layer 1 stopped after 0 complete epochs and part of the next" in result.output
    assert "--resume" in result.output
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "x.npy"), "--hidden", "9", "--epochs", "2",
                                      "--batch-size", "8", "--out", str(tmp_path / "run"), "--resume"])
    assert result.exit_code == 0, result.output
    assert "continuing from" in result.output


def test_how_far_an_interrupted_model_came_reads_in_words():
    def model(epochs, partial):
        return types.SimpleNamespace(epochs_trained=epochs, partial_epoch=partial)

    assert stopping.stopped_after(model(1, None)) == "1 complete epoch"
    assert stopping.stopped_after(model(0, (3, 128))) == "0 complete epochs and part of the next"
    assert stopping.stopped_after(model(2, None)) == "2 complete epochs"
