"""Exercise Q3 end to end on subsets of the real MNIST (skipped without ``FASTAE_DATA``)."""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from fastae.experiments.q3 import (
    ABLATION_MODELS,
    FIGURES,
    RECIPES,
    STAGES,
    Q3Config,
    run,
    sample_indices,
    split,
)

DATA = os.environ.get("FASTAE_DATA")
pytestmark = pytest.mark.skipif(
    not (DATA and Path(DATA).is_dir()),
    reason="Q3 needs the real MNIST: set FASTAE_DATA to the directory holding its four IDX files",
)

METRIC_KEYS = (
    "exercise", "config", "environment", "data", "test_accuracy", "validation_accuracy",
    "stage_seconds", "final_losses", "mean_hidden_activation", "rho", "history", "confusion_matrix",
    "resumed_stages",
)

# Small enough that a run takes a few seconds: 1,000 training images, one epoch per stage.
TINY = dict(n_train=1000, n_val=200, n_test=500, n_hidden1=64, n_hidden2=16,
            epochs_layer1=1, epochs_layer2=1, epochs_classifier=1)


def _run(cfg, out, **kw):
    lines = []
    metrics = run(cfg, out, echo=lines.append, data_dir=DATA, **kw)
    return metrics, "\n".join(lines)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("q3_quick")
    cfg = Q3Config.quick()
    metrics, log = _run(cfg, out)
    return cfg, out, metrics, log


def _promised_files():
    return list(FIGURES) + ["metrics.json"] + [f"{s}.{ext}" for s in STAGES for ext in ("npz", "json")]


def test_quick_run_writes_every_file(quick):
    _, out, _, _ = quick
    for name in _promised_files():
        path = out / name
        assert path.is_file(), f"{name} missing"
        assert path.stat().st_size > 0, f"{name} is empty"
    with open(out / "weights_layer1.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_quick_metrics(quick):
    cfg, out, metrics, _ = quick
    saved = json.loads((out / "metrics.json").read_text())
    for key in METRIC_KEYS:
        assert key in saved, key
    assert set(saved["stage_seconds"]) == set(STAGES)
    assert all(v > 0 for v in saved["stage_seconds"].values())
    assert set(saved["final_losses"]) == set(STAGES)
    assert saved["data"] == {**saved["data"], "n_train": 6000, "n_val": 1000, "n_test": 2000}
    assert saved["config"]["optimizer"] == "adam" and saved["config"]["classifier_lr_used"] == 0.001
    assert len(saved["history"]["layer1"]["loss"]) == cfg.epochs_layer1
    assert len(saved["history"]["layer2"]["loss"]) == cfg.epochs_layer2
    hist = saved["history"]["classifier"]
    assert len(hist["accuracy_test"]) == len(hist["accuracy_val"]) == cfg.epochs_classifier
    assert hist["accuracy_test"][-1] == pytest.approx(saved["test_accuracy"])
    assert np.sum(saved["confusion_matrix"]) == 2000
    for layer in ("layer1_pretrained", "layer2_pretrained", "layer2_finetuned"):
        assert 0.0 < saved["mean_hidden_activation"][layer]["mean"] < 1.0
    assert saved["resumed_stages"] == []
    # Pretraining lowers each autoencoder's loss.
    for stage in ("layer1", "layer2"):
        losses = saved["history"][stage]["loss"]
        assert losses[-1] < losses[0]


def test_quick_classifier_accuracy(quick):
    _, _, metrics, _ = quick
    assert metrics["test_accuracy"] >= 0.85, metrics["test_accuracy"]
    assert metrics["validation_accuracy"] >= 0.85


def test_quick_progress_one_line_per_epoch(quick):
    cfg, _, _, log = quick
    assert len(re.findall(r"layer 1 epoch +\d+/", log)) == cfg.epochs_layer1
    assert len(re.findall(r"layer 2 epoch +\d+/", log)) == cfg.epochs_layer2
    assert len(re.findall(r"classifier epoch +\d+/", log)) == cfg.epochs_classifier
    assert "images/s" in log and "test accuracy" in log


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k].copy() for k in f.files}


def test_resume_skips_trained_stages(tmp_path):
    cfg = Q3Config(**TINY)
    first, _ = _run(cfg, tmp_path)
    saved = {s: (tmp_path / f"{s}.npz").read_bytes() for s in STAGES}
    for name in FIGURES:
        (tmp_path / name).unlink()

    again, log = _run(cfg, tmp_path, resume=True)
    assert log.count("skipped") == 3
    assert not re.search(r"epoch +\d+/", log)  # no training progress
    assert again["resumed_stages"] == list(STAGES)
    for s in STAGES:
        assert (tmp_path / f"{s}.npz").read_bytes() == saved[s], f"{s} was rewritten"
    for name in FIGURES:  # the figures are produced again from the loaded models
        assert (tmp_path / name).stat().st_size > 0
    assert again["test_accuracy"] == first["test_accuracy"]
    assert again["history"]["classifier"]["loss"] == pytest.approx(first["history"]["classifier"]["loss"])
    assert again["stage_seconds"] == pytest.approx(first["stage_seconds"])

    # Without layer 2, resume keeps layer 1 and retrains layer 2 and the classifier on it.
    layer1 = _arrays(tmp_path / "layer1.npz")
    (tmp_path / "layer2.npz").unlink()
    third, log = _run(cfg, tmp_path, resume=True)
    assert log.count("skipped") == 1
    assert third["resumed_stages"] == ["layer1"]
    for k, v in _arrays(tmp_path / "layer1.npz").items():
        np.testing.assert_array_equal(v, layer1[k])
    assert (tmp_path / "layer2.npz").is_file()
    # Training is seeded: the same layer 2 and classifier come out again.
    assert third["test_accuracy"] == pytest.approx(first["test_accuracy"])


