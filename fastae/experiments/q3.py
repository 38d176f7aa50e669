"""Exercise Q3: MNIST, a denoising autoencoder, a second layer on its codes, and a softmax
classifier on top, fine-tuned end to end.

(a) Layer 1: a tied-weight autoencoder 784 -> 625, masking noise (each pixel zeroed with
    probability 0.1, redrawn for every batch), cross-entropy, KL sparsity ``rho = 0.02``,
    ``beta = 0.4``, SGD learning rate 0.1, batches of 128.
(b) Layer 2: an autoencoder 625 -> 100 with the same loss and hyper-parameters, trained on
    the layer-1 codes of the clean training images (``layer2_corruption`` masks its input
    too; default 0: no noise).
(c) The classifier: the two encoders (``W1, b1, W2, b2``) under a softmax layer on the 100
    codes, all fine-tuned together with softmax cross-entropy, no input noise; the
    decoders take no part.

The last 5,000 training images are held out as the validation set (training uses the first
55,000); every stage reports its validation figure each epoch, and the classifier its test
accuracy as well.

Fine-tuning optimizer: a faithful PyTorch implementation of this recipe (50 + 50 + 50
epochs) reaches about 96.3 % test accuracy with plain SGD at lr 0.1 and 98.3-98.4 % with
Adam at lr 0.001, so the default is Adam (the target is 98 %); ``optimizer="sgd"`` gives the
tutorial's plain SGD.

Each stage saves its model into the run directory (``layer1``, ``layer2``, ``classifier``,
each a ``.npz`` + ``.json`` pair with its history); ``run(..., resume=True)`` loads a stage
whose files exist instead of training it, as long as every earlier stage was loaded too.
Ctrl-C stops training at the end of the batch in progress and saves the stage's model,
history and position as ``<stage>.checkpoint``; ``resume=True`` continues from there, to the
same models as a run that was never interrupted.

Beyond the exercise: ``Q3Config.recipe("strong")`` fine-tunes the same network longer, with
cosine learning-rate decay, random one-pixel shifts and masking noise on the training
images (:data:`RECIPES`); ``run(..., ablation=True)`` measures what pretraining buys
(:func:`run_ablation`).
"""
from dataclasses import asdict, dataclass

import numpy as np

from .. import io
from ..autoencoder import Autoencoder
from ..backends import get_backend
from ..checks import (
    check_choice,
    check_positive_int,
    check_probability,
    check_rate,
    check_seed,
    check_sparsity,
    stage_seed,
)
from ..classifier import OPTIMIZERS, StackedClassifier
from ..datasets import load_mnist
from ..report import fmt
from .common import (
    Stopwatch,
    as_floats,
    crc32_of,
    prepare_run_dir,
    silent,
)
from . import q3_report
from .record import RunRecord
from .q3_training import ABLATION_MODELS, fine_tune, run_ablation, train_autoencoder  # noqa: F401
from .stages import Stages

#: Training images held out (the last ones) as the validation set.
VALIDATION_SIZE = 5000
#: Default fine-tuning learning rate of each optimizer.
DEFAULT_LR = {"sgd": 0.1, "adam": 0.001}
#: The three stages, in training order; each is saved as ``<run dir>/<stage>.npz|.json``.
STAGES = q3_report.STAGES
#: The figures a run writes without the ablation (the report and
#: ``metrics["figures"]`` list what the run's record registered; a test holds this to it).
FIGURES = (
    "learning_curves_layer1.png",
    "learning_curves_layer2.png",
    "learning_curves_classifier.png",
    "weights_layer1.png",
    "reconstructions_layer1.png",
    "activations_layer1.png",
    "weights_layer2.png",
    "reconstructions_layer2.png",
    "activations_layer2_pretrained.png",
    "activations_layer2_finetuned.png",
    "weights_softmax.png",
    "confusion_matrix.png",
)


