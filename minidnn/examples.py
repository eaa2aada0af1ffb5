"""Small example models built with ModelBuilder + numpy weights (tests, benchmarks, demos).

Weights come from a seeded generator (He-style scaling) unless stated; `digits_mlp` is trained
on scikit-learn's bundled 8x8 digits (no download).
"""

from __future__ import annotations

import warnings

import numpy as np

from minidnn.format import ModelBuilder


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def mlp(sizes: tuple[int, ...] = (784, 128, 10), seed: int = 0, relu: bool = True) -> bytes:
    """Dense layers (Gemm, transB=1) with ReLU between them; input (1, sizes[0])."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder().add_input("x", (1, sizes[0]))
    cur = "x"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        b.add_initializer(f"w{i}", _he(rng, (n_out, n_in), n_in))
        b.add_initializer(f"b{i}", (rng.standard_normal(n_out) * 0.1).astype(np.float32))
        b.add_node("Gemm", [cur, f"w{i}", f"b{i}"], [f"fc{i}"], trans_b=1)
        cur = f"fc{i}"
        if relu and i < len(sizes) - 2:
            b.add_node("Relu", [cur], [f"relu{i}"])
            cur = f"relu{i}"
    return b.set_output(cur).to_bytes()


def digits_mlp(hidden: int = 32, seed: int = 0) -> tuple[bytes, float]:
    """An MLP 64-hidden-10 trained on sklearn's 8x8 digits; (model, test accuracy in float64)."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    clf = MLPClassifier((hidden,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: fine for an example model
        clf.fit(x[:1500], y[:1500])
    acc = float(clf.score(x[1500:], y[1500:]))
    b = ModelBuilder().add_input("x", (1, 64))
    b.add_initializer("w0", clf.coefs_[0].T).add_initializer("b0", clf.intercepts_[0])
    b.add_initializer("w1", clf.coefs_[1].T).add_initializer("b1", clf.intercepts_[1])
    b.add_node("Gemm", ["x", "w0", "b0"], ["fc0"], trans_b=1).add_node("Relu", ["fc0"], ["h"])
    b.add_node("Gemm", ["h", "w1", "b1"], ["fc1"], trans_b=1)
    b.add_node("Softmax", ["fc1"], ["probs"])
    return b.set_output("probs").to_bytes(), acc


def digits_cnn(seed: int = 0) -> bytes:
    """A small CNN on (1, 1, 8, 8): Conv3x3(4)+ReLU, MaxPool2, Conv3x3(8)+ReLU, GAP, Flatten, Gemm 10."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder().add_input("x", (1, 1, 8, 8))
    b.add_initializer("c1w", _he(rng, (4, 1, 3, 3), 9)).add_initializer("c1b", rng.standard_normal(4) * 0.1)
    b.add_initializer("c2w", _he(rng, (8, 4, 3, 3), 36)).add_initializer("c2b", rng.standard_normal(8) * 0.1)
    b.add_initializer("fw", _he(rng, (10, 8), 8)).add_initializer("fb", rng.standard_normal(10) * 0.1)
    b.add_node("Conv", ["x", "c1w", "c1b"], ["c1"], pads=[1, 1, 1, 1])
    b.add_node("Relu", ["c1"], ["r1"]).add_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2])
    b.add_node("Conv", ["p1", "c2w", "c2b"], ["c2"], pads=[1, 1, 1, 1])
    b.add_node("Relu", ["c2"], ["r2"]).add_node("GlobalAveragePool", ["r2"], ["g"])
    b.add_node("Flatten", ["g"], ["f"]).add_node("Gemm", ["f", "fw", "fb"], ["y"], trans_b=1)
    return b.set_output("y").to_bytes()


def lenet5(seed: int = 0) -> bytes:
    """LeNet-5-sized CNN on (1, 1, 28, 28): Conv5x5(6,pad2)+ReLU, AvgPool2, Conv5x5(16)+ReLU,
    AvgPool2, Flatten, Gemm 120 + ReLU, Gemm 84 + ReLU, Gemm 10."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder().add_input("x", (1, 1, 28, 28))
    b.add_initializer("c1w", _he(rng, (6, 1, 5, 5), 25)).add_initializer("c1b", np.zeros(6))
    b.add_initializer("c2w", _he(rng, (16, 6, 5, 5), 150)).add_initializer("c2b", np.zeros(16))
    b.add_node("Conv", ["x", "c1w", "c1b"], ["c1"], pads=[2, 2, 2, 2]).add_node("Relu", ["c1"], ["r1"])
    b.add_node("AveragePool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2])
    b.add_node("Conv", ["p1", "c2w", "c2b"], ["c2"]).add_node("Relu", ["c2"], ["r2"])
    b.add_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2])
    b.add_node("Flatten", ["p2"], ["f"])
    cur = "f"
    for i, (n_in, n_out) in enumerate([(400, 120), (120, 84), (84, 10)]):
        b.add_initializer(f"w{i}", _he(rng, (n_out, n_in), n_in)).add_initializer(f"b{i}", np.zeros(n_out))
        b.add_node("Gemm", [cur, f"w{i}", f"b{i}"], [f"fc{i}"], trans_b=1)
        cur = f"fc{i}"
        if i < 2:
            b.add_node("Relu", [cur], [f"fr{i}"])
            cur = f"fr{i}"
    return b.set_output(cur).to_bytes()


