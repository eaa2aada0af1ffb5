"""Train the example models on the digits set (28x28) and export them to ONNX.

    .venv/bin/python examples/train_digits.py            # regenerate examples/models/*.onnx
    .venv/bin/python examples/train_digits.py --no-torch # only the numpy MLP

The MLP 784-128-10 is trained in numpy and written with onnx.helper. The LeNet-5-style CNN and
the DCGAN-style generator need the optional torch extra (`pip install -e '.[torch]'`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converter.datasets import DigitsSplit, load_digits_28

MODELS_DIR = Path(__file__).resolve().parent / "models"
MLP_OPSET = 13
TORCH_OPSET = 17
LATENT = 16


# --- MLP 784-128-10 in numpy -------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def train_mlp(split: DigitsSplit, epochs: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Train 784-128-10 (ReLU, softmax cross-entropy) with Adam on minibatches of 32."""
    rng = np.random.default_rng(seed)
    x = split.train_x.reshape(len(split.train_x), -1).astype(np.float64)
    y = np.eye(10)[split.train_y]
    params = {
        "w1": rng.normal(0, np.sqrt(2 / 784), (128, 784)), "b1": np.zeros(128),
        "w2": rng.normal(0, np.sqrt(2 / 128), (10, 128)), "b2": np.zeros(10),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    lr, beta1, beta2, step = 1e-3, 0.9, 0.999, 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 32):
            batch = order[start:start + 32]
            grads = _mlp_grads(params, x[batch], y[batch])
            step += 1
            for k, g in grads.items():
                m, v = moments[k]
                m[:] = beta1 * m + (1 - beta1) * g
                v[:] = beta2 * v + (1 - beta2) * g * g
                m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
                params[k] -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return {k: v.astype(np.float32) for k, v in params.items()}


def _mlp_grads(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    h_pre = x @ p["w1"].T + p["b1"]
    h = np.maximum(h_pre, 0)
    dz = (_softmax(h @ p["w2"].T + p["b2"]) - y) / len(x)
    dh = (dz @ p["w2"]) * (h_pre > 0)
    return {"w2": dz.T @ h, "b2": dz.sum(0), "w1": dh.T @ x, "b1": dh.sum(0)}


def mlp_predict(p: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """Logits of the numpy MLP for (n, 1, 28, 28) images."""
    x = images.reshape(len(images), -1)
    return np.maximum(x @ p["w1"].T + p["b1"], 0) @ p["w2"].T + p["b2"]


def mlp_onnx(p: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Flatten -> Gemm(transB) -> Relu -> Gemm(transB), input 1x1x28x28, output 1x10 logits."""
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
        helper.make_node("Gemm", ["relu1", "fc2.weight", "fc2.bias"], ["logits"], name="fc2", transB=1),
    ]
    inits = [
        numpy_helper.from_array(p["w1"], "fc1.weight"), numpy_helper.from_array(p["b1"], "fc1.bias"),
        numpy_helper.from_array(p["w2"], "fc2.weight"), numpy_helper.from_array(p["b2"], "fc2.bias"),
    ]
    graph = helper.make_graph(
        nodes, "mlp_784_128_10",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", MLP_OPSET)],
                              producer_name="optimist-examples")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


# --- torch models (optional extra) -------------------------------------------------------------


def _torch_models():  # torch types only exist with the extra installed
    import torch
    from torch import nn

    class LeNet5(nn.Module):
        """LeNet-5 for 28x28: conv5(pad 2)-BN-ReLU-pool, conv5-BN-ReLU-pool, 400-120-84-10."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            )
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Dropout(0.1),
                nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.features(x))

    class Generator(nn.Module):
        """DCGAN generator: z (1x16x1x1) -> 4x4 -> 8x8 -> 16x16 image in [-1, 1]."""

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.ConvTranspose2d(LATENT, 64, 4, 1, 0, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh(),
            )

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.net(z)

    class Discriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
                nn.Conv2d(64, 1, 4, 1, 0), nn.Flatten(),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    return LeNet5, Generator, Discriminator


def train_lenet(split: DigitsSplit, epochs: int = 12, seed: int = 0):
    """Train the LeNet-5-style CNN with Adam; returns the module in eval mode."""
    import torch

    torch.manual_seed(seed)
    lenet_cls, _, _ = _torch_models()
    model = lenet_cls()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(split.train_x), torch.from_numpy(split.train_y)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x)).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    return model.eval()


def train_generator(split: DigitsSplit, steps: int = 600, seed: int = 0):
    """A short DCGAN run on the digits at 16x16; returns the generator in eval mode."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    _, gen_cls, disc_cls = _torch_models()
    gen, disc = gen_cls(), disc_cls()
    real = F.interpolate(torch.from_numpy(split.train_x), size=16, mode="bilinear") * 2 - 1
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    for _ in range(steps):
        batch = real[torch.randint(len(real), (64,))]
        fake = gen(torch.randn(64, LATENT, 1, 1))
        opt_d.zero_grad()
        d_loss = bce(disc(batch), torch.ones(64, 1)) + bce(disc(fake.detach()), torch.zeros(64, 1))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(disc(fake), torch.ones(64, 1)).backward()
        opt_g.step()
    return gen.eval()


def torch_to_onnx(module, example, path: Path, input_name: str, output_name: str) -> None:
    """Export with the converter's torch path (fixed batch 1, opset TORCH_OPSET)."""
    from converter.torch_export import export_onnx

    path.write_bytes(export_onnx(module, example, opset=TORCH_OPSET, input_names=[input_name],
                                 output_names=[output_name]).SerializeToString())


def torch_accuracy(model, split: DigitsSplit) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(split.test_x)).argmax(1).numpy()
    return float((pred == split.test_y).mean())


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=MODELS_DIR, show_default=True, help="Where the .onnx files go.")
@click.option("--torch/--no-torch", "use_torch", default=True, show_default=True,
              help="Also train/export the CNN and the generator (needs the torch extra).")
def main(out_dir: Path, use_torch: bool) -> None:
    """Train the digits models, export ONNX, print test accuracy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    split = load_digits_28()
    weights = train_mlp(split)
    acc = float((mlp_predict(weights, split.test_x).argmax(1) == split.test_y).mean())
    onnx.save(mlp_onnx(weights), out_dir / "mlp_digits.onnx")
    click.echo(f"mlp_digits.onnx   MLP 784-128-10   test accuracy {acc:.4f} ({len(split.test_y)} images)")
    if not use_torch:
        return
    import torch

    lenet = train_lenet(split)
    torch_to_onnx(lenet, torch.zeros(1, 1, 28, 28), out_dir / "lenet_digits.onnx", "input", "logits")
    click.echo(f"lenet_digits.onnx LeNet-5 CNN      test accuracy {torch_accuracy(lenet, split):.4f}")
    gen = train_generator(split)
    torch_to_onnx(gen, torch.zeros(1, LATENT, 1, 1), out_dir / "dcgan_generator.onnx", "z", "image")
    click.echo("dcgan_generator.onnx DCGAN generator z(1x16x1x1) -> image(1x1x16x16)")


if __name__ == "__main__":
    main()
