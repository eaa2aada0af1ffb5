"""A .mdnn file with two bytes flipped is refused with one line by every command that reads a model
(inspect, infer, vm run, register, the daemons), before anything else happens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from contracts.chain import free_port
from minidnn import examples
from optimist.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("integrity")
    blob = bytearray(examples.mlp((6, 5, 3)))
    (d / "good.mdnn").write_bytes(blob)
    blob[300] ^= 0x40        # a weight
    blob[len(blob) - 100] ^= 0x01
    (d / "bad.mdnn").write_bytes(blob)
    np.save(d / "x.npy", np.linspace(-1, 1, 6, dtype=np.float32).reshape(1, 6))
    return d / "good.mdnn", d / "bad.mdnn", d / "x.npy"


def commands(model: Path, x: Path) -> list[list[str]]:
    dead = f"http://127.0.0.1:{free_port()}"    # nothing listens: the model is checked before the node
    return [["inspect", str(model)], ["infer", str(model), "--input", str(x)],
            ["vm", "run", str(model), "--input", str(x)],
            ["register", str(model), "--rpc", dead],
            ["operator", "--model", str(model), "--rpc", dead, "--once"],
            ["challenger", "--model", str(model), "--rpc", dead, "--once"]]


@pytest.mark.parametrize("which", range(6))
def test_damaged_model_is_one_line_exit_1(files, which: int) -> None:
    _, bad, x = files
    args = commands(bad, x)[which]
    r = CliRunner().invoke(main, args, env={"OPTIMIST_KEY": "0x" + "11" * 32})
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert lines[0].startswith("Error: ") and str(bad) in lines[0]
    assert "checksum mismatch" in lines[0] and "re-download or reconvert it" in lines[0]
    assert lines[0].count(str(bad)) == 1


def test_the_intact_model_passes_the_same_commands(files) -> None:
    good, _, x = files
    for args in commands(good, x)[:3]:
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, commands(good, x)[3], env={"OPTIMIST_KEY": "0x" + "11" * 32})
    assert r.exit_code == 3 and "cannot reach the Ethereum node" in r.output   # got as far as the node