def test_resume_retrains_stages_whose_settings_changed(tmp_path):
    _run(Q3Config(**TINY), tmp_path)
    layer2 = _arrays(tmp_path / "layer2.npz")
    again, log = _run(Q3Config(**{**TINY, "optimizer": "sgd"}), tmp_path, resume=True)
    assert again["resumed_stages"] == ["layer1", "layer2"]
    assert "not resumed: saved with other settings (optimizer 'adam' -> 'sgd'" in log
    for k, v in _arrays(tmp_path / "layer2.npz").items():
        np.testing.assert_array_equal(v, layer2[k])


@pytest.mark.parametrize(("nth", "stage", "batches"), [(2, "layer2", 10), (3, "classifier", 12)])
def test_ctrl_c_saves_a_checkpoint_and_resume_ends_as_an_uninterrupted_run(tmp_path, stop_after, nth, stage, batches):
    """Interrupted in the middle of a stage's second epoch (8 batches an epoch), then resumed:
    the same models and histories as a run never interrupted."""
    from fastae.experiments.common import RunInterrupted

    cfg = Q3Config(**{**TINY, "epochs_layer1": 2, "epochs_layer2": 2, "epochs_classifier": 2})
    whole, _ = _run(cfg, tmp_path / "whole")
    stop_after(batches, nth=nth)
    with pytest.raises(RunInterrupted, match=rf"{stage} stopped after 1 complete epoch and part of the next"):
        _run(cfg, tmp_path / "part")
    checkpoint = json.loads((tmp_path / "part" / f"{stage}.checkpoint.json").read_text())
    assert checkpoint["partial_epoch"]["row"] == 128 * (batches - 8)
    assert len(checkpoint["history"]["loss"]) == 1
    resumed, log = _run(cfg, tmp_path / "part", resume=True)
    assert f"continuing at epoch 2, pattern {128 * (batches - 8)}" in log
    assert not (tmp_path / "part" / f"{stage}.checkpoint.npz").exists()
    for s in STAGES:
        want, got = _arrays(tmp_path / "whole" / f"{s}.npz"), _arrays(tmp_path / "part" / f"{s}.npz")
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{s}.{k}")
    for s in STAGES:
        assert resumed["history"][s]["loss"] == whole["history"][s]["loss"], s
    assert resumed["test_accuracy"] == whole["test_accuracy"]


def test_a_checkpoint_built_on_a_retrained_stage_is_not_used(tmp_path, stop_after):
    """Layer 2's checkpoint holds a model trained on the old layer 1's codes: when layer 1
    is trained again (its settings changed), layer 2 starts afresh."""
    from fastae.experiments.common import RunInterrupted

    cfg = Q3Config(**{**TINY, "epochs_layer2": 2})
    stop_after(10, nth=2)
    with pytest.raises(RunInterrupted):
        _run(cfg, tmp_path)
    assert (tmp_path / "layer2.checkpoint.npz").is_file()
    _, log = _run(Q3Config(**{**TINY, "epochs_layer2": 2, "epochs_layer1": 2}), tmp_path, resume=True)
    assert "continuing" not in log
    assert "(not resumed: it builds on a stage trained in this run)" in log
    assert not (tmp_path / "layer2.checkpoint.npz").exists()


def test_ablation_and_the_strong_recipe_end_to_end(tmp_path):
    """The strong recipe's fine-tuning (shifts, masking, cosine decay) and the ablation on a
    small subset: every figure, the table, and the numbers in metrics.json."""
    cfg = Q3Config.recipe("strong", **{**TINY, "epochs_classifier": 3})
    assert (cfg.shift, cfg.finetune_corruption, cfg.cosine, cfg.optimizer) == (1, 0.1, True, "adam")
    metrics, log = _run(cfg, tmp_path, ablation=True)
    assert "images shifted by up to 1 px and masking noise 10 %" in log
    ab = metrics["ablation"]
    assert list(ab["models"]) == list(ABLATION_MODELS)
    for name, r in ab["models"].items():
        assert len(r["test_accuracy_curve"]) == 3 and 0.1 < r["test_accuracy"] <= 1.0, name
        assert r["test_accuracy"] == r["test_accuracy_curve"][-1]
    assert ab["models"]["fine-tuned from pretrained"]["test_accuracy"] == metrics["test_accuracy"]
    assert ab["sparsity"]["target_rho"] == 0.02
    assert len(ab["sparsity"]["layer1"]["unit_means"]) == 64 and len(ab["sparsity"]["layer2"]["unit_means"]) == 16
    for name in ab["figures"]:
        assert (tmp_path / name).stat().st_size > 0 and name in metrics["figures"]
        assert name in (tmp_path / "report.html").read_text()
    for name in ABLATION_MODELS:
        assert name in log
    assert "target rho" in log
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["ablation"]["models"]["probe: random layer 2"]["best_validation_epoch"] >= 1
    assert saved["config"]["shift"] == 1 and saved["config"]["cosine"] is True


