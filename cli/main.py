"""The ``fastae`` command line: a thin click layer over :mod:`fastae.experiments`.

Heavy imports (numba, matplotlib) happen inside the commands, so ``fastae --help`` is
instant. Errors in what the user typed become one ``Error:`` line and exit code 2;
problems found while running (bad data, unwritable directories) exit with code 1.
"""
import os
import sys

import click

from .options import (
    data_dir_option,
    device_option,
    echo_for,
    epochs_option,
    fail_cleanly,
    lr_option,
    nonempty_path,
    out_option,
    overwrite_option,
    quiet_option,
    rate_type,
    seed_option,
    start_painter,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fastae")
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=None,
    help="Threads of the matrix products (BLAS), 1 to 1024 [default: one per core]. Give it before the command.",
)
def cli(threads):
    """fastae: classic autoencoders from scratch, compiled with Numba.

    Reproduce the tutorial's exercises with `fastae run q1` (and q2, q3).
    """
    if threads is not None:  # before the commands import numpy, scipy and numba
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
        os.environ["NUMBA_NUM_THREADS"] = str(threads)


@cli.group()
def run():
    """Run one of the tutorial's exercises and write its figures and metrics."""


@run.command("q1")
@epochs_option(5000, help="Gradient-descent iterations (full batch) for each of the two runs.")
@lr_option(0.1)
@seed_option
@device_option
@out_option("runs/q1")
@overwrite_option
@quiet_option
@fail_cleanly
def run_q1(epochs, lr, seed, device, out, overwrite, quiet):
    """Q1: a 9-4-9 autoencoder on five 3x3 patterns, plain and sparse (rho 0.1, beta 0.5)."""
    start_painter()
    from fastae.experiments import q1

    q1.run(q1.Q1Config(epochs=epochs, lr=lr, seed=seed, device=device), out=out, echo=echo_for(quiet),
           overwrite=overwrite)


@run.command("q2")
@epochs_option(1000, help="Epochs of mini-batch SGD for each of the three models.")
@lr_option(0.2)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Mini-batch size.")
@seed_option
@click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random images.")
@device_option
@out_option("runs/q2")
@overwrite_option
@quiet_option
@fail_cleanly
def run_q2(epochs, lr, batch_size, seed, data_seed, device, out, overwrite, quiet):
    """Q2: undercomplete (49), overcomplete (144) and sparse (144) autoencoders on 100 random 10x10 images."""
    start_painter()
    from fastae.experiments import q2

    cfg = q2.Q2Config(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, data_seed=data_seed, device=device)
    q2.run(cfg, out=out, echo=echo_for(quiet), overwrite=overwrite)


@run.command("q3")
@click.option("--recipe", type=click.Choice(["tutorial", "strong"]), default="tutorial", show_default=True,
              help="strong: 100 epochs of fine-tuning with Adam and cosine decay on images shifted by up to "
              "1 px and masked (keep 0.9); the options below override it.")
@click.option("--ablation", is_flag=True,
              help="Also fine-tune from random weights and train softmax probes on frozen pretrained and random "
              "codes, with the same budget; compare them, and the KL target with the achieved activations.")
@click.option("--quick", is_flag=True,
              help="A subset of MNIST and a few epochs: all three stages in about 4.5 s (a first run compiles for "
              "about half a minute more).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs of every stage [default: 50].")
@click.option("--epochs-layer1", type=click.IntRange(min=1), default=None, help="Epochs of layer 1 (overrides --epochs).")
@click.option("--epochs-layer2", type=click.IntRange(min=1), default=None, help="Epochs of layer 2 (overrides --epochs).")
@click.option("--epochs-classifier", type=click.IntRange(min=1), default=None,
              help="Epochs of fine-tuning (overrides --epochs).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
              help="Optimiser of the fine-tuning stage.")
@click.option("--classifier-lr", type=rate_type(), default=None,
              help="Fine-tuning learning rate [default: 0.001 for adam, 0.1 for sgd].")
