"""examples/gpt2_small.py: the GPT-2 small architecture exported by torch.onnx.export converts and
matches onnxruntime; the 124M model (built on demand under build/models/, ~650 MB) runs one token
natively and in the VM bit for bit (slow: ~1.5 min to build once, then ~5-10 min per run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "gpt2_small.py"


@pytest.fixture(scope="module")
def gpt2() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpt2_small_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # its dataclass needs the module registered
    spec.loader.exec_module(module)
    return module


def _verify_and_run(gpt2: ModuleType, cfg, cache: Path | None = None, *, vm: bool) -> None:
    import onnx

    import minidnn
    from converter.verify import verify
    from minidnn.image import run_vm

    onnx_path, mdnn_path = gpt2.build(cfg, log=lambda _: None, **({"cache": cache} if cache else {}))
    blob = mdnn_path.read_bytes()
    xs = np.random.default_rng(1).integers(0, cfg.vocab, (1, 1, cfg.tokens))
    report = verify(onnx.load(str(onnx_path)), blob, "ids", xs)
    assert report.ok and report.max_rel < 1e-4 and report.argmax_agree == 1.0
    model = minidnn.Model.load(blob)
    assert model.input_shape == (1, cfg.tokens) and model.output_shape == (1, cfg.tokens, cfg.vocab)
    native = model.run(xs[0])
    if vm:
        result = run_vm(model, xs[0])
        assert result.output.tobytes() == native.tobytes()


def test_small_configuration_converts_matches_onnxruntime_and_the_vm(gpt2: ModuleType, tmp_path: Path) -> None:
    cfg = gpt2.Config(vocab=97, layers=2, d=32, heads=4, context=8, tokens=3, seed=5)
    _verify_and_run(gpt2, cfg, tmp_path, vm=True)
    onnx_path, mdnn_path = gpt2.build(cfg, log=lambda _: None, cache=tmp_path)
    stamps = onnx_path.stat().st_mtime_ns, mdnn_path.stat().st_mtime_ns
    assert gpt2.build(cfg, log=print, cache=tmp_path) == (onnx_path, mdnn_path)    # reused, not rebuilt
    assert (onnx_path.stat().st_mtime_ns, mdnn_path.stat().st_mtime_ns) == stamps


def test_parameter_count_is_gpt2_small_shaped(gpt2: ModuleType) -> None:
    cfg = gpt2.Config(vocab=101, layers=3, d=48, heads=6, context=16)
    model = gpt2.build_torch_model(cfg)
    d = cfg.d
    expected = cfg.vocab * d + cfg.context * d + cfg.layers * (12 * d * d + 13 * d) + 2 * d   # head tied
    assert sum(p.numel() for p in model.parameters()) == expected
    # GPT-2 small with a 64-position table: 123,702,528 parameters (124,439,808 with 1024 positions)
    assert 50257 * 768 + 64 * 768 + 12 * (12 * 768 * 768 + 13 * 768) + 2 * 768 == 123_702_528


@pytest.mark.slow
def test_gpt2_small_124m_one_token_native_equals_vm(gpt2: ModuleType) -> None:
    cfg = gpt2.Config()
    assert (cfg.vocab, cfg.layers, cfg.d, cfg.heads, cfg.tokens) == (50257, 12, 768, 12, 1)
    _verify_and_run(gpt2, cfg, vm=True)