@dataclass(frozen=True)
class Q3Config:
    """Hyper-parameters of Q3 (defaults: the tutorial's, 50 epochs per stage, Adam for
    fine-tuning; see the module docstring).

    ``n_train``, ``n_val``, ``n_test`` take the first images of the training part (the
    first 55,000), of the validation part (the last 5,000) and of the test set; None
    takes them all.
    """

    n_hidden1: int = 625
    n_hidden2: int = 100
    corruption: float = 0.1
    layer2_corruption: float = 0.0
    rho: float = 0.02
    beta: float = 0.4
    lr: float = 0.1
    batch_size: int = 128
    epochs_layer1: int = 50
    epochs_layer2: int = 50
    epochs_classifier: int = 50
    optimizer: str = "adam"
    classifier_lr: float | None = None
    finetune_corruption: float = 0.0
    shift: int = 0
    cosine: bool = False
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    seed: int = 0
    device: str = "cpu"
    n_show: int = 10

    def __post_init__(self):
        for name in ("n_hidden1", "n_hidden2", "batch_size", "epochs_layer1", "epochs_layer2",
                     "epochs_classifier", "n_show"):
            check_positive_int(getattr(self, name), name)
        for name in ("n_train", "n_val", "n_test"):  # None: all
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.n_val is not None and self.n_val > VALIDATION_SIZE:
            raise ValueError(f"n_val: at most {VALIDATION_SIZE} (the held-out images), got {self.n_val}")
        for name in ("corruption", "layer2_corruption", "finetune_corruption"):
            check_probability(getattr(self, name), name)
        check_sparsity((self.rho, self.beta))
        check_rate(self.lr, "lr", np.float32)
        if self.classifier_lr is not None:
            check_rate(self.classifier_lr, "classifier_lr", np.float32)
        check_choice(self.optimizer, tuple(OPTIMIZERS), "optimizer")
        check_seed(self.seed)
        if isinstance(self.shift, bool) or not isinstance(self.shift, (int, np.integer)) or not 0 <= self.shift < 14:
            raise ValueError(f"shift: expected a whole number of pixels from 0 to 13, got {self.shift!r}")
        if not isinstance(self.cosine, bool):
            raise ValueError(f"cosine: expected True or False, got {self.cosine!r}")

    @classmethod
    def quick(cls, **overrides):
        """A small run of all three stages (about 15 s on 2 cores, once compiled): 6,000 training,
        1,000 validation and 2,000 test images, 5 + 5 + 10 epochs. ``overrides`` replace
        any field."""
        base = dict(n_train=6000, n_val=1000, n_test=2000, epochs_layer1=5, epochs_layer2=5,
                    epochs_classifier=10)
        return cls(**{**base, **overrides})

    @classmethod
    def recipe(cls, name, **overrides):
        """The named preset of :data:`RECIPES` (``quick=True`` in ``overrides`` shrinks it as
        :meth:`quick` does); ``overrides`` replace any field."""
        if name not in RECIPES:
            raise ValueError(f"recipe: expected one of {', '.join(RECIPES)}, got {name!r}")
        quick = overrides.pop("quick", False)
        preset = dict(RECIPES[name])
        if quick:  # the quick run's epochs, unless asked for
            preset.pop("epochs_classifier", None)
        settings = {**preset, **overrides}
        return cls.quick(**settings) if quick else cls(**settings)

    @property
    def fine_tune_lr(self):
        """The classifier's learning rate: ``classifier_lr``, else the optimizer's default."""
        return DEFAULT_LR[self.optimizer] if self.classifier_lr is None else float(self.classifier_lr)


#: Named presets of :class:`Q3Config`. ``tutorial``: the exercise as set (the defaults).
#: ``strong``: the same 784-625-100-10 network and pretraining, fine-tuned for 100 epochs
#: with Adam and cosine learning-rate decay, on training images shifted at random by up to
#: one pixel in x and in y and masked (keep 0.9), both redrawn every epoch; every setting
#: was chosen on the validation split (README, "A stronger recipe").
RECIPES = {
    "tutorial": {},
    "strong": {"epochs_classifier": 100, "optimizer": "adam", "finetune_corruption": 0.1, "shift": 1,
               "cosine": True},
}


# ---------------------------------------------------------------------- helpers


def split(mnist, cfg):
    """``(X_train, y_train), (X_val, y_val), (X_test, y_test)`` as the config asks."""
    n_fit = mnist.train_images.shape[0] - VALIDATION_SIZE
    if n_fit < 1:
        raise ValueError(f"MNIST has only {mnist.train_images.shape[0]} training images")
    if cfg.n_train is not None and cfg.n_train > n_fit:
        raise ValueError(f"n_train: at most {n_fit} (the training images less the {VALIDATION_SIZE} "
                         f"held out), got {cfg.n_train}")
    if cfg.n_test is not None and cfg.n_test > mnist.test_images.shape[0]:
        raise ValueError(f"n_test: at most {mnist.test_images.shape[0]}, got {cfg.n_test}")
    tr = slice(0, n_fit if cfg.n_train is None else cfg.n_train)
    va = slice(n_fit, n_fit + (VALIDATION_SIZE if cfg.n_val is None else cfg.n_val))
    te = slice(0, cfg.n_test)
    return (
        (mnist.train_images[tr], mnist.train_labels[tr]),
        (mnist.train_images[va], mnist.train_labels[va]),
        (mnist.test_images[te], mnist.test_labels[te]),
    )


