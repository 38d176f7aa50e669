"""Use a trained stack: :func:`load_stack` reads a run directory of ``fastae train``
back (or a single saved autoencoder), refusing one that mixes two runs;
:func:`encode` and :func:`reconstruct` run data through the whole stack, a chunk at a
time for bytes and mapped files."""
from itertools import pairwise
from pathlib import Path

import numpy as np

from .. import config, io, mapped
from ..autoencoder import Autoencoder
from ..checks import check_data, chunked_range
from .record import read_run_file


def is_chunked(X):
    """True when whole-array work on ``X`` goes in chunks: bytes or a mapped file."""
    return X.dtype == np.uint8 or mapped.is_mapped(X)


def load_autoencoder(path, device):
    """The autoencoder saved at ``path``, or a ValueError that names the file."""
    try:
        return Autoencoder.load(path, device=device)
    except (TypeError, KeyError, AttributeError) as e:  # a hand-edited or foreign .json
        raise ValueError(f"{path}: not a usable saved Autoencoder ({type(e).__name__}: {e})") from None


def load_stack(path, device="cpu"):
    """The autoencoders saved at ``path``: a run directory of ``train.run`` (every layer, in
    order) or one saved model (``PATH``, ``PATH.npz`` or ``PATH.json``).

    A run directory is refused when its run did not finish (``run.json`` says so: its
    layers may come from two runs) or when a layer was trained on another model than the
    layer below it holds (each layer records the SHA-256 of the one it was trained on)."""
    path = Path(path)
    if not path.is_dir():
        return [load_autoencoder(path, device)]
    run_file = read_run_file(path)
    if run_file is not None and run_file.get("complete") is not True:
        raise ValueError(
            f"{path}: its last run did not finish (interrupted?), so its layers may come from different runs; "
            f"finish it with --resume, or train it again"
        )
    count = None
    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        try:
            count = len(io.load_json(metrics_file)["layer_sizes"]) - 1
        except (OSError, ValueError, KeyError, TypeError):
            count = None
    if count is None:  # no usable metrics.json: every consecutive layer<l> pair
        count = 0
        while io.model_paths(path / f"layer{count + 1}")[0].is_file():
            count += 1
    if count < 1:
        raise ValueError(f"{path}: not a run directory of fastae train (no layer1.npz and layer1.json)")
    models = [load_autoencoder(path / f"layer{layer}", device) for layer in range(1, count + 1)]
    for layer, (below, above) in enumerate(pairwise(models), 2):
        if above.n_visible != below.n_hidden:
            raise ValueError(
                f"{path}: layer{layer} takes {above.n_visible} inputs but layer{layer - 1} gives {below.n_hidden} codes"
            )
        settings = io.load_json(path / f"layer{layer}.json", "model config").get("settings")
        parent = settings.get("parents", {}).get(f"layer{layer - 1}") if isinstance(settings, dict) else None
        if parent is not None and parent != io.arrays_digest(below.params()):
            raise ValueError(
                f"{path}: layer{layer} was trained on another layer{layer - 1} than the one saved there (the "
                "directory mixes two runs); train it again, or use --resume"
            )
    return models


def check_input(models, X, source="data"):
    """``X`` checked against the first model: a float array of the right width (or
    bytes, scaled by 1/255; a mapped file stays mapped), in [0, 1] for a cross-entropy
    model."""
    first = models[0]
    X = check_data(X, None, name=source, dtype=first.dtype, keep_bytes=True)
    if X.shape[1] != first.n_visible:
        raise ValueError(f"{source}: has {X.shape[1]} values per row, the model takes {first.n_visible}")
    if first.loss_name == "cross_entropy" and X.dtype != np.uint8:
        with mapped.reading(X):
            lo, hi = chunked_range(X)
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{source}: values must lie in [0, 1] for this cross-entropy model (found {lo:g} .. {hi:g}); "
                "rescale them as the training data were"
            )
    return X


def _stack_codes(models, X):
    for model in models:
        X = model.encode(X)
    return X


def _stack_reconstructions(models, X):
    H = _stack_codes(models, X)
    for model in reversed(models):
        H = model.decode(H)
    return H


def _by_chunks(fn, X, width, dtype, out):
    """``fn`` of every row of ``X``, into ``out`` (None: a new array): whole for floats in
    memory, else ``EVAL_CHUNK`` rows at a time through the whole stack."""
    if out is None and not is_chunked(X):
        return fn(X)
    n = X.shape[0]
    if out is None:
        out = np.empty((n, width), dtype)
    if out.shape != (n, width):
        raise ValueError(f"out: expected shape {(n, width)}, got {out.shape}")
    with mapped.reading(X, out):
        for start in range(0, n, config.EVAL_CHUNK):
            stop = min(start + config.EVAL_CHUNK, n)
            out[start:stop] = fn(X[start:stop])
    return out


def encode(models, X, out=None):
    """The codes of the top layer: ``X`` encoded through every model in turn (into
    ``out``, e.g. a memory-mapped ``.npy``, when given)."""
    return _by_chunks(lambda rows: _stack_codes(models, rows), X, models[-1].n_hidden, models[0].dtype, out)


def reconstruct(models, X, out=None):
    """``X`` encoded through every model, then decoded back down through each (into
    ``out`` when given)."""
    return _by_chunks(lambda rows: _stack_reconstructions(models, rows), X, models[0].n_visible, models[0].dtype,
                      out)
