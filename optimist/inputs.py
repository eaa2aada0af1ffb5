"""Input arrays given on the command line: one reader for `infer`, `vm run` and `request`.

A .npy array (numeric, not pickled) or a .json list of numbers, as the model takes it. float32: a
float64 or integer array is accepted only when float32 holds every value exactly (else the user is
told to cast it); NaN and infinities are refused (a model's answer to them is meaningless and usually
a data bug). int32 (token ids): integers only, within int32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np


def read_array(path: Path, *, param_hint: str = "--input", dtype: str = "float32") -> np.ndarray:
    """The `dtype` ("float32" or "int32") array in `path`, or a click.BadParameter saying what is wrong."""

    def bad(message: str) -> click.BadParameter:
        return click.BadParameter(f"{path}: {message}", param_hint=param_hint)

    try:
        if path.suffix == ".json":
            value = json.loads(path.read_text())
        elif path.suffix == ".npy":
            with path.open("rb") as f:
                if f.read(6) != b"\x93NUMPY":   # np.load would try it as a pickle and say so
                    raise bad("not a .npy file (write one with numpy.save)")
            raw: Any = np.load(path, allow_pickle=False)
        else:
            raise bad("give a .npy array or a .json list of numbers")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else ".npy array"
        raise bad(f"not a readable {kind} ({exc})") from None
    if path.suffix == ".json":
        try:
            raw = np.asarray(value)
        except ValueError:   # lists of different lengths
            raise bad("not a rectangular array: its lists have different lengths") from None
    if dtype == "int32":
        if raw.dtype.kind not in "iub":
            raise bad(f"holds {raw.dtype} values; the model takes integer token ids (int32)")
        if raw.size and (raw.min() < -2**31 or raw.max() >= 2**31):
            raise bad("holds integers outside int32")
        return raw.astype(np.int32)
    if raw.dtype.kind not in "fiub":
        raise bad(f"holds {raw.dtype} values; the model takes float32 numbers")
    x = raw.astype(np.float32)
    if raw.dtype != np.float32 and not np.array_equal(x.astype(raw.dtype), raw, equal_nan=True):
        raise bad(f"holds {raw.dtype} values that float32 cannot represent exactly "
                  "(fix: cast it yourself, e.g. x.astype(np.float32), if that rounding is intended)")
    if not np.isfinite(x).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise bad(f"holds NaN or infinite values (first at index {index})")
    return x
