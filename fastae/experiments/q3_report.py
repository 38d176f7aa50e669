"""Q3's figures and report page: the tutorial's questions (a), (b), (c) as sections, each with
its figures (named as the tutorial names them) and numbers, the accuracy table on top."""
import functools
import math
from dataclasses import asdict

import numpy as np

from .. import plots
from ..report import esc, fmt, fmt_key, html_table, kv_table
from .common import environment, map_shape, table

#: The three stages, in training order.
STAGES = ("layer1", "layer2", "classifier")

#: The tutorial's Q3 and its three questions, as set.
TASK = "Design a denoising autoencoder to reconstruct MNIST images."
QUESTIONS = {
    "a": "Assume one hidden layer with 625 neurons, multiplicative noise, and cross-entropy cost function. "
         "Use 10% corruption level, learning factor \u03b1 = 0.1, batch size = 128, sparsity constant "
         "\u03c1 = 0.02, and penalty parameter \u03b2 = 0.4. Plot the learning curves, the weights, and the "
         "hidden layer activations for sample test images.",
    "b": "Add another hidden layer with 100 neurons and train the autoencoder as before. Plot the feature "
         "maps. Plot the learning curves, the weights, and the hidden layer activations for sample test images.",
    "c": "Add a softmax layer on top of the second hidden layer to design a classifier. Show learning curves "
         "and find the accuracy of the classifier. Plot the learning curves and the weights and find the "
         "accuracy for test patterns.",
}
ACCURACY = "Accuracy"
ABLATION = "What pretraining buys (ablation)"

#: Row labels of the metrics (``metrics.json`` keys).
LABELS = {
    "test_accuracy": "test accuracy (after the last epoch)",
    "validation_accuracy": "validation accuracy (after the last epoch)",
    "best_validation_epoch": "epoch of the best validation accuracy",
    "best_validation_accuracy": "best validation accuracy",
    "test_accuracy_at_best_validation_epoch": "test accuracy at that epoch",
    "per_class_test_accuracy": "test accuracy of each digit, 0 to 9",
    "resumed_stages": "stages loaded, not trained (--resume)",
    "rho": "KL sparsity target rho",
    "wall_seconds": "wall time of the run",
    "stage_seconds": "training time of each stage (no compiling, no evaluation)",
    "compile_seconds": "compiling each stage's training loops (a cold numba cache only)",
    "final_losses": "training loss of the last epoch",
    "mean_hidden_activation": "hidden activations on the test images",
    "layer1_pretrained": "layer 1, pretrained", "layer2_pretrained": "layer 2, pretrained",
    "layer1_finetuned": "layer 1, fine-tuned", "layer2_finetuned": "layer 2, fine-tuned",
    "mean": "mean activation", "mean_over_rho": "mean activation / rho",
    "unit_mean_median": "median unit's mean activation", "unit_mean_max": "largest unit's mean activation",
    "share_below_0.05": "share of activations < 0.05",
    "data": "data", "source": "MNIST files", "n_train": "training images", "n_val": "validation images",
    "n_test": "test images",
    "history": "per-epoch history", "loss": "training loss", "val_loss": "validation loss",
    "seconds": "seconds", "train_accuracy": "training accuracy", "accuracy_val": "validation accuracy",
    "accuracy_test": "test accuracy", "confusion_matrix": "confusion matrix",
}


def _sections(cfg, n_in):
    return {
        "a": f"(a) Layer 1: denoising autoencoder {n_in}-{cfg.n_hidden1}",
        "b": f"(b) Layer 2: autoencoder {cfg.n_hidden1}-{cfg.n_hidden2} on the layer-1 codes",
        "c": f"(c) Classifier: softmax on the {cfg.n_hidden2} codes, all layers fine-tuned",
    }