def sample_indices(labels, n):
    """``n`` indices: the first image of each digit 0..9, then the second of each, ..."""
    buckets = [list(np.flatnonzero(labels == d)) for d in range(10)]
    out, rank = [], 0
    while len(out) < n and any(rank < len(b) for b in buckets):
        out += [b[rank] for b in buckets if rank < len(b)]
        rank += 1
    return np.array(out[:n])


def _load(path, device):
    """A saved stage: the classifier, or an autoencoder."""
    kind = io.load_json(io.model_paths(path)[1], "model config").get("kind")
    return (StackedClassifier if kind == "StackedClassifier" else Autoencoder).load(path, device=device)


def _stage_settings(cfg, stage):
    """What a stage's result depends on, stored with its model to spot a stale resume."""
    data = {"n_train": cfg.n_train, "seed": cfg.seed}
    ae = {"lr": cfg.lr, "batch_size": cfg.batch_size, "rho": cfg.rho, "beta": cfg.beta}
    if stage == "layer1":
        return {**data, **ae, "n_hidden": cfg.n_hidden1, "corruption": cfg.corruption,
                "epochs": cfg.epochs_layer1}
    if stage == "layer2":
        return {**data, **ae, "n_hidden": cfg.n_hidden2, "corruption": cfg.layer2_corruption,
                "epochs": cfg.epochs_layer2}
    return {**data, "optimizer": cfg.optimizer, "lr": cfg.fine_tune_lr, "batch_size": cfg.batch_size,
            "epochs": cfg.epochs_classifier, "corruption": cfg.finetune_corruption, "shift": cfg.shift,
            "cosine": cfg.cosine}


def _augmentation(cfg):
    """The fine-tuning's input noise, as words for the headings ("" for none)."""
    parts = []
    if cfg.shift:
        parts.append(f"images shifted by up to {cfg.shift} px")
    if cfg.finetune_corruption:
        parts.append(f"masking noise {100 * cfg.finetune_corruption:g} %")
    return ", " + " and ".join(parts) if parts else ""


# -------------------------------------------------------------------------- run


def _headings(cfg, n_inputs):
    """Each stage's heading in the log."""
    sparsity = f"rho {cfg.rho:g}, beta {cfg.beta:g}"
    noise2 = f"masking noise {100 * cfg.layer2_corruption:g} %" if cfg.layer2_corruption else "no noise"
    return {
        "layer1": f"Layer 1: denoising autoencoder {n_inputs} -> {cfg.n_hidden1}, masking noise "
                  f"{100 * cfg.corruption:g} %, {sparsity}, SGD lr {cfg.lr:g}, batch {cfg.batch_size}, "
                  f"{cfg.epochs_layer1} epochs",
        "layer2": f"Layer 2: autoencoder {cfg.n_hidden1} -> {cfg.n_hidden2} on the layer-1 codes, {noise2}, "
                  f"{sparsity}, SGD lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs_layer2} epochs",
        "classifier": f"Classifier: {n_inputs}-{cfg.n_hidden1}-{cfg.n_hidden2}-10 (pretrained encoders + softmax), "
                      f"all fine-tuned, {cfg.optimizer} lr {cfg.fine_tune_lr:g}"
                      f"{' with cosine decay' if cfg.cosine else ''}, batch {cfg.batch_size}, "
                      f"{cfg.epochs_classifier} epochs{_augmentation(cfg)}",
    }


def _announcer(echo, heading):
    """How a stage's fate reads in the log (``Stages.run``'s ``announce``)."""

    def announce(event, detail):
        if event == "loaded":
            echo(f"\n{heading}: skipped, loaded from {detail}.npz")
        elif event == "continuing":
            ckpt, m = detail
            where = f"epoch {m.epochs_trained + 1}" + (f", pattern {m.partial_epoch['row']}" if m.partial_epoch else "")
            echo(f"\n{heading} (continuing at {where} from {ckpt}.npz)")
        else:
            echo(f"\n{heading}" + (f" (not resumed: {detail})" if detail else ""))

    return announce


# -------------------------------------------------------------------------- run


def data_fingerprint(splits):
    """What the run trains and is measured on: each split's size and the CRC-32 of its
    images (as float32, also when they are bytes) and labels (a resume on other data is
    refused)."""
    return {name: {"size": len(y), "crc32": crc32_of(X, y, bytes_as_floats=True)}
            for name, (X, y) in zip(("train", "val", "test"), splits)}


