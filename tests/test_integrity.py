"""Nothing lost, nothing silently wrong: a saved model or checkpoint is one unit, training
that diverges stops with an error, signals stop a run cleanly, and every bad input is a
clean error."""
import json
import signal

import numpy as np
import pytest

from fastae import Autoencoder, StackedClassifier, TrainingDiverged, io

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
    monkeypatch.setattr(io, "save_json", lambda path, data: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        recipe.run(cfg, X, out, resume=True)
    monkeypatch.undo()
    assert json.loads((out / "layer1.checkpoint.json").read_text()) == first  # the old config, new arrays
    lines = []
    recipe.run(cfg, X, out, lines.append, resume=True)
    assert not any("continuing" in line for line in lines)
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
