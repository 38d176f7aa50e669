"""Argument checks of the plotting functions: each raises a ValueError naming the argument."""

from __future__ import annotations

import math
import numbers

import numpy as np
from matplotlib import colormaps


def title(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"title must be a non-empty str, got {value!r}")
    return value


def label(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {value!r}")
    return value


def labels(*pairs):
    """Check several ``(value, name)`` pairs with :func:`label`."""
    for value, name in pairs:
        label(value, name)


def shape2(shape, name: str) -> tuple[int, int]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{name} must be a pair of positive ints, got {shape!r}") from None
    if len(dims) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in dims
    ):
        raise ValueError(f"{name} must be a pair of positive ints, got {shape!r}")
    return int(dims[0]), int(dims[1])


def float_array(x, name: str, *, allow_nan: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like ({exc})") from None
    bad = ~np.isfinite(arr)
    if allow_nan:
        bad &= ~np.isnan(arr)
    if bad.any():
        what = "infinite" if allow_nan else "non-finite (NaN/inf)"
        raise ValueError(f"{name} contains {what} values")
    return arr


def finite_number(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{' or None' if allow_none else ''}, got {value!r}")
    return float(value)


def vrange(vmin, vmax, vmin_name: str = "vmin", vmax_name: str = "vmax"):
    finite_number(vmin, vmin_name, allow_none=True)
    finite_number(vmax, vmax_name, allow_none=True)
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise ValueError(f"{vmin_name} ({vmin}) must be smaller than {vmax_name} ({vmax})")


def cmap(value, name: str = "cmap"):
    if isinstance(value, str):
        if value not in colormaps:
            raise ValueError(f"{name} {value!r} is not a known matplotlib colormap")
    elif value is None or not callable(value):
        raise ValueError(f"{name} must be a colormap name or Colormap, got {value!r}")
    return value


def sequence(values, n: int, name: str, what: str, convert=str, kind: str = "str") -> list:
    """``n`` values, one per ``what``, each passed through ``convert``."""
    if isinstance(values, str):
        raise ValueError(f"{name} must be a sequence of {kind}, not a single str")
    try:
        out = [convert(v) for v in values]
    except TypeError:
        raise ValueError(f"{name} must be a sequence of {kind}, got {values!r}") from None
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} entries but there are {n} {what}")
    return out


def str_list(values, n: int, name: str, what: str) -> list[str]:
    return sequence(values, n, name, what)


def positive_int(v, name: str, *, allow_zero: bool = False) -> int:
    lo = 0 if allow_zero else 1
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} int, got {v!r}")
    return int(v)


def choice(value, name: str, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def panel_list(panels, name: str, what: str):
    """A non-empty list or tuple (the panels of a figure)."""
    if isinstance(panels, (str, dict)) or not hasattr(panels, "__len__") or len(panels) == 0:
        raise ValueError(f"{name} must be a non-empty list of {what}")
    return panels


def panel(item, i: int, name: str, what: str, sizes) -> tuple:
    if not isinstance(item, (tuple, list)) or len(item) not in sizes:
        raise ValueError(f"{name}[{i}] must be {what}, got {item!r}")
    return tuple(item)


def curves(value, name: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``label -> y`` or ``label -> (x, y)`` as ``[(label, x, y)]`` (x defaults to 1..n)."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{name} must be a non-empty dict label -> sequence or (x, y)")
    out = []
    for key, item in value.items():
        where = f"{name}[{key!r}]"
        if isinstance(item, tuple) and len(item) == 2 and all(np.ndim(v) == 1 for v in item):
            x = float_array(item[0], f"{where} x")
            y = float_array(item[1], f"{where} y", allow_nan=True)
            if x.shape != y.shape:
                raise ValueError(f"{where}: x has {x.size} values but y has {y.size}")
        else:
            y = float_array(item, where, allow_nan=True)
            if y.ndim != 1:
                raise ValueError(f"{where} must be 1-D or an (x, y) tuple, got shape {y.shape}")
            x = np.arange(1, y.size + 1, dtype=float)
        if y.size == 0:
            raise ValueError(f"{where} is empty")
        out.append((str(key), x, y))
    return out
