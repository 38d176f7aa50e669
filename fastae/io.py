"""Saving and loading: models as ``.npz`` arrays plus a ``.json`` config, metrics as JSON.

Every file is written atomically: to a temporary file in the same directory, then
renamed over the target, so an interrupted run never leaves a half-written file.
No pickle is used anywhere: ``np.load`` runs with ``allow_pickle=False``.
"""
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call ``write(file_object)`` on a uniquely named temporary file in ``path``'s
    directory, then rename it over ``path``: a reader sees the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_json(path, data):
    """Write ``data`` (dicts, lists, numbers, strings, NumPy arrays) as indented JSON."""
    text = json.dumps(_jsonable(data), indent=2, allow_nan=True) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


def json_roundtrip(data):
    """``data`` as it reads back from JSON (tuples become lists, arrays lists, ...)."""
    return json.loads(json.dumps(_jsonable(data), allow_nan=True))


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def model_paths(path):
    """The ``(arrays, config)`` file pair of a model saved under ``path``."""
    path = Path(path)
    if path.suffix in (".npz", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".npz"), path.with_name(path.name + ".json")


def save_model(path, arrays, config):
    """Save named arrays to ``PATH.npz`` and ``config`` to ``PATH.json``; returns both paths."""
    npz, js = model_paths(path)
    atomic_write(npz, lambda f: np.savez(f, **arrays))
    save_json(js, config)
    return npz, js


def load_model(path, array_names, config_keys):
    """Read back what :func:`save_model` wrote: ``(arrays, config)``.

    A missing file, a damaged one, or one that lacks one of ``array_names`` or
    ``config_keys`` raises a ValueError that names the file.
    """
    npz, js = model_paths(path)
    for p in (npz, js):
        if not p.is_file():
            raise ValueError(f"{p}: no such model file (a saved model is a .npz and a .json pair)")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{npz}: not a readable model file ({e})") from None
    try:
        config = load_json(js)
    except (OSError, ValueError) as e:
        raise ValueError(f"{js}: not a readable model config ({e})") from None
    missing = [n for n in array_names if n not in arrays] + [k for k in config_keys if k not in config]
    if missing:
        raise ValueError(f"{npz.with_suffix('')}: the saved model lacks {', '.join(missing)}")
    return arrays, config