def figures(rec, cfg, ae1, ae2, clf, metrics, samples):
    """Draw and register the twelve figures of (a), (b) and (c); ``samples``: ``(images, labels)``
    of the test images shown."""
    Xs, ys = samples
    n_in, n_test = Xs.shape[1], metrics["data"]["n_test"]
    side = math.isqrt(n_in)
    img, map1, map2 = (side, n_in // side), map_shape(cfg.n_hidden1), map_shape(cfg.n_hidden2)
    sec = _sections(cfg, n_in)
    act = {k: fmt_key(v["mean"], "activation") for k, v in metrics["mean_hidden_activation"].items()}
    hist1, hist2, hist3 = (metrics["history"][s] for s in ("layer1", "layer2", "classifier"))
    names = [f"digit {d}" for d in ys]
    Xs_noisy = ae1.corrupt(Xs, stream=2**61) if ae1.corruption else Xs
    H1s = ae1.encode(Xs)
    noise2 = f"masking noise {100 * cfg.layer2_corruption:g} %" if cfg.layer2_corruption else "no noise"
    loss_name = f"cross-entropy + {cfg.beta:g} KL(rho={cfg.rho:g}), SGD lr {cfg.lr:g}"
    for key, name, hist, what in (
        ("a", "layer1", hist1, f"layer 1 ({n_in} -> {cfg.n_hidden1}, {100 * cfg.corruption:g} % masking)"),
        ("b", "layer2", hist2, f"layer 2 ({cfg.n_hidden1} -> {cfg.n_hidden2}, {noise2})"),
    ):
        curves = {"training (during each epoch)": hist["loss"]}
        if hist.get("val_loss"):
            curves["validation (after each epoch)"] = hist["val_loss"]
        rec.figure(
            f"learning_curves_{name}.png",
            plots.later.learning_curves(curves, title=f"Q3 {what}:\n{loss_name}", ylabel="loss per image"),
            f"Training hidden-layer {name[-1]}: the loss ({loss_name}) of each epoch on the training images, "
            "and on the validation images after each epoch. Look for both falling together (no "
            "overfitting) and flattening out by the last epoch.",
            section=sec[key],
        )
    _weight_tiles(
        rec, "weights_layer1.png", ae1, img, map1,
        f"Q3 layer 1: the {cfg.n_hidden1} hidden units' weights as {img[0]}x{img[1]} images",
        f"Weights learned by the hidden layer 1: each of the {cfg.n_hidden1} units' weights as a "
        f"{img[0]}x{img[1]} image, each on its own grey scale. Look for strokes and blobs (local detectors "
        "of pen strokes) rather than noise or whole digits.",
        sec["a"],
    )
    rec.figure(
        "reconstructions_layer1.png",
        plots.later.image_rows({"test image": Xs, f"corrupted ({100 * ae1.corruption:g} %)": Xs_noisy,
                                "reconstruction": ae1.reconstruct(Xs_noisy)}, img, labels=names, colorbar=True,
                               title="Q3 layer 1 (denoising autoencoder):\ntest images, masked, reconstructed from "
                               "the masked input"),
        f"Test patterns (top), the same with {100 * ae1.corruption:g} % of their pixels masked to 0 (middle: "
        "what the denoising autoencoder sees) and the output reconstructions from the masked input (bottom). "
        "Look for the masked pixels filled back in and the strokes kept sharp.",
        section=sec["a"],
    )
    _activation_maps(
        rec, "activations_layer1.png", H1s, map1, names,
        f"Q3 layer 1: activations of the {cfg.n_hidden1} hidden units for sample test "
        f"images (mean over the test set {act['layer1_pretrained']}, rho {cfg.rho:g})",
        f"Hidden layer 1 activation on test patterns: the {cfg.n_hidden1} units' activations for each sample "
        f"test image, as a {map1[0]}x{map1[1]} map. Look for few bright units per digit (the KL target is "
        f"rho = {cfg.rho:g}) and different units for different digits.",
        sec["a"],
    )
    _weight_tiles(
        rec, "weights_layer2.png", ae2, map1, map2,
        f"Q3 layer 2: the {cfg.n_hidden2} hidden units' weights on the {map1[0]}x{map1[1]} layer-1 map",
        f"Weights learned by the hidden layer 2: each of the {cfg.n_hidden2} units' weights on the "
        f"{cfg.n_hidden1} layer-1 units, drawn as a {map1[0]}x{map1[1]} map in the layout of the layer-1 "
        "activations, each on its own grey scale. Look for units that pick out a few layer-1 units (bright "
        "or dark spots) rather than weighing all of them alike.",
        sec["b"],
    )
    rec.figure(
        "reconstructions_layer2.png",
        plots.later.image_rows({"layer-1 output": H1s, "layer-2 reconstruction": ae2.reconstruct(H1s)}, map1,
                               labels=names, colorbar=True,
                               title=f"Q3 layer 2: layer-1 outputs ({map1[0]}x{map1[1]}) of test images\n"
                               "and their layer-2 reconstructions"),
        f"Output of the hidden layer 1 (top: the {cfg.n_hidden1} layer-1 activations of each sample test "
        f"image as a {map1[0]}x{map1[1]} map, black 0, white 1) and the reconstructed hidden-layer 1 output "
        "(bottom: layer 2's reconstruction from its code). Look for the bright units kept in place.",
        section=sec["b"],
    )
    H2s = ae2.encode(H1s)
    _activation_maps(
        rec, "activations_layer2_pretrained.png", H2s, map2, names,
        f"Q3 layer 2 after pretraining: activations for sample test images "
        f"(mean over the test set {act['layer2_pretrained']}, rho {cfg.rho:g})",
        f"Hidden layer 2 activation on test patterns, after pretraining: the {cfg.n_hidden2} units of each "
        f"sample test image as a {map2[0]}x{map2[1]} map. Look for codes that differ between digits; compare "
        "them with the same images after fine-tuning in (c).",
        sec["b"],
    )
    test_acc = fmt(metrics["test_accuracy"], "accuracy")
    rec.figure(
        "learning_curves_classifier.png",
        plots.later.learning_curves(
            None, title=f"Q3 classifier fine-tuning, {cfg.optimizer} lr {cfg.fine_tune_lr:g}: test accuracy {test_acc}",
            panels=[("softmax cross-entropy (training)", "loss", {"training": hist3["loss"]}),
                    ("accuracy", "accuracy (%)", {
                        "training (during each epoch)": 100 * np.asarray(hist3["train_accuracy"]),
                        "validation": 100 * np.asarray(hist3.get("accuracy_val", [])),
                        "test": 100 * np.asarray(hist3.get("accuracy_test", []))})]),
        "Training the classifier: the softmax cross-entropy on the training images (left) and the accuracy "
        "(right) on the training images during each epoch and on the validation and test images after it. "
        "Look for where the validation accuracy stops rising: training accuracy above it is overfitting.",
        section=sec["c"],
    )
    rec.figure(
        "weights_softmax.png",
        plots.later.tiles(clf.params()["V"].T, map2, grid=(2, 5), normalize="global", colorbar=True,
                          labels=[f"digit {d}" for d in range(10)],
                          title=f"Q3 softmax layer: each digit's weights on the {map2[0]}x{map2[1]} layer-2 map"),
        f"Weights learned by the output layer: each digit's {cfg.n_hidden2} weights on the layer-2 units, as "
        f"a {map2[0]}x{map2[1]} map in the layout of the layer-2 activations, all on one scale. Look for "
        "each digit leaning on its own few layer-2 units (white) and against others (black).",
        section=sec["c"],
    )
    cm = np.asarray(metrics["confusion_matrix"])
    rec.figure(
        "confusion_matrix.png",
        plots.later.heatmap(cm, title=f"Q3 classifier on {n_test:,} test images: accuracy {test_acc}",
                            xlabel="predicted digit", ylabel="true digit", xticklabels=[str(d) for d in range(10)],
                            yticklabels=[str(d) for d in range(10)], annotate=True, fmt="{:d}",
                            colorbar_label="test images"),
        "Confusion matrix: the test images by true digit (rows) and predicted digit (columns); the diagonal "
        "holds the correct ones. Look for the largest counts off the diagonal: the digits most often taken "
        "for one another.",
        section=sec["c"],
    )
    _activation_maps(
        rec, "activations_layer2_finetuned.png", clf.layers(Xs)[1], map2, names,
        f"Q3 layer 2 after fine-tuning: activations for sample test images "
        f"(mean over the test set {act['layer2_finetuned']})",
        "Hidden-layer 2 activations on test images after fine-tuning (the tutorial's last figure): the same "
        "images and units as after pretraining in (b). Look for how fine-tuning for the labels changed the "
        "codes.",
        sec["c"],
    )


def _activation_maps(rec, name, H, layout, names, title, caption, section):
    """Sample test images' activations as maps."""
    rec.figure(name, plots.later.activation_maps(H, layout, sample_labels=names, title=title), caption, section=section)


def _weight_tiles(rec, name, model, tile_shape, grid, title, caption, section):
    """An autoencoder's weights, one tile per hidden unit, each on its own grey scale."""
    fig = plots.later.tiles(model.params()["W"].T, tile_shape, grid=grid, normalize="each",
                            title=f"{title} (each tile scaled to its own range)")
    rec.figure(name, fig, caption, section=section)


def ablation_figures(rec, cfg, histories, unit_means):
    """The ablation's two figures; returns their file names."""
    before = len(rec.names)
    rec.figure(
        "ablation_test_accuracy.png",
        plots.later.learning_curves({name: 100 * np.asarray(h["accuracy_test"]) for name, h in histories.items()},
                                    title=f"Q3 ablation: test accuracy, {cfg.optimizer} lr {cfg.fine_tune_lr:g}, "
                                    f"{cfg.epochs_classifier} epochs each\n(probes: a softmax layer on frozen codes)",
                                    ylabel="test accuracy (%)"),
        "Test accuracy after each epoch of the network fine-tuned from the pretrained encoders and from "
        "random weights, and of a softmax layer alone on the frozen layer-1 and layer-2 codes of the "
        "pretrained and of random encoders. Look for the gap between the pretrained and the random codes.",
        section=ABLATION,
    )
    rec.figure(
        "activation_histograms.png",
        plots.later.histogram({f"{k} ({len(v)} units)": v for k, v in unit_means.items()}, share=True,
                              title=f"Q3 pretrained layers: each unit's mean activation\n(test images; KL target "
                              f"rho = {cfg.rho:g})", xlabel="mean activation of a hidden unit",
                              ylabel="share of the layer's units (%)",
                              vline_fmt=functools.partial(fmt, kind="level"), vlines={"target rho": cfg.rho,
                                **{f"{k} mean": float(v.mean()) for k, v in unit_means.items()}}),
        "Each hidden unit's mean activation on the test images, for both pretrained layers, as a share of "
        "the layer's units, against the KL target rho. Look for how far the layers end from their target.",
        section=ABLATION,
    )
    return rec.names[before:]


def _accuracy_rows(metrics):
    rows = [("784-625-100-10, pretrained and fine-tuned (this run)", metrics["test_accuracy"],
             metrics["validation_accuracy"], metrics["best_validation_accuracy"], metrics["best_validation_epoch"],
             metrics["test_accuracy_at_best_validation_epoch"])]
    for name, r in metrics.get("ablation", {}).get("models", {}).items():
        if name != "fine-tuned from pretrained":
            curve = r["test_accuracy_curve"]
            at_best = curve[r["best_validation_epoch"] - 1] if len(curve) >= r["best_validation_epoch"] else None
            rows.append((name, r["test_accuracy"], r["validation_accuracy"], r["best_validation_accuracy"],
                         r["best_validation_epoch"], at_best))
    return [(name, *(fmt(v, "accuracy") for v in (t, v, b)), str(e), fmt(tb, "accuracy"))
            for name, t, v, b, e, tb in rows]


def _stage_numbers(metrics, stage, layer=None):
    hist = metrics["history"][stage]
    numbers = {"epochs": len(hist.get("loss", [])), "training time": fmt(metrics["stage_seconds"][stage], "seconds")}
    compiling = metrics.get("compile_seconds", {}).get(stage, 0.0)
    if compiling:
        numbers["compiling its loops (first run only)"] = fmt(compiling, "seconds")
    numbers["training loss, last epoch"] = fmt(metrics["final_losses"][stage], "loss")
    if hist.get("val_loss"):
        numbers["validation loss, last epoch"] = fmt(hist["val_loss"][-1], "loss")
    if layer:
        a = metrics["mean_hidden_activation"][layer]
        numbers["mean activation, test images"] = f"{fmt(a['mean'], 'level')} ({fmt(a['mean_over_rho'], 'ratio')} " \
                                                  f"x rho = {a['rho']:g})"
    return kv_table(numbers)


def write(rec, metrics, cfg, n_in, summary):
    """``metrics.json`` and ``report.html`` of a Q3 run."""
    sec = _sections(cfg, n_in)
    ask = {k: f'<blockquote class="question"><strong>({k})</strong> {esc(q)}</blockquote>'
           for k, q in QUESTIONS.items()}
    accuracy_note = (f'<p class="note">Validation: {metrics["data"]["n_val"]:,} of the last 5,000 training images, '
                     "never trained on; the best validation epoch is the one a run stopped early would keep. Test: "
                     f'{metrics["data"]["n_test"]:,} test images.</p>')
    per_digit = html_table(["digit", *map(str, range(10))],
                           [["test accuracy", *(fmt(v, "accuracy") for v in metrics["per_class_test_accuracy"])]])
    sections = [
        (ACCURACY, f"<p>{esc(TASK)}</p>" + html_table(
            ["model", "test accuracy", "validation accuracy", "best validation accuracy", "at epoch",
             "test accuracy at that epoch"], _accuracy_rows(metrics)) + accuracy_note),
        (sec["a"], ask["a"] + _stage_numbers(metrics, "layer1", "layer1_pretrained")),
        (sec["b"], ask["b"] + _stage_numbers(metrics, "layer2", "layer2_pretrained")),
        (sec["c"], ask["c"] + _stage_numbers(metrics, "classifier", "layer2_finetuned") + per_digit),
    ]
    best = f"{metrics['best_validation_epoch']} ({fmt(metrics['best_validation_accuracy'], 'accuracy')})"
    return rec.write(
        metrics,
        title=f"fastae Q3: MNIST, stacked denoising autoencoders {n_in}-{cfg.n_hidden1}-{cfg.n_hidden2} and a "
        "softmax classifier",
        summary=summary,
        highlights=[("test accuracy", fmt(metrics["test_accuracy"], "accuracy")),
                    ("validation accuracy", fmt(metrics["validation_accuracy"], "accuracy")),
                    ("best validation epoch", best),
                    ("wall time", fmt(metrics["wall_seconds"], "seconds"))],
        sections=sections + ([(ABLATION, "")] if "ablation" in metrics else []),
        labels=LABELS,
    )


# ------------------------------------------------------------- metrics and summary


def confusion_matrix(y_true, y_pred, n_classes=10):
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _activation_summary(H, rho):
    per_unit = H.mean(axis=0)
    return {
        "mean": float(H.mean()),
        "rho": rho,
        "mean_over_rho": float(H.mean() / rho),
        "unit_mean_median": float(np.median(per_unit)),
        "unit_mean_max": float(per_unit.max()),
        "share_below_0.05": float((H < 0.05).mean()),
    }


def metrics(cfg, mnist, data, models, histories, records):
    """The run's metrics, from its three trained stages."""
    (_, ytr), (Xva, yva), (Xte, yte) = data
    ae1, ae2, clf = models
    hist1, hist2, hist3 = histories
    pred_te = clf.predict(Xte)
    cm = confusion_matrix(yte, pred_te)
    H1te = ae1.encode(Xte)
    F1te, F2te = clf.layers(Xte)[:2]
    val_curve = np.asarray(hist3.get("accuracy_val", [np.nan]), dtype=float)
    best = int(np.nanargmax(val_curve)) if np.isfinite(val_curve).any() else 0
    test_curve = hist3.get("accuracy_test", [np.nan])
    last = {name: float(h["loss"][-1]) if h.get("loss") else float("nan") for name, h in zip(STAGES, histories)}
    return {
        "exercise": "q3",
        "config": {**asdict(cfg), "classifier_lr_used": cfg.fine_tune_lr},
        "environment": environment(),
        "data": {"source": str(mnist.source), "n_train": len(ytr), "n_val": len(yva), "n_test": len(yte)},
        "test_accuracy": float((pred_te == yte).mean()),
        "validation_accuracy": clf.accuracy(Xva, yva),
        "best_validation_epoch": best + 1,
        "best_validation_accuracy": float(val_curve[best]),
        "test_accuracy_at_best_validation_epoch": float(test_curve[best]) if len(test_curve) > best else None,
        "per_class_test_accuracy": (np.diag(cm) / np.maximum(cm.sum(axis=1), 1)).tolist(),
        "confusion_matrix": cm,
        "stage_seconds": {k: v["seconds"] for k, v in records.items()},
        "compile_seconds": {k: v["compile_seconds"] for k, v in records.items()},
        "resumed_stages": [k for k, v in records.items() if v["resumed"]],
        "final_losses": last,
        "mean_hidden_activation": {
            "layer1_pretrained": _activation_summary(H1te, cfg.rho),
            "layer2_pretrained": _activation_summary(ae2.encode(H1te), cfg.rho),
            "layer1_finetuned": _activation_summary(F1te, cfg.rho),
            "layer2_finetuned": _activation_summary(F2te, cfg.rho),
        },
        "rho": cfg.rho,
        "history": dict(zip(STAGES, histories)),
    }


def summary(echo, cfg, metrics, records):
    """The closing table and accuracies in the log."""
    act = metrics["mean_hidden_activation"]
    rows = [
        (label, str(len(metrics["history"][key].get("loss", []))),
         fmt(records[key]["seconds"], "seconds") + (" (loaded)" if records[key]["resumed"] else ""),
         fmt(metrics["final_losses"][key], "loss"), fmt(act[which]["mean"], "level"))
        for key, label, which in (("layer1", "layer 1", "layer1_pretrained"),
                                  ("layer2", "layer 2", "layer2_pretrained"),
                                  ("classifier", "classifier", "layer2_finetuned"))
    ]
    echo("\nQ3 summary (mean activation: test images, layer 1 / 2 / 2 after fine-tuning; "
         f"rho {cfg.rho:g}):")
    echo(table(("stage", "epochs", "time", "final loss", "mean activation"), rows))
    d, best = metrics["data"], metrics["best_validation_epoch"]
    echo(
        f"test accuracy {fmt(metrics['test_accuracy'], 'accuracy')} ({d['n_test']:,} images), validation accuracy "
        f"{fmt(metrics['validation_accuracy'], 'accuracy')} ({d['n_val']:,} images); best validation epoch {best} "
        f"({fmt(metrics['best_validation_accuracy'], 'accuracy')})"
    )
