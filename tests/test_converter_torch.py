"""PyTorch path (optional `torch` extra): from_torch and `optimist convert module.pt --example-shape`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converter import ConversionError, from_torch
from converter.reference import run_reference
from optimist.cli import main as cli

torch = pytest.importorskip("torch", reason="the optional torch extra is not installed")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(4 * 4 * 4, 3), torch.nn.Softmax(dim=1),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net.eval()


def test_from_torch_matches_torch() -> None:
    net = small_net()
    x = torch.randn(1, 1, 8, 8)
    result = from_torch(net, x)
    assert [n.op for n in result.graph.nodes] == ["Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Softmax"]
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(run_reference(result.graph, x.numpy()), want, rtol=1e-4, atol=1e-6)


def test_cli_converts_pickled_and_torchscript_modules(tmp_path: Path) -> None:
    net = small_net()
    torch.save(net, tmp_path / "net.pt")
    torch.jit.save(torch.jit.trace(net, torch.zeros(1, 1, 8, 8)), tmp_path / "net_ts.pt")
    runner = CliRunner()
    for name in ("net.pt", "net_ts.pt"):
        out = tmp_path / f"{name}.mdnn"
        result = runner.invoke(cli, ["convert", str(tmp_path / name), "-o", str(out), "--example-shape", "1x1x8x8"])
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:4] == b"MDNN"
    result = runner.invoke(cli, ["convert", str(tmp_path / "net.pt")])
    assert result.exit_code == 1 and "--example-shape" in result.output


def test_state_dict_is_rejected(tmp_path: Path) -> None:
    torch.save(small_net().state_dict(), tmp_path / "weights.pt")
    from converter.torch_export import load_torch_module

    with pytest.raises(ConversionError, match="not a module"):
        load_torch_module(tmp_path / "weights.pt")
