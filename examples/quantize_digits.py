"""Quantize the digits MLP and LeNet to int8 with onnxruntime.quantization and check them.

    .venv/bin/python examples/quantize_digits.py          # write examples/models/*_int8.onnx

Static quantization (quantize_static, QDQ format, int8 activations and weights, MinMax calibration
on every image of the digits training split, per-tensor scales). The converter folds each
DequantizeLinear -> Gemm/Conv -> QuantizeLinear into minidnn's integer kernels (docs/converter.md).
Prints, on the whole test split: accuracy of the float model and of the int8 one (onnxruntime and
minidnn), whether minidnn's outputs equal onnxruntime's bit for bit, and VM steps per MAC of both.
Exits non-zero if accuracy drops by more than one point or an output differs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converter.datasets import DigitsSplit, load_digits_28

MODELS_DIR = Path(__file__).resolve().parent / "models"
NAMES = ("mlp_digits", "lenet_digits")
MAX_ACCURACY_DROP = 0.01


def quantize(source: Path, images: np.ndarray, per_channel: bool = False) -> onnx.ModelProto:
    """quantize_static in the QDQ format, calibrated on `images` (n, 1, 28, 28) one by one."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": images[i:i + 1]} for i in range(len(images))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.onnx"
        quantize_static(str(source), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel)
        return onnx.load(str(out))


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(outputs.reshape(len(outputs), -1).argmax(1) == labels))


def evaluate(name: str, model: onnx.ModelProto, split: DigitsSplit) -> bool:
    """Print float vs int8 accuracy, exactness against onnxruntime and steps per MAC; True if fine."""
    from converter import convert
    from converter.verify import minidnn_outputs, onnxruntime_outputs
    from minidnn.image import run_vm

    float_result = convert(MODELS_DIR / f"{name}.onnx")
    int8_result = convert(model)
    images = split.test_x.reshape(-1, *int8_result.input_shape)
    float_acc = accuracy(onnxruntime_outputs(float_result.onnx_model, "input", images), split.test_y)
    ref = onnxruntime_outputs(model, "input", images)
    ours = minidnn_outputs(int8_result.mdnn, images)
    int8_acc, exact = accuracy(ours, split.test_y), bool(np.array_equal(ours.view(np.uint32), ref.view(np.uint32)))
    steps = {}
    for label, result in (("float", float_result), ("int8", int8_result)):
        vm = run_vm(result.mdnn, images[0])
        steps[label] = vm.steps / result.macs
    click.echo(f"{name}: accuracy float {float_acc:.2%}, int8 {int8_acc:.2%} (onnxruntime {accuracy(ref, split.test_y):.2%}); "
               f"minidnn == onnxruntime bit for bit on {len(images)} test images: {exact}; VM steps per MAC "
               f"float {steps['float']:.1f}, int8 {steps['int8']:.1f} ({steps['float'] / steps['int8']:.1f}x fewer)")
    return exact and float_acc - int8_acc <= MAX_ACCURACY_DROP


@click.command()
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=MODELS_DIR,
              show_default=True, help="Where to write <name>_int8.onnx.")
def main(out_dir: Path) -> None:
    """Quantize the digits models, save them and check accuracy and exactness."""
    split = load_digits_28()
    ok = True
    for name in NAMES:
        model = quantize(MODELS_DIR / f"{name}.onnx", split.train_x)
        out_dir.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out_dir / f"{name}_int8.onnx"))
        ok &= evaluate(name, model, split)
    if not ok:
        raise SystemExit("accuracy dropped by more than one point or minidnn differs from onnxruntime")


if __name__ == "__main__":
    main()
