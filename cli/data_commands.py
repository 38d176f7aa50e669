"""``fastae train``, ``fastae encode`` and ``fastae reconstruct``: the user's own data.

The commands are registered on the main group in :mod:`fastae_cli.main` (with
``cli.add_command``). As there, a bad option is one ``Error:`` line and exit code 2, a bad
file one ``Error:`` line and exit code 1; heavy imports wait inside the commands.
"""
import functools
import math
import sys
from pathlib import Path

import click

from .options import (
    FiniteFloatRange,
    device_option,
    echo_for,
    epochs_option,
    fail_cleanly,
    nonempty_path,
    out_option,
    overwrite_option,
    quiet_option,
    rate_type,
    seed_option,
    start_painter,
)

#: ``--loss`` names and the model's.
LOSS_NAMES = {"ce": "cross_entropy", "mse": "mse"}
#: Output formats of encode / reconstruct, by suffix.
OUTPUT_SUFFIXES = (".npy", ".csv")


# ------------------------------------------------------------------ option types


class LayerSizes(click.ParamType):
    """``256`` or ``256,64,...``: the hidden units of each layer."""

    name = "N[,N...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        sizes = []
        for p in parts:
            try:
                n = int(p)
            except ValueError:
                self.fail(f"{value!r}: expected layer sizes like 256 or 256,64 (positive integers, comma separated).",
                          param, ctx)
            if n < 1:
                self.fail(f"{value!r}: every layer size must be a positive integer, got {p}.", param, ctx)
            sizes.append(n)
        return tuple(sizes)


class SparsityPair(click.ParamType):
    """``RHO,BETA``: the KL sparsity target in (0, 1) and its weight >= 0 (``none``: no penalty)."""

    name = "RHO,BETA"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, tuple):
            return value
        text = str(value).strip()
        if text.lower() in ("none", "off"):
            return None
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2:
            self.fail(f"{value!r}: expected RHO,BETA, e.g. 0.05,0.5.", param, ctx)
        try:
            rho, beta = (float(p) for p in parts)
        except ValueError:
            self.fail(f"{value!r}: expected two numbers RHO,BETA, e.g. 0.05,0.5.", param, ctx)
        if not 0.0 < rho < 1.0:
            self.fail(f"{value!r}: the target activation RHO must lie strictly between 0 and 1.", param, ctx)
        if not (math.isfinite(beta) and beta >= 0.0):
            self.fail(f"{value!r}: the weight BETA must be a finite number >= 0.", param, ctx)
        return rho, beta