@lr_option(0.1)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True, help="Mini-batch size.")
@click.option("--layer2-corruption", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Masking noise on layer 2's input.")
@click.option("--finetune-corruption", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Masking noise on the images during fine-tuning [default: 0; strong: 0.1].")
@click.option("--shift", type=click.IntRange(0, 13), default=None,
              help="Shift training images by up to this many pixels in x and y during fine-tuning "
              "[default: 0; strong: 1].")
@click.option("--cosine/--no-cosine", default=None,
              help="Cosine decay of the fine-tuning learning rate [default: off; strong: on].")
@seed_option
@data_dir_option
@click.option("--resume", is_flag=True,
              help="Load the stages already saved in --out and continue an interrupted one from its checkpoint.")
@device_option
@out_option("runs/q3")
@overwrite_option
@quiet_option
@fail_cleanly
def run_q3(recipe, ablation, quick, epochs, epochs_layer1, epochs_layer2, epochs_classifier, optimizer, classifier_lr,
           lr, batch_size, layer2_corruption, finetune_corruption, shift, cosine, seed, data_dir, resume, device, out,
           overwrite, quiet):
    """Q3: MNIST denoising autoencoder (784-625), a second layer (625-100), a softmax classifier fine-tuned.

    Per-epoch progress is shown on a terminal; the summary always (unless --quiet). Ctrl-C
    stops at the end of the batch in progress and saves a checkpoint; run the same command
    with --resume to continue.
    """
    start_painter()
    from fastae.experiments import q3

    settings = {"optimizer": optimizer, "classifier_lr": classifier_lr, "lr": lr, "batch_size": batch_size,
                "layer2_corruption": layer2_corruption, "seed": seed, "device": device}
    for name, value in (("finetune_corruption", finetune_corruption), ("shift", shift), ("cosine", cosine)):
        if value is not None:
            settings[name] = value
    for stage, value in (("layer1", epochs_layer1), ("layer2", epochs_layer2), ("classifier", epochs_classifier)):
        if value or epochs:
            settings[f"epochs_{stage}"] = value or epochs
    cfg = q3.Q3Config.recipe(recipe, quick=quick, **settings)
    echo = echo_for(quiet)
    progress = echo if sys.stdout.isatty() else (lambda message: None)
    q3.run(cfg, out=out, echo=echo, data_dir=data_dir, resume=resume, progress=progress, ablation=ablation,
           overwrite=overwrite)


@run.command("all")
@click.option("--quick", is_flag=True, help="Q3 on a subset with a few epochs (see fastae run q3 --help).")
@data_dir_option
@device_option
@click.option("--out", type=click.Path(file_okay=False, writable=True), default="runs", show_default=True,
              callback=nonempty_path,
              help="Parent of the run directories q1/, q2/ and q3/.")
@overwrite_option
@quiet_option
@fail_cleanly
def run_all(quick, data_dir, device, out, overwrite, quiet):
    """Q1, Q2 and Q3 one after the other, with their default settings."""
    from pathlib import Path

    start_painter()
    from fastae.experiments import q1, q2, q3

    echo = echo_for(quiet)
    base = Path(out)
    q1.run(q1.Q1Config(device=device), out=base / "q1", echo=echo, overwrite=overwrite)
    q2.run(q2.Q2Config(device=device), out=base / "q2", echo=echo, overwrite=overwrite)
    cfg = q3.Q3Config.quick(device=device) if quick else q3.Q3Config(device=device)
    progress = echo if sys.stdout.isatty() else (lambda message: None)
    q3.run(cfg, out=base / "q3", echo=echo, data_dir=data_dir, progress=progress, overwrite=overwrite)


from .data_commands import COMMANDS  # noqa: E402  (after the group exists)

for _command in COMMANDS:
    cli.add_command(_command)


def main():
    try:
        cli(prog_name="fastae")
    except KeyboardInterrupt:  # before a command's own handling starts, or as the process ends
        click.echo("\nInterrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    sys.exit(main())
