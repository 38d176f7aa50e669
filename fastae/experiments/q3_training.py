"""Q3's training stages (the two pretraining autoencoders, the fine-tuned classifier) and
the ablation of what pretraining buys; :mod:`fastae.experiments.q3` runs them."""
import numpy as np

from ..autoencoder import Autoencoder
from ..checks import stage_seed
from ..classifier import StackedClassifier
from ..model import TrainingDiverged
from ..report import fmt
from ..stopping import TrainingInterrupted
from . import q3_report
from .common import RunInterrupted, epoch_line, table


def train_autoencoder(name, X, X_val, n_hidden, corruption, epochs, cfg, seed, echo, start=None):
    """Train one pretraining stage; returns the model and its history.

    ``start``: ``(model, history)`` of an interrupted run of this stage to continue.
    Ctrl-C raises TrainingInterrupted with ``history`` set to the stage's history so far.
    """
    if start is None:
        model = Autoencoder(
            X.shape[1], n_hidden, loss="cross_entropy", corruption=corruption,
            sparsity=(cfg.rho, cfg.beta), seed=seed, init="sigmoid_uniform", device=cfg.device,
        )
        history = {"loss": [], "val_loss": [], "seconds": []}
    else:
        model, history = start
    first = model.epochs_trained
    val_mask = model.corrupt(np.ones(X_val.shape, model.dtype))  # one noise draw: the curve shows learning, not noise
    val_loss = model.loss_on(X_val, mask=val_mask)  # masked and split once for the stage

    def progress(done, losses):
        seconds = losses["seconds"][-1]  # training only: no compilation, no validation loss
        history["loss"].append(float(losses[-1]))
        history["seconds"].append(seconds)
        history["val_loss"].append(val_loss())
        echo(epoch_line(name, first + done, epochs, f"loss {losses[-1]:.4f}, val loss {history['val_loss'][-1]:.4f}",
                        seconds, X.shape[0], (epochs - first - done) * sum(history["seconds"]) / len(history["seconds"])))

    try:
        if epochs > first:
            model.fit(X, epochs - first, cfg.lr, cfg.batch_size, callback=progress, chunk_epochs=1)
    except (TrainingInterrupted, TrainingDiverged) as e:
        e.history = history
        raise
    return model, history


def fine_tune(ae1, ae2, train, val, test, cfg, echo, start=None, name="classifier", augment=True):
    """Build the classifier on the two encoders and fine-tune it; returns it and its history.

    ``ae1``, ``ae2`` None: a classifier of the same shape from random weights instead.
    ``augment`` False trains without the shifts and masking noise (codes are not images).
    ``start`` and Ctrl-C as for :func:`train_autoencoder`.
    """
    if start is not None:
        model, history = start
    else:
        if ae1 is None:
            model = StackedClassifier([train[0].shape[1], cfg.n_hidden1, cfg.n_hidden2], 10,
                                      seed=stage_seed(cfg.seed, 2),
                                      device=cfg.device)
        else:
            model = StackedClassifier.from_autoencoders([ae1, ae2], 10, seed=stage_seed(cfg.seed, 2), device=cfg.device)
        history = {"loss": [], "train_accuracy": [], "seconds": [], "accuracy_val": [], "accuracy_test": []}
    return _fit_classifier(model, history, train, val, test, cfg, echo, name, augment)


def _fit_classifier(model, history, train, val, test, cfg, echo, name, augment):
    n, epochs = train[0].shape[0], cfg.epochs_classifier

    def progress(done, h):
        epoch, r = model.epochs_trained, {k: v[-1] for k, v in h.items()}
        for k, v in r.items():
            history[k].append(v)
        echo(epoch_line(
            name, epoch, epochs, f"loss {r['loss']:.4f}, accuracy train {100 * r['train_accuracy']:.2f} %, "
            f"val {100 * r['accuracy_val']:.2f} %, test {100 * r['accuracy_test']:.2f} %", r["seconds"], n,
            (epochs - epoch) * sum(history["seconds"]) / len(history["seconds"])))

    try:
        if epochs > model.epochs_trained:
            model.fit(
                *train, epochs - model.epochs_trained, cfg.fine_tune_lr, cfg.batch_size, optimizer=cfg.optimizer,
                corruption=cfg.finetune_corruption if augment else 0.0, shift=cfg.shift if augment else 0,
                cosine_epochs=epochs if cfg.cosine else None, eval_sets={"val": val, "test": test},
                callback=progress,
            )
    except (TrainingInterrupted, TrainingDiverged) as e:
        e.history = history
        raise
    return model, history


