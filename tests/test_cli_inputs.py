"""Input arrays on the command line (optimist.inputs): what is accepted, and one clear error for the rest."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest

from optimist.inputs import read_array


def save(tmp_path: Path, name: str, value: object) -> Path:
    path = tmp_path / name
    if name.endswith(".npy") and not isinstance(value, str):
        np.save(path, value, allow_pickle=True)
    else:
        path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


@pytest.mark.parametrize("name, value", [
    ("a.npy", np.arange(6, dtype=np.float32).reshape(2, 3)),
    ("b.npy", np.arange(6, dtype=np.float64).reshape(2, 3)),     # exact in float32
    ("c.npy", np.arange(6, dtype=np.int64).reshape(2, 3)),
    ("d.json", [[0, 1, 2], [3, 4, 5]]),
])
def test_accepted(tmp_path: Path, name: str, value: object) -> None:
    x = read_array(save(tmp_path, name, value))
    assert x.dtype == np.float32
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("name, value, message", [
    ("a.npy", np.array([0.1], dtype=np.float64), "cannot represent exactly"),
    ("b.npy", np.array([2**24 + 1], dtype=np.int64), "cannot represent exactly"),
    ("c.npy", np.array([1.0, np.nan], dtype=np.float32), "NaN or infinite values (first at index (1,))"),
    ("d.npy", np.array([np.inf], dtype=np.float64), "NaN or infinite"),
    ("e.npy", np.array(["x"]), "holds <U1 values"),
    ("f.npy", np.array([{}], dtype=object), "not a readable .npy array"),
    ("g.json", "{not json", "not a readable JSON"),
    ("h.json", '["a", "b"]', "holds <U1 values"),
    ("i.txt", "1 2 3", "give a .npy array or a .json list"),
    ("j.json", "[[1, 2], [3]]", "not a rectangular array: its lists have different lengths"),
    ("k.npy", "1 2 3", "not a .npy file (write one with numpy.save)"),   # was numpy's advice about pickles
])
def test_refused_with_the_reason(tmp_path: Path, name: str, value: object, message: str) -> None:
    with pytest.raises(click.BadParameter) as info:
        read_array(save(tmp_path, name, value))
    assert message in info.value.format_message()


def test_token_ids(tmp_path: Path) -> None:
    x = read_array(save(tmp_path, "ids.npy", np.array([[3, 0, 10]], dtype=np.int64)), dtype="int32")
    assert x.dtype == np.int32 and x.tolist() == [[3, 0, 10]]
    with pytest.raises(click.BadParameter, match="integer token ids"):
        read_array(save(tmp_path, "f.npy", np.array([0.5])), dtype="int32")
    with pytest.raises(click.BadParameter, match="outside int32"):
        read_array(save(tmp_path, "big.npy", np.array([2**40])), dtype="int32")