def _no_memory_traceback(func):
    """A request too large for the memory (huge layers, huge files) becomes one Error line."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MemoryError:
            raise click.ClickException(
                "not enough memory: use fewer hidden units, a smaller batch or a smaller data file"
            ) from None

    return wrapper


key_option = click.option("--key", default=None, metavar="NAME",
                          help="The array to read from an .npz file that holds several.")


# ------------------------------------------------------------------------ train


@click.command("train")
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@key_option
@click.option("--hidden", type=LayerSizes(), default="256", show_default=True,
              help="Hidden units; several sizes (256,64) train a stack, each layer on the codes of the one below.")
@click.option("--loss", type=click.Choice(sorted(LOSS_NAMES)), default="ce", show_default=True,
              help="Reconstruction loss: ce (cross-entropy, data in [0, 1]) or mse (squared error).")
@click.option("--corruption", type=FiniteFloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Masking noise: the share of input values zeroed in every batch (every layer).")
@click.option("--sparsity", type=SparsityPair(), default=None,
              help="KL sparsity penalty: target activation RHO and weight BETA, e.g. 0.05,0.5 (every layer).")
@epochs_option(50, help="Epochs of mini-batch SGD for each layer.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True, help="Mini-batch size.")
@click.option("--lr", type=rate_type(), default=0.1, show_default=True,
              help="Learning rate.")
@device_option
@seed_option
@out_option("runs/train")
@click.option("--resume", is_flag=True,
              help="Load the layers already trained in --out and continue an interrupted one (same settings and data).")
@overwrite_option
@quiet_option
@fail_cleanly
@_no_memory_traceback
def train(data, key, hidden, loss, corruption, sparsity, epochs, batch_size, lr, device, seed, out, resume, overwrite,
          quiet):
    """Train an autoencoder (or a stack of them) on your own data.

    DATA is a .npy or .npz array, a CSV file of numbers (commas or whitespace; an optional
    header line) or an IDX file (bytes, scaled to [0, 1]); one pattern per row. Writes
    each layer's model (layer1.npz/.json, ...), learning_curves.png, weights_layer1.png,
    ... and metrics.json into --out. Ctrl-C stops at the end of the batch in progress and
    saves a checkpoint; run the same command with --resume to continue.
    """
    start_painter()
    from fastae.experiments import train as recipe
    from fastae.userdata import load_array

    cfg = recipe.TrainConfig(hidden=hidden, loss=LOSS_NAMES[loss], corruption=corruption, sparsity=sparsity,
                             epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    X = load_array(data, key=key, mmap=True)
    echo = echo_for(quiet)
    progress = echo if sys.stdout.isatty() else (lambda message: None)
    recipe.run(cfg, X, out, echo, source=data if key is None else f"{data}[{key}]", resume=resume,
               overwrite=overwrite, progress=progress)


# ----------------------------------------------------------- encode, reconstruct


def _check_model_path(model):
    """``MODEL`` must name a run directory or a saved model; otherwise a usage error."""
    from fastae.io import model_paths

    path = Path(model)
    if path.is_dir() or any(p.is_file() for p in model_paths(path)):
        return path
    raise click.BadParameter(
        f"{model!r}: no saved model (PATH.npz + PATH.json) and no run directory of fastae train there.",
        param_hint="'MODEL'",
    )


def _check_output(out):
    suffix = Path(out).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise click.BadParameter(f"{out!r}: name a .npy or .csv file.", param_hint="'--out'")
    return Path(out)


def _write_array(path, array):
    """Write ``array`` to ``path`` (.npy or .csv) atomically: a temporary file, then a rename."""
    import numpy as np

    from fastae.io import atomic_write

    if path.suffix.lower() == ".csv":
        return atomic_write(path, lambda f: np.savetxt(f, array, delimiter=",", fmt="%.9g"))
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def _write_mapped(path, shape, dtype, fill):
    """Write a ``.npy`` of ``shape`` through a memory map, a chunk at a time: ``fill(array)``
    writes into a temporary file in ``path``'s directory, which then replaces ``path``
    (a reader sees the old file or the new one, never a part)."""
    import os
    import tempfile

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        fill(array)
        array.flush()
        del array
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return shape


def _apply(what, model, data, key, out, device, quiet):
    model = _check_model_path(model)
    out = _check_output(out)
    if out.exists() and out.resolve() == Path(data).resolve():
        raise click.BadParameter(f"{str(out)!r} is the input DATA; name another file.", param_hint="'--out'")
    from fastae.experiments import stack
    from fastae.userdata import load_array

    models = stack.load_stack(model, device=device)
    source = data if key is None else f"{data}[{key}]"
    X = stack.check_input(models, load_array(data, key=key, mmap=True), source)
    apply = stack.encode if what == "encode" else stack.reconstruct
    if out.suffix.lower() == ".npy":
        width = models[-1].n_hidden if what == "encode" else models[0].n_visible
        shape = _write_mapped(out, (X.shape[0], width), models[0].dtype, lambda array: apply(models, X, out=array))
    else:
        result = apply(models, X)
        _write_array(out, result)
        shape = result.shape
    layers = f"{len(models)} layers" if len(models) > 1 else "1 layer"
    echo_for(quiet)(f"Wrote {out}: {shape[0]} x {shape[1]} "
                 f"{'codes' if what == 'encode' else 'reconstructions'} ({layers} of {model})")


def _apply_command(what, default_out, doc):
    @click.command(what, help=doc)
    @click.argument("model", type=click.Path())
    @click.argument("data", type=click.Path(exists=True, dir_okay=False))
    @key_option
    @click.option("--out", type=click.Path(dir_okay=False), default=default_out, show_default=True,
                  callback=nonempty_path,
                  help="Output file: .npy, or .csv (comma separated text).")
    @device_option
    @quiet_option
    @fail_cleanly
    @_no_memory_traceback
    def command(model, data, key, out, device, quiet):
        _apply(what, model, data, key, out, device, quiet)

    return command


encode = _apply_command(
    "encode", "codes.npy",
    """The codes of DATA under MODEL.

    MODEL is a saved autoencoder (PATH, PATH.npz or PATH.json) or a run directory of
    fastae train (then DATA is encoded through every layer). DATA is read as by fastae
    train; the codes are written to --out, one row per pattern.
    """,
)

reconstruct = _apply_command(
    "reconstruct", "recon.npy",
    """The reconstructions of DATA by MODEL.

    MODEL is a saved autoencoder (PATH, PATH.npz or PATH.json) or a run directory of
    fastae train (then DATA is encoded through every layer and decoded back down). The
    reconstructions are written to --out, one row per pattern.
    """,
)

#: Every command of this module, for ``cli.add_command``.
COMMANDS = (train, encode, reconstruct)
