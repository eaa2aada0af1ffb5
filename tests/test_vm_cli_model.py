"""`optimist vm run model.mdnn --input x.npy`: output equals native inference; bad input is a clean error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import minidnn
from minidnn.examples import mlp, sample_input
from optimist.cli import main


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("model")
    blob = mlp((16, 8, 4), seed=3)
    model = d / "m.mdnn"
    model.write_bytes(blob)
    x = d / "x.npy"
    np.save(x, sample_input(blob, seed=5))
    return model, x


def test_vm_run_model_json_matches_native(small_model: tuple[Path, Path]) -> None:
    model, x = small_model
    result = CliRunner().invoke(main, ["vm", "run", str(model), "--input", str(x), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    native = minidnn.infer(model, np.load(x)).ravel()
    assert np.asarray(report["output"], dtype=np.float32).tobytes() == native.tobytes()
    assert report["exit_code"] == 0 and report["steps"] > 1000
    assert report["state_hash"].startswith("0x") and len(report["state_hash"]) == 66


def test_vm_run_model_wrong_input_shape(small_model: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = small_model
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((1, 17), dtype=np.float32))
    result = CliRunner().invoke(main, ["vm", "run", str(model), "--input", str(bad)])
    assert result.exit_code != 0
    assert "does not match the model input" in result.output
    assert "Traceback" not in result.output


def test_vm_run_truncated_model(small_model: tuple[Path, Path], tmp_path: Path) -> None:
    model, x = small_model
    cut = tmp_path / "cut.mdnn"
    cut.write_bytes(model.read_bytes()[:100])
    result = CliRunner().invoke(main, ["vm", "run", str(cut), "--input", str(x)])
    assert result.exit_code != 0
    assert "TRUNCATED" in result.output or "minidnn error" in result.output