def generator(latent: int = 8, seed: int = 0) -> bytes:
    """A tiny DCGAN-style generator: z (1, latent) -> Gemm -> Reshape (1,16,2,2) -> BatchNorm+ReLU
    -> ConvTranspose(8, k4 s2 p1) -> BatchNorm+ReLU -> ConvTranspose(1, k4 s2 p1) -> Tanh: (1,1,8,8)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder().add_input("z", (1, latent))
    b.add_initializer("w0", _he(rng, (64, latent), latent)).add_initializer("b0", np.zeros(64))
    b.add_node("Gemm", ["z", "w0", "b0"], ["fc"], trans_b=1)
    b.add_node("Reshape", ["fc"], ["r"], shapes=[(1, 16, 2, 2)])
    cur, ch = "r", 16
    for i, out_ch in enumerate([8, 1]):
        b.add_initializer(f"bn{i}_s", 1 + 0.1 * rng.standard_normal(ch))
        b.add_initializer(f"bn{i}_b", 0.1 * rng.standard_normal(ch))
        b.add_initializer(f"bn{i}_m", 0.1 * rng.standard_normal(ch))
        b.add_initializer(f"bn{i}_v", 1 + 0.1 * rng.random(ch))
        b.add_node("BatchNormalization", [cur, f"bn{i}_s", f"bn{i}_b", f"bn{i}_m", f"bn{i}_v"],
                   [f"bn{i}"], epsilon=1e-5)
        b.add_node("Relu", [f"bn{i}"], [f"a{i}"])
        b.add_initializer(f"ct{i}_w", _he(rng, (ch, out_ch, 4, 4), ch * 4))
        b.add_initializer(f"ct{i}_b", 0.1 * rng.standard_normal(out_ch))
        b.add_node("ConvTranspose", [f"a{i}", f"ct{i}_w", f"ct{i}_b"], [f"ct{i}"],
                   strides=[2, 2], pads=[1, 1, 1, 1])
        cur, ch = f"ct{i}", out_ch
    b.add_node("Tanh", [cur], ["img"])
    return b.set_output("img").to_bytes()


def sample_input(blob_or_shape: bytes | tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A seeded standard-normal float32 input for a model (or a shape)."""
    if isinstance(blob_or_shape, bytes):
        from minidnn.format import read_model

        shape = read_model(blob_or_shape).input_shape
    else:
        shape = blob_or_shape
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
