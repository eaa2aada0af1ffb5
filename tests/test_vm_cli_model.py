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


def test_token_id_model_out_of_range_is_reported_not_crashed(tmp_path) -> None:
    """infer refuses an out-of-range id with the runtime's reason; vm run reports the halted run's error."""
    import json

    import numpy as np
    from click.testing import CliRunner
    from test_converter_transformers import embedding_model

    from converter import convert
    from optimist.cli import main as cli

    mdnn = tmp_path / "emb.mdnn"
    convert(embedding_model(), mdnn)
    ok, bad = tmp_path / "ok.npy", tmp_path / "bad.npy"
    np.save(ok, np.array([[1, 2, 3, 4, 5]], dtype=np.int64))
    np.save(bad, np.array([[1, 2, 99, 4, 5]], dtype=np.int64))
    runner = CliRunner()
    good = runner.invoke(cli, ["vm", "run", str(mdnn), "--input", str(ok), "--json"])
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)["exit_code"] == 0
    r = runner.invoke(cli, ["infer", str(mdnn), "--input", str(bad)])
    assert r.exit_code == 1 and "INDEX" in r.output and "Traceback" not in r.output, r.output
    r = runner.invoke(cli, ["vm", "run", str(mdnn), "--input", str(bad), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["exit_code"] == 15 and "INDEX" in report["error"] and "output" not in report
