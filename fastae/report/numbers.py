"""How numbers are written, one precision per quantity, in reports and terminal tables alike.

=============  ==========================================  ==================
kind           quantities                                  written as
=============  ==========================================  ==================
``accuracy``   classification accuracies                   ``98.40 %``
``share``      shares of values or units, variance shares  ``12.5 %``
``loss``       losses, squared errors                      ``0.6000``, ``171.9`` (4 significant digits)
``level``      activations, sparsity indices, |y - x|       ``0.062`` (3 decimals)
``ratio``      a value over its target (mean / rho)        ``3.10``
``seconds``    times                                       ``145.3 s``, ``0.42 s`` (under 10 s)
``count``      whole numbers                               ``12,345``
``setting``    hyper-parameters                            ``0.1``, ``5000`` (as given)
``number``     anything else                               ``0.4850`` (4 significant digits)
=============  ==========================================  ==================

:func:`kind_of` tells the kind from a metric's key; :func:`fmt` writes a value of a kind.
"""
import math

import numpy as np

#: ``(part of a key, kind)``: the first whose part is in a metric's key gives its kind (the
#: last part of a dotted key first, then the whole key: ``stage_seconds.layer1`` is seconds).
KEY_RULES = (
    ("max_abs_error", "level"),
    ("jacobian_off", "number"),
    ("jacobian", "level"),
    ("accuracy", "accuracy"),
    ("epoch", "count"),
    ("share", "share"),
    ("variance_explained", "share"),
    ("seconds", "seconds"),
    ("loss", "loss"),
    ("mse", "loss"),
    ("over_rho", "ratio"),
    ("correlation", "level"),
    ("weight", "number"),
    ("activation", "level"),
    ("sparsity", "level"),
    ("unit_mean", "level"),
    ("mean", "level"),
    ("rho", "setting"),
    ("beta", "setting"),
)

DASH = "\u2014"


def significant(value, digits=4):
    """``value`` to ``digits`` significant digits, trailing zeros kept (0.6000, 171.9, 12,345.7)."""
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return f"{value:,.1f}" if abs(value) < 1e6 else f"{value:.{digits - 1}e}"
    if abs(value) < 1e-4:
        return f"{value:.{digits - 1}e}"
    text = f"{value:#.{digits}g}".rstrip(".")
    return f"{value:,.0f}" if "e" in text else text


def _setting(value):
    return str(value) if isinstance(value, int) else f"{value:g}"


FORMATS = {
    "accuracy": lambda v: f"{100 * v:.2f} %",
    "share": lambda v: f"{100 * v:.1f} %",
    "loss": significant,
    "level": lambda v: f"{v:.3f}",
    "ratio": lambda v: f"{v:.2f}",
    "seconds": lambda v: f"{v:.2f} s" if abs(v) < 10 else f"{v:.1f} s",
    "count": lambda v: f"{round(v):,}",
    "setting": _setting,
    "number": significant,
}


def kind_of(key):
    """The kind of the quantity a metric key names (``"number"`` when no rule matches)."""
    key = str(key).lower()
    for text in (key.rsplit(".", 1)[-1], key):
        for part, kind in KEY_RULES:
            if part in text:
                return kind
    return "number"


def fmt(value, kind="number"):
    """``value`` written as its ``kind`` asks (see the table above); None is a dash, booleans
    yes / no, strings stay, integers are counts unless the kind is ``setting``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if kind not in FORMATS:
        raise ValueError(f"kind: expected one of {', '.join(FORMATS)}, got {kind!r}")
    if isinstance(value, int):
        return _setting(value) if kind == "setting" else f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return FORMATS[kind](value)
    return str(value)


def fmt_key(value, key):
    """``value`` written as the quantity ``key`` names."""
    return fmt(value, kind_of(key))
