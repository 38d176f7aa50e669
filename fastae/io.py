"""Saving and loading: models as ``.npz`` arrays plus a ``.json`` config, metrics as JSON.

Every file is written atomically: to a uniquely named temporary file in the same
directory, then renamed over the target, so an interrupted run never leaves a
half-written file. A model's two files are one unit: the ``.json`` records a SHA-256 of
the arrays (``arrays_sha256``) and is renamed last, and :func:`load_model` refuses a
``.npz`` that does not match it, so a reader gets the old model or the new one, never
the arrays of one with the config of the other (until the new ``.json`` is in place, the
old ``.npz`` stays beside it as ``.NAME.npz.previous``, so a save killed between its two
renames leaves the old model readable). Ctrl-C (and SIGTERM) during :func:`save_model`
waits until both files are written (``stopping.signals_deferred``).

No pickle is used anywhere: ``np.load`` runs with ``allow_pickle=False``, and a
``.npz`` member's header is read and checked (dtype, shape, size against the file)
before its data.
"""
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .stopping import signals_deferred

#: The largest ``.json`` config :func:`load_json` reads (a history of a million epochs is
#: far smaller).
MAX_JSON_BYTES = 256 * 2**20
#: Deflate expands data at most about 1032-fold: a compressed member claiming more is damaged.
_MAX_DEFLATE_RATIO = 1100


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


def load_json(path, what="JSON file"):
    """The JSON object (a dict) in ``path``; a missing, damaged, oversized or too deeply
    nested file, or one that holds no object, raises a ValueError naming it."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ValueError(f"{path}: not a readable {what} (larger than {MAX_JSON_BYTES // 2**20} MiB)")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except RecursionError:
        raise ValueError(f"{path}: not a readable {what} (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable {what} ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a readable {what} (it holds a JSON {type(data).__name__}, not an object)")
    return data


def model_paths(path):
    """The ``(arrays, config)`` file pair of a model saved under ``path``."""
    path = Path(path)
    if path.suffix in (".npz", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".npz"), path.with_name(path.name + ".json")


def arrays_digest(arrays):
    """SHA-256 (hex) of named arrays: their names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        digest.update(memoryview(a).cast("B") if a.size else b"")
    return digest.hexdigest()


def previous_arrays_path(npz):
    """Where :func:`save_model` keeps the replaced ``.npz`` until the new ``.json`` is in place."""
    npz = Path(npz)
    return npz.with_name(f".{npz.name}.previous")


def save_model(path, arrays, config):
    """Save named arrays to ``PATH.npz`` and ``config`` to ``PATH.json``; returns both paths.

    The arrays go first, the config (with ``arrays_sha256``) last; Ctrl-C waits until
    both are written. The ``.npz`` being replaced stays, hard-linked as
    ``.PATH.npz.previous``, until the new ``.json`` is in place: a save cut short between
    the two renames leaves the old model readable whole (:func:`load_model` falls back to it)."""
    npz, js = model_paths(path)
    config = {**config, "arrays_sha256": arrays_digest(arrays)}
    previous = previous_arrays_path(npz)
    with signals_deferred():
        previous.unlink(missing_ok=True)
        if npz.is_file() and js.is_file():
            try:
                os.link(npz, previous)
            except OSError:  # a file system without hard links: no fallback, the check still holds
                pass
        atomic_write(npz, lambda f: np.savez(f, **arrays))
        save_json(js, config)
        previous.unlink(missing_ok=True)
    return npz, js


def _read_npz(npz, expected):
    """The arrays of ``npz``, each member's header checked before its data is read:
    a real floating dtype, and, for the names in ``expected`` (name -> shape), that shape."""
    arrays = {}
    size = npz.stat().st_size
    with zipfile.ZipFile(npz) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if not infos:
            raise ValueError("it holds no arrays")
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValueError(f"array {name} is compressed with an unsupported method")
            limit = size if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO * info.compress_size
            if info.file_size > limit + 1024:
                raise ValueError(f"array {name} claims {info.file_size} bytes, more than the file can hold")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(f, max_header_size=10000)
                if dtype.kind != "f" or dtype.fields is not None:
                    raise ValueError(f"array {name} has dtype {dtype}, expected floating-point numbers")
                if name in expected and tuple(shape) != tuple(expected[name]):
                    raise ValueError(f"array {name} has shape {tuple(shape)}, expected {tuple(expected[name])}")
                if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                    raise ValueError(f"array {name} is truncated")
            with zf.open(info) as f:
                arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
    return arrays


def load_model(path, array_names, config_keys, shapes=None):
    """Read back what :func:`save_model` wrote: ``(arrays, config)``.

    ``shapes(config)``, if given, returns the expected ``{name: shape}`` of the arrays
    from the config (raising a ValueError for a bad config); each array's header is
    checked against it before its data is read, so a config that claims huge sizes costs
    nothing. A missing file, a damaged one, one that lacks one of ``array_names`` or
    ``config_keys``, arrays that are not finite real numbers, or a ``.npz`` whose
    arrays do not match the ``.json``'s ``arrays_sha256`` (a torn save) raises a
    ValueError that names the file.
    """
    npz, js = model_paths(path)
    for p in (npz, js):
        if not p.is_file():
            raise ValueError(f"{p}: no such model file (a saved model is a .npz and a .json pair)")
    config = load_json(js, "model config")
    missing = [k for k in config_keys if k not in config]
    if missing:
        raise ValueError(f"{js}: the saved model lacks {', '.join(missing)}")
    expected = {}
    if shapes is not None:
        try:
            expected = shapes(config)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{js}: not a usable model config ({e})") from None
    arrays = _checked_arrays(npz, expected, array_names)
    digest = config.get("arrays_sha256")
    if digest is not None and digest != arrays_digest(arrays):
        previous = previous_arrays_path(npz)  # a save cut short between its two renames
        if previous.is_file():
            arrays = _checked_arrays(previous, expected, array_names)
            if arrays_digest(arrays) == digest:
                return arrays, config
        raise ValueError(
            f"{npz}: its arrays do not match {js.name} (the two files come from different saves, e.g. an "
            "interrupted one); save the model again"
        )
    return arrays, config


def _checked_arrays(npz, expected, array_names):
    """The arrays of ``npz`` (see :func:`_read_npz`), all present and finite."""
    try:
        arrays = _read_npz(npz, expected)
    except ValueError as e:
        raise ValueError(f"{npz}: not a readable model file ({e})") from None
    except Exception as e:  # noqa: BLE001  (zip and npy parsers fail in many ways on damaged bytes)
        raise ValueError(f"{npz}: not a readable model file ({type(e).__name__}: {e})") from None
    missing = [n for n in (*array_names, *expected) if n not in arrays]
    if missing:
        raise ValueError(f"{npz}: the saved model lacks the array(s) {', '.join(missing)}")
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise ValueError(f"{npz}: array {name} holds NaN or infinite values (a diverged or damaged model)")
    return arrays