def run(cfg=Q3Config(), out="runs/q3", echo=silent, data_dir=None, resume=False, progress=None, ablation=False,
        overwrite=False):
    """Train the three Q3 stages (or load them, with ``resume``); write the figures, models
    and ``metrics.json`` into ``out``. Returns the metrics. ``ablation`` adds what
    pretraining buys (:func:`run_ablation`) to the figures and to ``metrics["ablation"]``.

    ``echo`` receives the headings and the summary, ``progress`` the one line per epoch
    (by default ``echo`` as well). ``resume`` refuses a run directory trained on other
    data; ``overwrite`` lets the run replace files in ``out`` that no fastae run wrote
    (see :class:`~fastae.experiments.record.RunRecord`)."""
    progress = echo if progress is None else progress
    get_backend(cfg.device)  # an unusable device fails here, before any work
    out = prepare_run_dir(out)
    clock = Stopwatch()
    mnist = load_mnist(data_dir, dtype=np.uint8)  # the models scale the bytes as they read them
    train, val, test = split(mnist, cfg)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train, val, test
    data = data_fingerprint((train, val, test))
    data["train"]["source"] = str(mnist.source)
    outputs = (*STAGES, *(f"{s}.checkpoint" for s in STAGES), *FIGURES,
               *(("ablation_test_accuracy.png", "activation_histograms.png") if ablation else ()))
    rec = RunRecord(out, "q3", settings=asdict(cfg), data=data, outputs=outputs, overwrite=overwrite, resume=resume)
    echo(f"Q3: MNIST from {mnist.source}: {len(ytr):,} training, {len(yva):,} validation, {len(yte):,} test images")
    stages, headings = Stages(out, resume, lambda path: _load(path, cfg.device)), _headings(cfg, Xtr.shape[1])
    parents = {"layer1": (), "layer2": ("layer1",), "classifier": ("layer1", "layer2")}

    def stage(name, train_fn):
        settings = {**_stage_settings(cfg, name), "data_crc32": data["train"]["crc32"]}
        return stages.run(name, settings, train_fn, _announcer(echo, headings[name]),
                          optimizer_state=name == "classifier", parents=parents[name])

    # (a) layer 1: a denoising autoencoder on the images
    ae1, hist1 = stage("layer1", lambda start: train_autoencoder(
        "layer 1", Xtr, Xva, cfg.n_hidden1, cfg.corruption, cfg.epochs_layer1, cfg, cfg.seed, progress, start))
    # (b) layer 2 on the clean layer-1 codes
    H1tr, H1va = ae1.encode(Xtr), ae1.encode(Xva)
    ae2, hist2 = stage("layer2", lambda start: train_autoencoder(
        "layer 2", H1tr, H1va, cfg.n_hidden2, cfg.layer2_corruption, cfg.epochs_layer2, cfg,
        stage_seed(cfg.seed, 1), progress, start))
    # (c) softmax on top, everything fine-tuned
    clf, hist3 = stage("classifier", lambda start: fine_tune(ae1, ae2, train, val, test, cfg, progress, start))

    metrics = q3_report.metrics(cfg, mnist, (train, val, test), (ae1, ae2, clf), (hist1, hist2, hist3), stages.records)
    idx = sample_indices(yte, min(cfg.n_show, len(yte)))
    q3_report.figures(rec, cfg, ae1, ae2, clf, metrics, (as_floats(Xte[idx]), yte[idx]))
    if ablation:
        metrics["ablation"] = run_ablation(cfg, ae1, ae2, hist3, train, val, test, rec, echo, progress)
    metrics["wall_seconds"] = clock.total()
    q3_report.summary(echo, cfg, metrics, stages.records)
    q3_report.write(
        rec, metrics, cfg, Xtr.shape[1],
        summary=f"{len(ytr):,} training, {len(yva):,} validation, {len(yte):,} test images; "
        f"pretraining {cfg.epochs_layer1} + {cfg.epochs_layer2} epochs (SGD lr {cfg.lr:g}), "
        f"fine-tuning {cfg.epochs_classifier} epochs ({cfg.optimizer} lr {cfg.fine_tune_lr:g}"
        f"{', cosine decay' if cfg.cosine else ''}{_augmentation(cfg)}).",
    )
    echo(f"\nWrote {out}/ in {fmt(metrics['wall_seconds'], 'seconds')}")
    return metrics