def test_recipes_are_named_presets():
    strong = Q3Config.recipe("strong")
    assert strong.epochs_classifier == 100 and strong.epochs_layer1 == 50 and strong.n_hidden1 == 625
    assert Q3Config.recipe("tutorial") == Q3Config()
    assert Q3Config.recipe("strong", seed=3).seed == 3
    quick = Q3Config.recipe("strong", quick=True)
    assert quick.epochs_classifier == Q3Config.quick().epochs_classifier and quick.shift == 1
    assert set(RECIPES) == {"tutorial", "strong"}
    with pytest.raises(ValueError, match="recipe: expected one of tutorial, strong"):
        Q3Config.recipe("best")
    with pytest.raises(ValueError, match="shift"):
        Q3Config(shift=-1)


def test_split_holds_out_the_last_5000_training_images():
    from fastae.datasets import load_mnist

    mnist = load_mnist(DATA)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = split(mnist, Q3Config())
    assert len(ytr) == 55000 and len(yva) == 5000 and len(yte) == 10000
    np.testing.assert_array_equal(Xva, mnist.train_images[55000:])
    (Xtr, _), (Xva, _), (Xte, _) = split(mnist, Q3Config.quick())
    assert (len(Xtr), len(Xva), len(Xte)) == (6000, 1000, 2000)
    np.testing.assert_array_equal(Xva, mnist.train_images[55000:56000])
    with pytest.raises(ValueError, match="n_train"):
        split(mnist, Q3Config(n_train=55001))


def test_run_trains_on_the_bytes_and_fingerprints_them_as_the_float_images(tmp_path, monkeypatch):
    """Q3 holds MNIST as bytes (the models scale them as they read them); its data
    fingerprint is that of the float32 images, so runs written before still resume."""
    from fastae import Autoencoder
    from fastae.datasets import load_mnist
    from fastae.experiments.q3 import data_fingerprint

    floats, as_bytes = load_mnist(DATA), load_mnist(DATA, dtype=np.uint8)
    cfg = Q3Config(**TINY)
    fingerprint = data_fingerprint(split(as_bytes, cfg))
    assert fingerprint == data_fingerprint(split(floats, cfg))
    assert fingerprint != data_fingerprint(split(as_bytes, Q3Config(**{**TINY, "n_train": 999})))
    seen, fit = [], Autoencoder.fit

    def recording_fit(self, X, *args, **kwargs):
        seen.append(np.asarray(X).dtype)
        return fit(self, X, *args, **kwargs)

    monkeypatch.setattr(Autoencoder, "fit", recording_fit)
    _run(cfg, tmp_path / "run")
    assert seen[0] == np.uint8
    assert json.loads((tmp_path / "run" / "run.json").read_text())["data"]["train"]["crc32"] == \
        fingerprint["train"]["crc32"]


def test_sample_indices_one_per_digit():
    labels = np.array([3, 1, 1, 0, 2, 9, 8, 7, 6, 5, 4, 0])
    idx = sample_indices(labels, 10)
    assert sorted(labels[idx].tolist()) == list(range(10))
    assert len(sample_indices(labels, 12)) == 12


def test_config_defaults_and_validation():
    cfg = Q3Config()
    assert (cfg.n_hidden1, cfg.n_hidden2, cfg.corruption, cfg.rho, cfg.beta, cfg.lr, cfg.batch_size) == (
        625, 100, 0.1, 0.02, 0.4, 0.1, 128)
    assert (cfg.epochs_layer1, cfg.epochs_layer2, cfg.epochs_classifier) == (50, 50, 50)
    assert cfg.optimizer == "adam" and cfg.fine_tune_lr == 0.001
    assert Q3Config(optimizer="sgd").fine_tune_lr == 0.1
    assert Q3Config(optimizer="sgd", classifier_lr=0.05).fine_tune_lr == 0.05
    assert Q3Config.quick(epochs_layer1=2).epochs_layer1 == 2
    for bad in ({"optimizer": "rmsprop"}, {"n_val": 5001}, {"corruption": 1.0}, {"rho": 0.0},
                {"epochs_layer1": 0}, {"classifier_lr": -1.0}, {"n_train": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Q3Config(**bad)