# --------------------------------------------------------------------- ablation

#: The models the ablation compares, in the order of its table and figure.
ABLATION_MODELS = (
    "fine-tuned from pretrained", "fine-tuned from random",
    "probe: pretrained layer 1", "probe: pretrained layer 2", "probe: random layer 1", "probe: random layer 2",
)


def linear_probe(train, val, test, cfg, echo, name):
    """A softmax layer alone on frozen codes, trained with the fine-tuning's optimizer, learning
    rate and epochs; returns it and its history."""
    model = StackedClassifier([train[0].shape[1]], 10, seed=stage_seed(cfg.seed, 3), device=cfg.device)
    history = {"loss": [], "train_accuracy": [], "seconds": [], "accuracy_val": [], "accuracy_test": []}
    return _fit_classifier(model, history, train, val, test, cfg, echo, name, augment=False)


def run_ablation(cfg, ae1, ae2, finetuned, train, val, test, rec, echo, progress):
    """What pretraining buys, with the fine-tuning's budget: the classifier fine-tuned from
    random weights, and linear probes on the frozen layer-1 and layer-2 codes of the
    pretrained encoders and of random ones (the random classifier's starting weights).
    Writes ``ablation_test_accuracy.png`` and ``activation_histograms.png``; returns the
    metrics (``finetuned``: the history of the main run's classifier)."""
    echo(f"\nAblation: the same {cfg.epochs_classifier} epochs of {cfg.optimizer} lr {cfg.fine_tune_lr:g} "
         "from random weights, and softmax probes on frozen codes")
    splits = {"train": train, "val": val, "test": test}
    random_start = StackedClassifier([train[0].shape[1], cfg.n_hidden1, cfg.n_hidden2], 10,
                                     seed=stage_seed(cfg.seed, 2),
                                     device=cfg.device)
    codes = {}
    for split, (X, _) in splits.items():
        H1 = ae1.encode(X)
        codes["pretrained", split] = (H1, ae2.encode(H1))
        codes["random", split] = tuple(random_start.layers(X)[:2])
    try:
        _, from_random = fine_tune(None, None, train, val, test, cfg, progress, name="random-init classifier")
        histories = {"fine-tuned from pretrained": finetuned, "fine-tuned from random": from_random}
        for source in ("pretrained", "random"):
            for layer in (1, 2):
                name = f"probe: {source} layer {layer}"
                probe_sets = [(codes[source, split][layer - 1], splits[split][1]) for split in splits]
                _, histories[name] = linear_probe(*probe_sets, cfg, progress, name)
    except TrainingInterrupted:
        raise RunInterrupted(
            "Interrupted during the ablation (the three stages are saved). Run the same command with "
            "--resume to load them and redo only the ablation."
        ) from None

    results = {}
    for name in ABLATION_MODELS:
        h = histories[name]
        best = int(np.argmax(h["accuracy_val"]))
        results[name] = {
            "test_accuracy": h["accuracy_test"][-1],
            "validation_accuracy": h["accuracy_val"][-1],
            "best_validation_epoch": best + 1,
            "best_validation_accuracy": h["accuracy_val"][best],
            "test_accuracy_curve": h["accuracy_test"],
        }
    H1, H2 = codes["pretrained", "test"]
    unit_means = {"layer 1": H1.mean(axis=0), "layer 2": H2.mean(axis=0)}
    figures = q3_report.ablation_figures(rec, cfg, {name: histories[name] for name in ABLATION_MODELS}, unit_means)
    rows = [(name, fmt(r["test_accuracy"], "accuracy"), fmt(r["validation_accuracy"], "accuracy"),
             f"{r['best_validation_epoch']} ({fmt(r['best_validation_accuracy'], 'accuracy')})")
            for name, r in results.items()]
    echo("\nAblation (test and validation accuracy after the last epoch):")
    echo(table(("model", "test", "validation", "best validation epoch"), rows))
    sparsity_rows = [(k, f"{cfg.rho:g}", *(fmt(float(f(v)), "level") for f in (np.mean, np.median, np.max)))
                     for k, v in unit_means.items()]
    echo("\nKL sparsity target against the pretrained layers' mean activations (test images):")
    echo(table(("layer", "target rho", "mean", "median unit", "largest unit"), sparsity_rows))
    return {
        "models": results,
        "sparsity": {
            "target_rho": cfg.rho,
            **{k.replace(" ", ""): {"mean_activation": float(v.mean()), "unit_means": v}
               for k, v in unit_means.items()},
        },
        "figures": figures,
    }
